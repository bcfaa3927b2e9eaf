package migrate_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/fence"
	"github.com/shiftgate/shiftgate/migrate"
	"github.com/shiftgate/shiftgate/review"
	"github.com/shiftgate/shiftgate/verify"
)

// The ends of a copy and of a comparison are one type.
var _ verify.Side = migrate.Source

// requirePrefixOnce checks that each error errors.Join holds in err names
// the package once, at its start.
func requirePrefixOnce(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, line := range strings.Split(err.Error(), "\n") {
		assert.True(t, strings.HasPrefix(line, "migrate: ") && strings.Count(line, "migrate:") == 1,
			"%q does not name the package once, first", line)
	}
}

func TestErrorsAcrossLayers(t *testing.T) {
	ctx := t.Context()
	src, _ := newSample(t)
	dst := targetName(t, servers[1])

	t.Run("unknown database", func(t *testing.T) {
		_, err := newCopier(t, "no_such_db", servers[1], dst).Plan(ctx)
		requirePrefixOnce(t, err)
		// One ErrNotFound whatever package a caller tests it with.
		require.ErrorIs(t, err, migrate.ErrNotFound)
		require.ErrorIs(t, err, verify.ErrNotFound)
		require.ErrorIs(t, err, review.ErrNotFound)
		var ee *migrate.EndpointError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, migrate.Source, ee.Side)
		assert.Equal(t, "database `no_such_db`", ee.Object)
	})
	t.Run("unknown table", func(t *testing.T) {
		_, err := newCopier(t, src, servers[1], dst, migrate.WithTables("orders", "nope")).Plan(ctx)
		requirePrefixOnce(t, err)
		require.ErrorIs(t, err, verify.ErrNotFound)
		var ee *migrate.EndpointError
		require.ErrorAs(t, err, &ee)
		assert.Contains(t, ee.Object, "`nope`")
	})
	t.Run("bad DSN", func(t *testing.T) {
		_, err := migrate.NewCopier("not a DSN", servers[1].DSN(""), src)
		requirePrefixOnce(t, err)
		_, err = migrate.NewPipe(servers[0].DSN(""), "user:pw@tcp(", src)
		requirePrefixOnce(t, err)
		assert.NotContains(t, err.Error(), "pw")
	})
	t.Run("unreachable target", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		c, err := migrate.NewCopier(servers[0].DSN(""), "app:pw@tcp("+addr+")/", src, migrate.WithTimeouts(time.Second, 0, 0))
		require.NoError(t, err)
		_, err = c.Plan(ctx)
		requirePrefixOnce(t, err)
		require.ErrorIs(t, err, migrate.ErrConnect)
		var ee *migrate.EndpointError
		require.True(t, errors.As(err, &ee))
		assert.Equal(t, migrate.Target, ee.Side)
	})
}

// Sentinels of one condition are one value in every package.
func TestSharedSentinels(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b error
	}{
		{"ErrNotFound", migrate.ErrNotFound, verify.ErrNotFound},
		{"ErrNotFound", migrate.ErrNotFound, review.ErrNotFound},
		{"ErrNoKey", migrate.ErrNoKey, verify.ErrNoKey},
	} {
		assert.ErrorIs(t, c.a, c.b, c.name)
		assert.ErrorIs(t, c.b, c.a, c.name)
	}
}

// The conditions the internal mechanisms report reach callers as this
// package's sentinels: an error wrapping the mechanism's matches them.
func TestInternalSentinelsExported(t *testing.T) {
	for _, c := range []struct {
		name     string
		internal error
		exported error
	}{
		{"binlog.ErrPurged", binlog.ErrPurged, migrate.ErrBinlogPurged},
		{"binlog.ErrPositionAhead", binlog.ErrPositionAhead, migrate.ErrBinlogPositionAhead},
		{"fence.ErrNotFound", fence.ErrNotFound, migrate.ErrNotFound},
		{"fence.ErrPrivilege", fence.ErrPrivilege, migrate.ErrPrivilege},
		{"fence.ErrBroadGrant", fence.ErrBroadGrant, migrate.ErrBroadGrant},
		{"fence.ErrBypass", fence.ErrBypass, migrate.ErrBypass},
	} {
		err := fmt.Errorf("migrate: source 127.0.0.1:3306: %w", fmt.Errorf("inner: %w", c.internal))
		assert.ErrorIs(t, err, c.exported, c.name)
	}
}
