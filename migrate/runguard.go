package migrate

import (
	"context"
	"fmt"
	"sync/atomic"
)

// runGuard lets one call at a time hold an executor: its Run and the
// methods that must not overlap a Run (OnlineAlter.Abort,
// ReverseSync.End, Rebalance.Publish). Its zero value is free.
type runGuard struct {
	held atomic.Bool
}

// enter holds g for the caller, who defers g.leave. what names the work
// in the error ("copier shop", "online alter of `shop`.`t`: abort").
// It refuses, holding nothing, with ErrRunning while another call holds
// g, and with ctx's error (and nothing changed) when ctx is already done.
func (g *runGuard) enter(ctx context.Context, what string) error {
	if !g.held.CompareAndSwap(false, true) {
		return fmt.Errorf("migrate: %s: %w", what, ErrRunning)
	}
	if err := ctx.Err(); err != nil {
		g.held.Store(false)
		return fmt.Errorf("migrate: %s: nothing changed: %w", what, err)
	}
	return nil
}

// leave frees g, held by enter.
func (g *runGuard) leave() { g.held.Store(false) }

// busy reports whether a call holds g.
func (g *runGuard) busy() bool { return g.held.Load() }
