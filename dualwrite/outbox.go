package dualwrite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/shiftgate/shiftgate/internal/dbmigrate"
	"github.com/shiftgate/shiftgate/internal/rowcodec"
	"github.com/shiftgate/shiftgate/internal/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrations = func() []dbmigrate.Migration {
	list, err := dbmigrate.Load(migrationFiles, "migrations")
	if err != nil {
		panic(err) // unreachable: the files are embedded
	}
	return list
}()

// Buckets is the number of partitions of the outbox: every change of a key
// falls in the bucket of its key's hash, and one relay at a time delivers
// a bucket, in capture order.
const Buckets = 64

// Sentinel errors callers branch on.
var (
	// ErrVersion is wrapped by the *dbmigrate.VersionError of outbox
	// tables a newer or unknown version of this library wrote.
	ErrVersion = errors.New("dualwrite: outbox of an incompatible version")
	// ErrUnknownTable is wrapped by the error of a change of a table the
	// host did not declare to Open.
	ErrUnknownTable = errors.New("table not declared for dual writes")
	// ErrKey is wrapped by the error of a key that does not fit its table's
	// primary key.
	ErrKey = errors.New("bad key")
)

// Row is one row by column name. Its values are those of
// rowchange.Change: nil, int64, uint64 (unsigned integers and BIT),
// float32, float64, string (DECIMAL as its exact text, temporal types as
// SQL text with TIMESTAMP in UTC, ENUM, SET, JSON) or []byte (binary
// strings).
type Row map[string]any

// Table declares a table of the primary whose changes are dual-written.
type Table struct {
	// Name is the table in the primary database.
	Name string
	// Target is the table in the secondary database; "" for Name.
	Target string
	// Map, if not nil, turns the row as the primary holds it into the row
	// the target table takes: rename columns, compute new ones, drop
	// others. For a deletion it receives only the primary key's columns
	// and must return the target's key columns. It runs on the delivering
	// side (relay or broker consumer), so a fixed Map applies to changes
	// captured before the fix. It must be safe for concurrent use.
	Map func(Row) (Row, error)
}

// Option configures Open.
type Option func(*config) error

type config struct {
	outboxDB string
	logger   *slog.Logger
	reverse  bool
}

// WithReverse opens the outbox of the new database, which captures the
// application's writes in PhaseWriteNew for relaying back to the old one.
// Its commits are not fenced: the phase lives on the old database.
func WithReverse() Option {
	return func(c *config) error { c.reverse = true; return nil }
}

// WithOutboxDatabase keeps the outbox tables in database, on the same
// server as the host's tables (the capture writes them in the host's
// transaction); default: the host tables' database.
func WithOutboxDatabase(database string) Option {
	return func(c *config) error {
		if err := schema.ValidateName("outbox database", database); err != nil {
			return fmt.Errorf("dualwrite: WithOutboxDatabase: %w", err)
		}
		c.outboxDB = database
		return nil
	}
}

// WithLogger logs through l; default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("dualwrite: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// Outbox is the transactional outbox of one primary database: the tables
// the host declared, and the outbox tables beside them. It is safe for
// concurrent use.
type Outbox struct {
	db       *sql.DB
	database string
	cfg      config
	tables   map[string]*table
	shapes   shapes
	commits  wakeups // the relays of this Outbox waiting for a capture
}

// wakeups tells the relays waiting in this process (Relay.Run) that a
// transaction that recorded changes committed, so that they deliver it
// without waiting for their poll: relays in other processes find it at
// their next poll.
type wakeups struct {
	mu      sync.Mutex
	waiting map[chan struct{}]struct{}
}

// subscribe returns a channel that receives after each notify (a notify
// while the receiver is busy is kept, one at most), and the function that
// unsubscribes it.
func (w *wakeups) subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = map[chan struct{}]struct{}{}
	}
	w.waiting[c] = struct{}{}
	return c, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiting, c)
	}
}

// notify wakes every subscriber, without blocking.
func (w *wakeups) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.waiting {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// table is a declared table and how its rows are captured and decoded.
type table struct {
	Table
	qname    string // quoted database.table on the primary
	def      *schema.TableDef
	key      []string // primary key columns
	keyKinds []rowcodec.Kind
	rowExpr  string // JSON_OBJECT of the row aliased t
	target   string
}

// Open reads the declared tables' definitions from the primary db (each
// needs a primary key), creates or upgrades the outbox tables (refusing,
// with a *dbmigrate.VersionError wrapping ErrVersion, tables of a newer or
// unknown version) and returns the outbox of database.
func Open(ctx context.Context, db *sql.DB, database string, tables []Table, opts ...Option) (*Outbox, error) {
	if db == nil {
		return nil, errors.New("dualwrite: nil database")
	}
	if err := schema.ValidateName("database", database); err != nil {
		return nil, fmt.Errorf("dualwrite: %w", err)
	}
	cfg := config{outboxDB: database, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("dualwrite: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if len(tables) == 0 {
		return nil, errors.New("dualwrite: no table declared")
	}
	o := &Outbox{db: db, database: database, cfg: cfg, tables: map[string]*table{}}
	for _, tc := range tables {
		if _, dup := o.tables[tc.Name]; dup {
			return nil, fmt.Errorf("dualwrite: table %s declared twice", schema.QualifiedName(database, tc.Name))
		}
		t, err := loadTable(ctx, db, database, tc)
		if err != nil {
			return nil, err
		}
		o.tables[tc.Name] = t
	}
	if err := o.store().Migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("dualwrite: %w", err)
	}
	return o, nil
}

func (o *Outbox) store() *dbmigrate.Schema {
	return &dbmigrate.Schema{
		What: "dualwrite outbox", Database: o.cfg.outboxDB, Table: "dualwrite_schema_version",
		Lock: "shiftgate.dualwrite." + o.cfg.outboxDB, Migrations: migrations, Err: ErrVersion,
	}
}

// Database is the primary database of the declared tables.
func (o *Outbox) Database() string { return o.database }

func (o *Outbox) outbox(name string) string { return schema.QualifiedName(o.cfg.outboxDB, name) }

func loadTable(ctx context.Context, db *sql.DB, database string, tc Table) (*table, error) {
	if err := schema.ValidateName("table", tc.Name); err != nil {
		return nil, fmt.Errorf("dualwrite: %w", err)
	}
	qname := schema.QualifiedName(database, tc.Name)
	def, err := schema.LoadTable(ctx, db, database, tc.Name)
	if err != nil {
		return nil, fmt.Errorf("dualwrite: table %s: %w", qname, err)
	}
	pk := def.PrimaryKey()
	if pk == nil {
		return nil, fmt.Errorf("dualwrite: table %s: no primary key: %w", qname, ErrKey)
	}
	t := &table{Table: tc, qname: qname, def: def, key: pk.ColumnNames(), target: tc.Target}
	if t.target == "" {
		t.target = tc.Name
	}
	if err := schema.ValidateName("target table", t.target); err != nil {
		return nil, fmt.Errorf("dualwrite: table %s: %w", qname, err)
	}
	for _, k := range t.key {
		t.keyKinds = append(t.keyKinds, rowcodec.KindOf(def.Column(k).DataType))
	}
	var parts []string
	for _, c := range def.Columns {
		e, err := valueExpr(c, "t."+schema.QuoteIdent(c.Name))
		if err != nil {
			return nil, fmt.Errorf("dualwrite: table %s: %w", qname, err)
		}
		parts = append(parts, rowcodec.String(c.Name), e)
	}
	t.rowExpr = "JSON_OBJECT(" + strings.Join(parts, ",") + ")"
	return t, nil
}

// valueExpr is the expression that puts column c of the row ref into the
// captured JSON so that decode gets its value back exactly.
func valueExpr(c schema.Column, ref string) (string, error) {
	switch c.DataType {
	case "bit":
		return "CAST(" + ref + " AS UNSIGNED)", nil
	case "timestamp":
		// Seconds since the epoch: independent of the session time zone.
		return "UNIX_TIMESTAMP(" + ref + ")", nil
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return "", fmt.Errorf("column %s: spatial type %s not supported", schema.QuoteIdent(c.Name), c.DataType)
	}
	if rowcodec.KindOf(c.DataType) == rowcodec.Binary {
		return "TO_BASE64(" + ref + ")", nil
	}
	if c.DataType == "longtext" {
		// A JSON column (LONGTEXT in information_schema) would go in as
		// JSON, a JSON string losing its quotes: CONCAT makes it text.
		return "CONCAT(" + ref + ")", nil
	}
	return ref, nil
}

// Tables lists the declared tables' names.
func (o *Outbox) Tables() []string {
	var names []string
	for n := range o.tables {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
