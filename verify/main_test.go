package verify_test

import (
	"context"
	"os"
	"testing"

	"github.com/shiftgate/shiftgate/internal/sandbox"
	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// servers are the throwaway source [0] and target [1] shared by the tests of
// this package; tests isolate themselves by database name.
var servers []*sandbox.Server

func TestMain(m *testing.M) {
	os.Exit(sandboxtest.Main(sandboxtest.Examples(m, &servers, prepareExamples), 2, &servers))
}

// prepareExamples creates database example_verify on both servers with
// table orders, whose copy on the target lacks a row, has one more and
// differs in a third; it returns the cleanup that drops them.
func prepareExamples(ctx context.Context, source, target *sandbox.Server) (func(), error) {
	setup := []string{
		"DROP DATABASE IF EXISTS example_verify",
		"CREATE DATABASE example_verify",
		"CREATE TABLE example_verify.orders (id INT PRIMARY KEY, note VARCHAR(20) NULL)",
		"INSERT INTO example_verify.orders VALUES (1, 'one'), (2, 'two'), (3, NULL)",
	}
	damage := []string{
		"DELETE FROM example_verify.orders WHERE id = 2",
		"UPDATE example_verify.orders SET note = '' WHERE id = 3",
		"INSERT INTO example_verify.orders VALUES (4, 'four')",
	}
	for _, side := range []struct {
		server *sandbox.Server
		stmts  []string
	}{{source, setup}, {target, append(setup, damage...)}} {
		if err := execAll(ctx, side.server, side.stmts...); err != nil {
			return nil, err
		}
	}
	return func() {
		_ = execAll(context.Background(), source, "DROP DATABASE IF EXISTS example_verify")
		_ = execAll(context.Background(), target, "DROP DATABASE IF EXISTS example_verify")
	}, nil
}

func execAll(ctx context.Context, s *sandbox.Server, stmts ...string) error {
	db, err := s.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
