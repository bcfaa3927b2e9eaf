package migrate

import (
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// prepare is what the copy executors' constructors share: it parses both
// DSNs, checks the database name, configures cfg with apply (which applies
// the constructor's options), defaults the target database to the source's
// name and refuses a copy of a database onto itself as far as the DSNs
// tell (Plan and Run also compare what the servers are). name is the
// executor's, for errors.
func prepare(name, sourceDSN, targetDSN, database string, cfg *config, apply func(*config) error) (src, dst *mysql.Config, err error) {
	if src, err = parseDSN(Source, sourceDSN); err != nil {
		return nil, nil, err
	}
	if dst, err = parseDSN(Target, targetDSN); err != nil {
		return nil, nil, err
	}
	if err := schema.ValidateName("database", database); err != nil {
		return nil, nil, fmt.Errorf("migrate: %s: %w", name, err)
	}
	if err := apply(cfg); err != nil {
		return nil, nil, fmt.Errorf("migrate: %s: %w", name, err)
	}
	if cfg.targetDatabase == "" {
		cfg.targetDatabase = database
	}
	if src.Addr == dst.Addr && src.Net == dst.Net && database == cfg.targetDatabase {
		return nil, nil, fmt.Errorf("migrate: %s: %w: database %s on source %s and target %s", name, ErrSameDatabase, schema.QuoteIdent(database), src.Addr, dst.Addr)
	}
	return src, dst, nil
}
