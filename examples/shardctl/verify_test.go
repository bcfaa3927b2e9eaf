package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
	"github.com/shiftgate/shiftgate/shard"
)

// TestVerifyCommand splits the seed table into 8 shards over two
// instances and into 4 tables of one database, verifies the 8 against the
// table and against the 4 (clean, status 0), then deletes a row of the 8:
// status 1 naming it, in text and JSON; bad usage is status 2.
func TestVerifyCommand(t *testing.T) {
	s := servers[0]
	f := newSplitFixture(t, 3000)
	code, _, errOut := shardctl(t, "", append([]string{"split", "-source", f.dsn, "-database", f.source, "-table", "test", "-key", "name", "-checkpoint-db", f.checkpoint}, f.shardFlags()...)...)
	require.Equal(t, 0, code, errOut)
	four := sandboxtest.NewDatabase(t, s, "four")
	fourLayout := writeFile(t, "four.yaml", fmt.Sprintf("method: md5\nshards: 4\ndatabase: %s\ntable: t4_{n}\n", four))
	code, _, errOut = shardctl(t, "", "split", "-source", f.dsn, "-database", f.source, "-table", "test", "-key", "name",
		"-checkpoint-db", f.checkpoint, "-layout", fourLayout, "-dsn", f.dsn)
	require.Equal(t, 0, code, errOut)

	fromTable := append(append([]string{"verify"}, f.shardFlags()...), "-key", "name", "-source", f.dsn, "-database", f.source, "-table", "test")
	fromFour := append(append([]string{"verify"}, f.shardFlags()...), "-key", "name", "-from", fourLayout, "-from-dsn", f.dsn)
	code, out, errOut := shardctl(t, "", fromTable...)
	require.Equal(t, 0, code, errOut+out)
	assert.Contains(t, out, "-> 8 shards on `name`: 3000 rows (shards 3000)")
	assert.Contains(t, out, "equal")
	code, out, errOut = shardctl(t, "", fromFour...)
	require.Equal(t, 0, code, errOut+out)
	assert.Contains(t, out, "verify 4 source shards (first ")
	assert.Contains(t, out, "equal")

	// Delete row 77 from its shard of the 8.
	layout, err := shard.LoadLayout(f.layout)
	require.NoError(t, err)
	router, err := layout.Router()
	require.NoError(t, err)
	var name string
	require.NoError(t, sandboxtest.Open(t, s, f.source).QueryRow("SELECT name FROM test WHERE id = 77").Scan(&name))
	loc, err := router.Route(shard.String(name))
	require.NoError(t, err)
	sandboxtest.Exec(t, sandboxtest.Open(t, s, loc.Database), "DELETE FROM `"+loc.Table+"` WHERE id = 77")

	code, out, errOut = shardctl(t, "", fromFour...)
	require.Equal(t, 1, code, errOut+out)
	assert.Contains(t, out, fmt.Sprintf("missing    (id) = (77), routes to shard %d", loc.Shard))
	code, out, errOut = shardctl(t, "", append(fromTable, "-json")...)
	require.Equal(t, 1, code, errOut+out)
	var rep struct {
		Missing int64 `json:"missing"`
		Diffs   []struct {
			Kind  string   `json:"kind"`
			Key   []string `json:"key"`
			Shard int      `json:"shard"`
		} `json:"diffs"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, int64(1), rep.Missing)
	require.Len(t, rep.Diffs, 1)
	assert.Equal(t, []string{"77"}, rep.Diffs[0].Key)
	assert.Equal(t, loc.Shard, rep.Diffs[0].Shard)
	assert.NotContains(t, out+errOut, s.Password())

	for _, args := range [][]string{
		append(append([]string{}, fromFour...), "-database", f.source, "-table", "test"), // both sources
		append([]string{"verify"}, f.shardFlags()...),                                    // no source, no key
		{"verify", "-key", "name", "-from", fourLayout},                                  // no layout
	} {
		code, _, errOut = shardctl(t, "", args...)
		assert.Equal(t, 2, code, "%q", args)
		assert.Contains(t, errOut, "usage: shardctl verify")
	}
	// An error (no such key column) is status 2 too.
	code, _, errOut = shardctl(t, "", append(append([]string{"verify"}, f.shardFlags()...), "-key", "nope", "-source", f.dsn, "-database", f.source, "-table", "test")...)
	assert.Equal(t, 2, code)
	assert.True(t, strings.HasPrefix(errOut, "shardctl verify: "), errOut)
	assert.Contains(t, errOut, "nope")
}
