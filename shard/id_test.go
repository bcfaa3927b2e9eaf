package shard_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/shard"
)

// fakeClock is a clock that moves only when told to or when slept on.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newFakeGenerator(t *testing.T, node int, at time.Time, opts ...shard.IDOption) (*shard.IDGenerator, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: at}
	g, err := shard.NewIDGenerator(node, append([]shard.IDOption{shard.WithIDClock(c.now, c.sleep)}, opts...)...)
	require.NoError(t, err)
	return g, c
}

func TestIDGeneratorConcurrentIDsAreUniqueAndIncreasing(t *testing.T) {
	const workers, each = 8, 20000
	g, err := shard.NewIDGenerator(7)
	require.NoError(t, err)
	got := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]int64, 0, each)
			for range each {
				id, err := g.Next()
				if err != nil {
					t.Error(err)
					return
				}
				ids = append(ids, id)
			}
			got[w] = ids
		})
	}
	wg.Wait()
	seen := make(map[int64]bool, workers*each)
	for w, ids := range got {
		require.Len(t, ids, each)
		for i, id := range ids {
			require.False(t, seen[id], "id %d returned twice", id)
			seen[id] = true
			if i > 0 {
				require.Greater(t, id, ids[i-1], "worker %d: ids not increasing", w)
			}
			p, err := shard.DecodeID(id)
			require.NoError(t, err)
			require.Equal(t, 7, p.Node)
		}
	}
}

func TestIDGeneratorsOfDifferentNodesNeverCollide(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a, _ := newFakeGenerator(t, 1, at)
	b, _ := newFakeGenerator(t, 2, at)
	seen := map[int64]bool{}
	for range 10000 { // spans several milliseconds of the fake clocks
		for _, g := range []*shard.IDGenerator{a, b} {
			id, err := g.Next()
			require.NoError(t, err)
			require.False(t, seen[id])
			seen[id] = true
		}
	}
}

func TestDecodeIDGivesTimeNodeAndSequence(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 30, 15, 123_456_789, time.UTC)
	g, _ := newFakeGenerator(t, shard.MaxIDNode, at)
	for seq := range 3 {
		id, err := g.Next()
		require.NoError(t, err)
		assert.Positive(t, id)
		p, err := shard.DecodeID(id)
		require.NoError(t, err)
		assert.Equal(t, shard.IDParts{Time: at.Truncate(time.Millisecond), Node: shard.MaxIDNode, Seq: seq}, p)
	}
	_, err := shard.DecodeID(-1)
	assert.ErrorContains(t, err, "negative")
}

func TestIDGeneratorWaitsForNextMillisecondWhenSequenceRunsOut(t *testing.T) {
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	g, c := newFakeGenerator(t, 3, at)
	var last int64
	for range 4096 {
		id, err := g.Next()
		require.NoError(t, err)
		last = id
	}
	assert.Zero(t, c.slept, "4096 ids fit in one millisecond")
	id, err := g.Next()
	require.NoError(t, err)
	assert.Greater(t, id, last)
	p, _ := shard.DecodeID(id)
	assert.Equal(t, shard.IDParts{Time: at.Add(time.Millisecond), Node: 3, Seq: 0}, p)
	assert.Equal(t, time.Millisecond, c.slept)
}

func TestIDGeneratorWaitsOutASmallBackwardsStep(t *testing.T) {
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	g, c := newFakeGenerator(t, 3, at, shard.WithMaxClockWait(time.Second))
	first, err := g.Next()
	require.NoError(t, err)
	c.set(at.Add(-500 * time.Millisecond))
	next, err := g.Next()
	require.NoError(t, err)
	assert.Greater(t, next, first)
	assert.Equal(t, 500*time.Millisecond, c.slept, "slept until the clock caught up with the last id")
}

func TestIDGeneratorRefusesALargeBackwardsStep(t *testing.T) {
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	g, c := newFakeGenerator(t, 3, at, shard.WithMaxClockWait(100*time.Millisecond))
	first, err := g.Next()
	require.NoError(t, err)
	c.set(at.Add(-time.Second))
	_, err = g.Next()
	require.ErrorIs(t, err, shard.ErrClockBackwards)
	assert.ErrorContains(t, err, "node 3")
	assert.Zero(t, c.slept, "did not wait")

	c.set(at.Add(time.Millisecond)) // the clock caught up
	next, err := g.Next()
	require.NoError(t, err)
	assert.Greater(t, next, first)
}

func TestIDGeneratorRejectsBadSettings(t *testing.T) {
	_, err := shard.NewIDGenerator(-1)
	assert.ErrorContains(t, err, "node -1")
	_, err = shard.NewIDGenerator(shard.MaxIDNode + 1)
	assert.ErrorContains(t, err, "node 1024")
	_, err = shard.NewIDGenerator(1, shard.WithMaxClockWait(-time.Second))
	assert.Error(t, err)
	_, err = shard.NewIDGenerator(1, shard.WithIDClock(nil, nil))
	assert.Error(t, err)

	g, _ := newFakeGenerator(t, 1, time.Date(2019, 12, 31, 23, 0, 0, 0, time.UTC))
	_, err = g.Next()
	assert.ErrorIs(t, err, shard.ErrIDTimeRange)
}
