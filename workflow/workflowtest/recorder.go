package workflowtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/shiftgate/shiftgate/workflow"
)

// ErrInjected is the error a Recorder returns when told to fail without a
// particular error.
var ErrInjected = errors.New("workflowtest: injected failure")

// Recorder is an in-memory workflow.Notifier for engine and dispatcher
// tests: it records the events it delivers and can be told to fail, or to
// block, the calls that follow. It is also an Inbox, so it runs
// TestNotifier against itself. The zero value is ready to use; Name, if
// set, is the endpoint its errors name.
type Recorder struct {
	Name string

	mu      sync.Mutex
	events  []workflow.Event
	calls   int
	failN   int // -1: fail every call
	failErr error
	mode    Mode
	block   chan struct{}
	changed chan struct{} // closed and renewed on every delivery
}

var (
	_ workflow.Notifier = (*Recorder)(nil)
	_ Inbox             = (*Recorder)(nil)
)

// Notify records e, or fails as the Recorder was told to.
func (r *Recorder) Notify(ctx context.Context, e workflow.Event) error {
	r.mu.Lock()
	r.calls++
	block := r.block
	if r.mode == Stall && block == nil {
		r.block = make(chan struct{})
		block = r.block
	}
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("workflowtest: recorder %s: %w", r.Endpoint(), err)
	}
	if block != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("workflowtest: recorder %s: %w", r.Endpoint(), ctx.Err())
		case <-block:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.mode == FailTemporarily:
		return fmt.Errorf("workflowtest: recorder %s: %w", r.Endpoint(), ErrInjected)
	case r.mode == RejectPermanently:
		return fmt.Errorf("workflowtest: recorder %s: %w: %w", r.Endpoint(), workflow.ErrPermanent, ErrInjected)
	case r.failN != 0:
		if r.failN > 0 {
			r.failN--
		}
		return fmt.Errorf("workflowtest: recorder %s: %w", r.Endpoint(), r.failErr)
	}
	r.events = append(r.events, e)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	return nil
}

// FailNext makes the next n calls of Notify fail with err (ErrInjected if
// nil); n < 0 makes every call fail until FailNext(0, nil).
func (r *Recorder) FailNext(n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failN, r.failErr = n, err
}

// Block makes calls of Notify wait until release is called or their
// context ends: a slow notifier.
func (r *Recorder) Block() (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.block = ch
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			if r.block == ch {
				r.block = nil
			}
			r.mu.Unlock()
			close(ch)
		})
	}
}

// Events returns the delivered events, oldest first.
func (r *Recorder) Events() []workflow.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]workflow.Event(nil), r.events...)
}

// Calls is the number of Notify calls so far, failed ones included.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Wait waits until at least n events have been delivered and returns them,
// or returns ctx's error.
func (r *Recorder) Wait(ctx context.Context, n int) ([]workflow.Event, error) {
	for {
		r.mu.Lock()
		if len(r.events) >= n {
			ev := append([]workflow.Event(nil), r.events...)
			r.mu.Unlock()
			return ev, nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return r.Events(), fmt.Errorf("workflowtest: recorder %s: %d of %d events: %w", r.Endpoint(), len(r.Events()), n, ctx.Err())
		case <-ch:
		}
	}
}

// Endpoint names the Recorder in errors.
func (r *Recorder) Endpoint() string {
	if r.Name == "" {
		return "recorder"
	}
	return r.Name
}

// Messages renders the delivered events as an inbox would show them.
func (r *Recorder) Messages() []Message {
	var msgs []Message
	for _, e := range r.Events() {
		msgs = append(msgs, Message{
			To:   e.Recipients,
			Text: e.Subject() + "\n#" + strconv.FormatInt(e.TicketID, 10),
		})
	}
	return msgs
}

// SetMode changes how the following calls of Notify answer. Leaving Stall
// releases the calls it holds.
func (r *Recorder) SetMode(m Mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == Stall && m != Stall && r.block != nil {
		close(r.block)
		r.block = nil
	}
	r.mode = m
}
