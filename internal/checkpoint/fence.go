package checkpoint

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shiftgate/shiftgate/internal/schema"
)

// Fence is the record of a write fence on a source server (internal/fence),
// saved before the fence changes anything so that a restart after a crash
// can undo it.
type Fence struct {
	ID     string
	Source string // the source server's identity (conn.Identity.String)
	Method string
	// Undo is the fence's own description (JSON) of what it changes and how
	// to restore it; the checkpoint keeps it as it is.
	Undo    string
	Created time.Time
	// Stopped is when writes stopped, Released when they were allowed
	// again; zero when not (yet) known.
	Stopped, Released time.Time
}

// timeLayout is how fence times pass to and from DATETIME(6) columns, in
// UTC, whatever the session's time zone and the driver's parseTime.
const timeLayout = "2006-01-02 15:04:05.000000"

func fenceTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// SaveFence records a new fence.
func (s *Store) SaveFence(ctx context.Context, db Execer, f Fence) error {
	_, err := db.ExecContext(ctx, "INSERT INTO "+s.table("fences")+" (id, source, method, undo_json, created_at, stopped_at, released_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		f.ID, f.Source, f.Method, f.Undo, fenceTime(f.Created), fenceTime(f.Stopped), fenceTime(f.Released))
	if err != nil {
		return fmt.Errorf("record fence %s: %w", f.ID, err)
	}
	return nil
}

// FenceStopped records when fence id stopped writes.
func (s *Store) FenceStopped(ctx context.Context, db Execer, id string, at time.Time) error {
	if _, err := db.ExecContext(ctx, "UPDATE "+s.table("fences")+" SET stopped_at = ? WHERE id = ?", fenceTime(at), id); err != nil {
		return fmt.Errorf("record fence %s stopped: %w", id, err)
	}
	return nil
}

// ReleaseFence records that fence id is undone: writes are allowed again
// since at. A released fence is no longer open.
func (s *Store) ReleaseFence(ctx context.Context, db Execer, id string, at time.Time) error {
	if _, err := db.ExecContext(ctx, "UPDATE "+s.table("fences")+" SET released_at = ? WHERE id = ?", fenceTime(at), id); err != nil {
		return fmt.Errorf("record fence %s released: %w", id, err)
	}
	return nil
}

// OpenFences returns the fences on source that are not released, oldest
// first.
func (s *Store) OpenFences(ctx context.Context, q schema.Querier, source string) ([]Fence, error) {
	const cols = "id, source, method, undo_json, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(stopped_at, '%Y-%m-%d %H:%i:%s.%f')"
	rows, err := q.QueryContext(ctx, "SELECT "+cols+" FROM "+s.table("fences")+" WHERE source = ? AND released_at IS NULL ORDER BY created_at, id", source)
	if err != nil {
		return nil, fmt.Errorf("read fences of %s: %w", source, err)
	}
	defer rows.Close()
	var out []Fence
	for rows.Next() {
		var f Fence
		var created string
		var stopped sql.NullString
		if err := rows.Scan(&f.ID, &f.Source, &f.Method, &f.Undo, &created, &stopped); err != nil {
			return nil, fmt.Errorf("read fences of %s: %w", source, err)
		}
		if f.Created, err = time.Parse(timeLayout, created); err != nil {
			return nil, fmt.Errorf("read fence %s: %w", f.ID, err)
		}
		if stopped.Valid {
			if f.Stopped, err = time.Parse(timeLayout, stopped.String); err != nil {
				return nil, fmt.Errorf("read fence %s: %w", f.ID, err)
			}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read fences of %s: %w", source, err)
	}
	return out, nil
}
