package verify

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/shiftgate/shiftgate/internal/conn"
)

// hashCheck is the CRCs' standard check input: a probe compares a server's
// CRC of it with the Go mirror's.
const hashCheck = "123456789"

// hashProbe remembers, per pool, whether its server computes CRC32C() as
// the Go mirror does (else it computes CRC32()), so that a Verifier probes
// each server once.
type hashProbe struct {
	mu     sync.Mutex
	crc32c map[*sql.DB]bool
}

// server is one server of a comparison: its pool and how messages name it.
type server struct {
	db   *sql.DB
	name string
}

// choose returns the row hash function that every one of servers
// computes: CRC32C when all have CRC32C(), else CRC32 (and says so in the
// log). An error names the server that has neither or that could not be
// asked.
func (p *hashProbe) choose(ctx context.Context, cfg *config, servers ...server) (hashFunc, error) {
	h := hashCRC32C
	for _, s := range servers {
		has, err := p.hasCRC32C(ctx, cfg, s)
		if err != nil {
			return h, err
		}
		if !has && h == hashCRC32C {
			h = hashCRC32
			cfg.logger.Info("verify: the row hash uses CRC32(): a server lacks CRC32C()", "server", s.name)
		}
	}
	return h, nil
}

// hasCRC32C reports whether s computes CRC32C(), asking the server the
// first time. A server that lacks it must compute CRC32(). A connection
// lost or the context ended is an error, not a missing function.
func (p *hashProbe) hasCRC32C(ctx context.Context, cfg *config, s server) (bool, error) {
	p.mu.Lock()
	has, ok := p.crc32c[s.db]
	p.mu.Unlock()
	if ok {
		return has, nil
	}
	fn := hashCRC32C.String()
	if cfg.lacksCRC32C[s.db] {
		fn = "NO_SUCH_CRC32C" // a function no server has: the probe fails as on MySQL
	}
	err := probeCRC(ctx, s.db, fn, hashCRC32C)
	switch {
	case err == nil:
		has = true
	case ctx.Err() != nil || conn.Lost(err):
		return false, fmt.Errorf("verify: %s: probe CRC32C(): %w", s.name, err)
	default:
		if err2 := probeCRC(ctx, s.db, hashCRC32.String(), hashCRC32); err2 != nil {
			return false, fmt.Errorf("verify: %s: the row hash needs CRC32C() or CRC32(), computed as the Go mirror does; CRC32C(): %v; CRC32(): %w", s.name, err, err2)
		}
	}
	p.mu.Lock()
	if p.crc32c == nil {
		p.crc32c = map[*sql.DB]bool{}
	}
	p.crc32c[s.db] = has
	p.mu.Unlock()
	return has, nil
}

// probeCRC checks that the server of db computes h's CRC with fn.
func probeCRC(ctx context.Context, db *sql.DB, fn string, h hashFunc) error {
	var got uint64
	if err := db.QueryRowContext(ctx, "SELECT "+fn+"('"+hashCheck+"')").Scan(&got); err != nil {
		return err
	}
	if want := uint64(h.crc([]byte(hashCheck))); got != want {
		return fmt.Errorf("%s('%s') is %d, not %d", fn, hashCheck, got, want)
	}
	return nil
}
