package rowchange_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/shiftgate/shiftgate/internal/rowchange"
)

// batches hands out its batches in order, then err (io.EOF when nil).
type batches struct {
	list [][]rowchange.Change
	err  error
}

func (b *batches) Next(context.Context) ([]rowchange.Change, error) {
	if len(b.list) == 0 {
		if b.err != nil {
			return nil, b.err
		}
		return nil, io.EOF
	}
	next := b.list[0]
	b.list = b.list[1:]
	return next, nil
}

// TestEach: every batch in order, then nil; a read error or fn's error
// ends it with that error; nil Batches has none.
func TestEach(t *testing.T) {
	ctx := context.Background()
	count := func(b rowchange.Batches, stop error) (int, error) {
		n := 0
		err := rowchange.Each(ctx, b, func(batch []rowchange.Change) error {
			n += len(batch)
			return stop
		})
		return n, err
	}
	two := [][]rowchange.Change{make([]rowchange.Change, 2), make([]rowchange.Change, 3)}
	if n, err := count(&batches{list: two}, nil); n != 5 || err != nil {
		t.Errorf("read %d changes, %v; want 5, nil", n, err)
	}
	lost := errors.New("connection lost")
	if n, err := count(&batches{list: two[:1], err: lost}, nil); n != 2 || !errors.Is(err, lost) {
		t.Errorf("read %d changes, %v; want 2, %v", n, err, lost)
	}
	stop := errors.New("stop")
	if n, err := count(&batches{list: two}, stop); n != 2 || !errors.Is(err, stop) {
		t.Errorf("read %d changes, %v; want 2, %v", n, err, stop)
	}
	if n, err := count(nil, nil); n != 0 || err != nil {
		t.Errorf("nil Batches: %d changes, %v", n, err)
	}
}
