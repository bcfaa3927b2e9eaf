package shard

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	idTimeBits = 41
	idNodeBits = 10
	idSeqBits  = 12

	// MaxIDNode is the largest node an id can carry.
	MaxIDNode = 1<<idNodeBits - 1
	maxIDSeq  = 1<<idSeqBits - 1
	maxIDTime = 1<<idTimeBits - 1
)

// idEpoch is the time an id's time component counts from.
var idEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultMaxClockWait is how long IDGenerator.Next waits, by default, for a
// clock that went backwards to catch up.
const DefaultMaxClockWait = time.Second

// ErrClockBackwards is returned by IDGenerator.Next when the clock is
// behind the last id's time by more than the generator may wait.
var ErrClockBackwards = errors.New("clock moved backwards")

// ErrIDTimeRange is returned by IDGenerator.Next when the clock reads
// before 2020 or past the last time an id can hold (in 2089).
var ErrIDTimeRange = errors.New("time outside the range an id can hold")

// IDGenerator makes time-ordered 64-bit ids that do not collide across
// shards. It is safe for concurrent use; the ids one generator returns
// are strictly increasing.
//
// An id is a positive int64 laid out, from the high bit, as
//
//	1 bit  always 0, so ids are positive in a signed BIGINT column
//	41 bits milliseconds since 2020-01-01 UTC (enough until 2089)
//	10 bits node, 0 .. MaxIDNode
//	12 bits sequence within the millisecond, 0 .. 4095
//
// so ids sort by creation time (to the millisecond) and generators with
// different nodes never make the same id. Use the shard number as the
// node when each shard's writer makes its own ids: DecodeID then tells
// which shard an id was made for, and when. Two live generators with the
// same node do collide; giving each one a node of its own is the
// caller's job.
//
// Clock skew: when the clock reads earlier than the time of the last id
// (an NTP step backwards, a VM resumed), Next sleeps until the clock has
// caught up if the gap is at most the generator's maximum wait
// (DefaultMaxClockWait unless WithMaxClockWait says otherwise), and
// otherwise returns ErrClockBackwards without making an id; later calls
// succeed once the clock has caught up. When 4096 ids have been made in
// one millisecond, Next waits for the next millisecond.
type IDGenerator struct {
	node    int64
	maxWait time.Duration
	now     func() time.Time
	sleep   func(time.Duration)

	mu   sync.Mutex
	last int64 // milliseconds since idEpoch of the last id
	seq  int64
}

// IDOption configures an IDGenerator.
type IDOption func(*IDGenerator) error

// WithMaxClockWait sets how long Next waits for a clock that went
// backwards; 0 means it never waits. Negative durations are an error.
func WithMaxClockWait(d time.Duration) IDOption {
	return func(g *IDGenerator) error {
		if d < 0 {
			return fmt.Errorf("shard: id generator: negative clock wait %s", d)
		}
		g.maxWait = d
		return nil
	}
}

// WithIDClock replaces the wall clock and time.Sleep, for tests of clock
// skew. Both must be non-nil.
func WithIDClock(now func() time.Time, sleep func(time.Duration)) IDOption {
	return func(g *IDGenerator) error {
		if now == nil || sleep == nil {
			return errors.New("shard: id generator: nil clock")
		}
		g.now, g.sleep = now, sleep
		return nil
	}
}

// NewIDGenerator returns a generator for node, 0 .. MaxIDNode.
func NewIDGenerator(node int, opts ...IDOption) (*IDGenerator, error) {
	if node < 0 || node > MaxIDNode {
		return nil, fmt.Errorf("shard: id generator: node %d outside 0..%d", node, MaxIDNode)
	}
	g := &IDGenerator{node: int64(node), maxWait: DefaultMaxClockWait, now: time.Now, sleep: time.Sleep, last: -1}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("shard: id generator: nil option")
		}
		if err := o(g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Next returns a new id, greater than every id this generator returned
// before. See IDGenerator for what it does when the clock goes backwards.
func (g *IDGenerator) Next() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms, err := g.millis()
	if err != nil {
		return 0, err
	}
	if ms < g.last {
		behind := time.Duration(g.last-ms) * time.Millisecond
		if behind > g.maxWait {
			return 0, fmt.Errorf("shard: id generator node %d: %w by %s (waits at most %s)", g.node, ErrClockBackwards, behind, g.maxWait)
		}
		if ms, err = g.waitPast(g.last - 1); err != nil {
			return 0, err
		}
	}
	if ms == g.last {
		g.seq++
		if g.seq > maxIDSeq {
			if ms, err = g.waitPast(g.last); err != nil {
				return 0, err
			}
			g.seq = 0
		}
	} else {
		g.seq = 0
	}
	g.last = ms
	return ms<<(idNodeBits+idSeqBits) | g.node<<idSeqBits | g.seq, nil
}

// millis reads the clock as milliseconds since idEpoch.
func (g *IDGenerator) millis() (int64, error) {
	t := g.now()
	ms := t.Sub(idEpoch).Milliseconds()
	if t.Before(idEpoch) || ms > maxIDTime {
		return 0, fmt.Errorf("shard: id generator node %d: %w: %s", g.node, ErrIDTimeRange, t.UTC().Format(time.RFC3339))
	}
	return ms, nil
}

// waitPast sleeps until the clock reads later than ms, and returns the
// new reading. If the clock falls further behind than the maximum wait
// (it went backwards again while waiting), it gives up.
func (g *IDGenerator) waitPast(ms int64) (int64, error) {
	for {
		now, err := g.millis()
		if err != nil || now > ms {
			return now, err
		}
		gap := time.Duration(ms-now+1) * time.Millisecond
		if gap > g.maxWait+time.Millisecond {
			return 0, fmt.Errorf("shard: id generator node %d: %w by %s (waits at most %s)", g.node, ErrClockBackwards, gap, g.maxWait)
		}
		g.sleep(gap)
	}
}

// IDParts are the components of an id.
type IDParts struct {
	// Time is when the id was made, to the millisecond, in UTC.
	Time time.Time
	// Node is the generator's node: the shard number when shards make
	// their own ids.
	Node int
	// Seq is the id's place among the ids its node made in that
	// millisecond.
	Seq int
}

// DecodeID splits an id made by an IDGenerator into its parts. Negative
// ids cannot have been made by one and are an error.
func DecodeID(id int64) (IDParts, error) {
	if id < 0 {
		return IDParts{}, fmt.Errorf("shard: id %d is negative: not a generated id", id)
	}
	ms := id >> (idNodeBits + idSeqBits)
	return IDParts{
		Time: idEpoch.Add(time.Duration(ms) * time.Millisecond),
		Node: int(id >> idSeqBits & MaxIDNode),
		Seq:  int(id & maxIDSeq),
	}, nil
}
