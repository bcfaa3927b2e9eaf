package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/dbmigrate"
	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/internal/snapshot"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 1, &servers)) }

// TestCopyState writes a run through its life and reads it back.
func TestCopyState(t *testing.T) {
	ctx := context.Background()
	s := New(sandboxtest.NewDatabase(t, servers[0], "cp"))
	db := sandboxtest.Open(t, servers[0], "")
	if r, err := s.LoadRun(ctx, db, "shop"); err != nil || r != nil {
		t.Fatalf("LoadRun before Prepare: %+v, %v", r, err)
	}
	for range 2 {
		if err := s.Prepare(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := Run{Target: "shop", Source: "src:3306", SourceDB: "shop", Tables: []string{"a=a", "b=b2"}}
	segs := []Segment{{Table: "a", Index: 0, Upper: keyset.Values{int64(10)}}, {Table: "a", Index: 1, Lower: keyset.Values{int64(10)}}, {Table: "b2"}}
	if err := s.Start(ctx, tx, run, segs); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveChunk(ctx, tx, "shop", "a", 1, keyset.Values{int64(15)}, 5, 100, false); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	pos := snapshot.Position{File: "bin.000001", Pos: 42, GTID: "0-1-7"}
	for _, p := range []snapshot.Position{pos, {File: "bin.000002", Pos: 1}} { // the first stays
		if err := s.SavePosition(ctx, db, "shop", p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LoadRun(ctx, db, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Matches("src:3306", "shop", run.Tables) || got.State != Copying || got.Position != pos || got.TotalRows() != 5 {
		t.Fatalf("LoadRun: %+v", got)
	}
	loaded, err := s.LoadSegments(ctx, db, "shop", func(table string) (keyset.Key, bool) {
		return keyset.Key{Columns: []string{"id"}}, table == "a"
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := loaded["a"]; len(loaded) != 1 || len(a) != 2 || a[1].Rows != 5 || a[1].Bytes != 100 || a[1].Chunks != 1 || a[1].Done || len(a[1].Last) != 1 {
		t.Fatalf("LoadSegments: %+v", loaded)
	}
	if err := s.Finish(ctx, db, "shop"); err != nil {
		t.Fatal(err)
	}
	if got, err = s.LoadRun(ctx, db, "shop"); err != nil || got.State != Done {
		t.Fatalf("after Finish: %+v, %v", got, err)
	}
}

// legacyDDL is the checkpoint tables as releases before versioning created
// them.
var legacyDDL = []string{
	`CREATE TABLE copy_runs (target_db VARCHAR(64) NOT NULL PRIMARY KEY, source VARCHAR(255) NOT NULL, source_db VARCHAR(64) NOT NULL,
		tables_json MEDIUMTEXT NOT NULL, state VARCHAR(16) NOT NULL, gtid TEXT NOT NULL, binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL, started_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
	`CREATE TABLE copy_segments (target_db VARCHAR(64) NOT NULL, target_table VARCHAR(64) NOT NULL, segment INT NOT NULL,
		lower_key MEDIUMTEXT NOT NULL, upper_key MEDIUMTEXT NOT NULL, last_key MEDIUMTEXT NOT NULL, rows_copied BIGINT NOT NULL DEFAULT 0,
		bytes_copied BIGINT NOT NULL DEFAULT 0, chunks BIGINT NOT NULL DEFAULT 0, done TINYINT NOT NULL DEFAULT 0,
		PRIMARY KEY (target_db, target_table, segment)) ENGINE=InnoDB`,
	`INSERT INTO copy_runs VALUES ('shop', 'src:3306', 'shop', '["a=a"]', 'copying', '', '', 0, NOW(6), NOW(6))`,
	`INSERT INTO copy_segments (target_db, target_table, segment, lower_key, upper_key, last_key, rows_copied) VALUES ('shop', 'a', 0, '', '', '', 7)`,
}

// TestPrepareAdoptsAnUnversionedCheckpoint: an interrupted copy of an
// earlier release keeps its state when the tables become versioned.
func TestPrepareAdoptsAnUnversionedCheckpoint(t *testing.T) {
	ctx := context.Background()
	name := sandboxtest.NewDatabase(t, servers[0], "cp")
	sandboxtest.Exec(t, sandboxtest.Open(t, servers[0], name), legacyDDL...)
	s := New(name)
	db := sandboxtest.Open(t, servers[0], "")
	if err := s.Check(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := s.Prepare(ctx, db); err != nil {
		t.Fatal(err)
	}
	r, err := s.LoadRun(ctx, db, "shop")
	if err != nil || r == nil || r.TotalRows() != 7 || r.State != Copying {
		t.Fatalf("LoadRun after adoption: %+v, %v", r, err)
	}
}

// TestIncompatibleCheckpointIsRefused: a checkpoint database written by a
// newer or an unknown version is refused by Check and Prepare with an
// error naming the database and the versions, and Prepare changes nothing.
func TestIncompatibleCheckpointIsRefused(t *testing.T) {
	ctx := context.Background()
	for name, tamper := range map[string]string{
		"newer":   "INSERT INTO schema_version VALUES (99, '0099_future.sql', NOW(6))",
		"unknown": "UPDATE schema_version SET name = '0002_other.sql' WHERE version = 2",
	} {
		t.Run(name, func(t *testing.T) {
			database := sandboxtest.NewDatabase(t, servers[0], "cp")
			s := New(database)
			db := sandboxtest.Open(t, servers[0], "")
			if err := s.Prepare(ctx, db); err != nil {
				t.Fatal(err)
			}
			cp := sandboxtest.Open(t, servers[0], database)
			sandboxtest.Exec(t, cp, tamper, "INSERT INTO copy_runs VALUES ('shop', 'src:3306', 'shop', '[]', 'copying', '', '', 0, NOW(6), NOW(6))")
			for _, step := range []func() error{
				func() error { return s.Check(ctx, db) },
				func() error { return s.Prepare(ctx, db) },
			} {
				err := step()
				var ve *dbmigrate.VersionError
				if !errors.As(err, &ve) || ve.Newer != (name == "newer") || !errors.Is(err, ErrVersion) || !errors.Is(err, dbmigrate.ErrIncompatible) {
					t.Fatalf("%v, want a *dbmigrate.VersionError wrapping ErrVersion", err)
				}
				want := map[string]string{"newer": fmt.Sprintf("99 (0099_future.sql) is newer than this library's %d", len(migrations)), "unknown": "2 (0002_other.sql)"}[name]
				for _, part := range []string{"`" + database + "`", "checkpoint", want} {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not say %q", err, part)
					}
				}
			}
			var n int
			if err := cp.QueryRow("SELECT COUNT(*) FROM copy_runs").Scan(&n); err != nil || n != 1 {
				t.Fatalf("the refused checkpoint changed: %d runs, %v", n, err)
			}
		})
	}
}

// TestStreamPositions saves a stream's position through its versions and
// refuses a save that does not follow the stored version.
func TestStreamPositions(t *testing.T) {
	ctx := context.Background()
	s := New(sandboxtest.NewDatabase(t, servers[0], "cp"))
	db := sandboxtest.Open(t, servers[0], "")
	if st, err := s.LoadStream(ctx, db, "sync"); err != nil || st != nil {
		t.Fatalf("LoadStream before Prepare: %+v, %v", st, err)
	}
	if err := s.Prepare(ctx, db); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	first := Stream{Source: "server 1", Position: "0-1-5,1-2-3 'q' \\", TxnID: "0-1-5", SourceTime: at, Version: 1}
	if err := s.SaveStream(ctx, db, "sync", first); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []Stream{first, {Position: "x", Version: 3}} {
		if err := s.SaveStream(ctx, db, "sync", stale); !errors.Is(err, ErrStreamMoved) || !strings.Contains(err.Error(), `"sync"`) {
			t.Fatalf("save of version %d over version 1: %v, want ErrStreamMoved naming the stream", stale.Version, err)
		}
	}
	second := Stream{Source: "server 1", Position: "0-1-9", Version: 2}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveStream(ctx, tx, "sync", second); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LoadStream(ctx, db, "sync"); err != nil || got.Position != first.Position || !got.SourceTime.Equal(at) || got.Version != 1 || got.Updated.IsZero() {
		t.Fatalf("after a rolled back save: %+v, %v", got, err)
	}
	if err := s.SaveStream(ctx, db, "sync", second); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadStream(ctx, db, "sync")
	if err != nil || got.Position != "0-1-9" || got.TxnID != "" || !got.SourceTime.IsZero() || got.Version != 2 || got.Source != "server 1" {
		t.Fatalf("LoadStream: %+v, %v", got, err)
	}
	if other, err := s.LoadStream(ctx, db, "other"); err != nil || other != nil {
		t.Fatalf("LoadStream of another stream: %+v, %v", other, err)
	}
}
