package dbmigrate

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

var servers []*sandbox.Server

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m, 1, &servers)) }

func files(names ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, n := range names {
		_, table, _ := strings.Cut(strings.TrimSuffix(n, ".sql"), "_")
		fsys["m/"+n] = &fstest.MapFile{Data: []byte("CREATE TABLE t" + table + " (id INT PRIMARY KEY)")}
	}
	return fsys
}

func TestLoad(t *testing.T) {
	list, err := Load(files("0002_b.sql", "0001_a.sql"), "m")
	if err != nil || len(list) != 2 || list[0].Name != "0001_a.sql" || list[1].Version != 2 {
		t.Fatalf("Load: %+v, %v", list, err)
	}
	for _, bad := range []fstest.MapFS{files("0001_a.sql", "0003_c.sql"), files("0001_a.sql", "0001_b.sql"), files("a.sql"), {}} {
		if list, err := Load(bad, "m"); err == nil {
			t.Errorf("Load of %v: %+v, want an error", bad, list)
		}
	}
}

// TestMigrate: tables are created, migrating again changes nothing, an
// older schema is upgraded, and one recorded by a newer or an unknown
// version is refused with an error naming the database and the versions.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	name := sandboxtest.NewDatabase(t, servers[0], "dbmigrate")
	db := sandboxtest.Open(t, servers[0], "")
	v1, err := Load(files("0001_a.sql"), "m")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Load(files("0001_a.sql", "0002_b.sql"), "m")
	if err != nil {
		t.Fatal(err)
	}
	schema := func(list []Migration) *Schema {
		return &Schema{What: "test", Database: name, Table: "schema_version", Lock: "shiftgate.test." + name, Migrations: list}
	}
	version := func(s *Schema) int {
		t.Helper()
		v, err := s.Version(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := version(schema(v1)); v != 0 {
		t.Fatalf("version before Migrate: %d", v)
	}
	for range 2 {
		if err := schema(v1).Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if v := version(schema(v1)); v != 1 {
		t.Fatalf("version after Migrate: %d", v)
	}
	if err := schema(v2).Migrate(ctx, db); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('ta', 'tb')", name).Scan(&n); err != nil || n != 2 {
		t.Fatalf("tables after upgrade: %d, %v", n, err)
	}
	if v := version(schema(v2)); v != 2 {
		t.Fatalf("version after upgrade: %d", v)
	}

	// A program that knows only version 1 refuses version 2.
	for _, check := range []func() error{
		func() error { return schema(v1).Migrate(ctx, db) },
		func() error { _, err := schema(v1).Version(ctx, db); return err },
	} {
		err := check()
		var ve *VersionError
		if !errors.As(err, &ve) || !ve.Newer || !errors.Is(err, ErrIncompatible) {
			t.Fatalf("newer schema: %v, want a *VersionError (newer)", err)
		}
		for _, part := range []string{"`" + name + "`", "version 2 (0002_b.sql)", "this library's 1"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not say %q", err, part)
			}
		}
	}
	// A program whose version 2 is another migration refuses it too.
	other, err := Load(files("0001_a.sql", "0002_c.sql"), "m")
	if err != nil {
		t.Fatal(err)
	}
	err = schema(other).Migrate(ctx, db)
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Newer || !strings.Contains(err.Error(), "2 (0002_b.sql)") {
		t.Fatalf("unknown schema: %v, want a *VersionError naming the unknown migration", err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'tc'", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused migration ran: %d, %v", n, err)
	}
}

// TestMigrateOnAPoolOfOne: the lock and the migrations share a connection,
// so a pool limited to one connection migrates instead of waiting for a
// second.
func TestMigrateOnAPoolOfOne(t *testing.T) {
	name := sandboxtest.NewDatabase(t, servers[0], "dbmigrate")
	db := sandboxtest.Open(t, servers[0], name)
	db.SetMaxOpenConns(1)
	list, err := Load(files("0001_a.sql"), "m")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &Schema{What: "test", Table: "schema_version", Lock: "shiftgate.test." + name, Migrations: list}
	if err := s.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx, db); err != nil || v != 1 {
		t.Fatalf("version %d, %v; want 1", v, err)
	}
}
