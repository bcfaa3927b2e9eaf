package migrate

import (
	"context"
	"sync"
	"time"
)

// Throttler is consulted by a Copier before it reads each chunk. Throttle
// returns nil when the copy may go on, possibly after waiting (for example
// while replica lag or the source's load is too high); it must return
// promptly with ctx.Err() when ctx is done. A non-nil error stops the copy
// and is returned by Run. It is called from several goroutines at once.
type Throttler interface {
	Throttle(ctx context.Context, table string) error
}

// ThrottlerFunc adapts a function to Throttler.
type ThrottlerFunc func(ctx context.Context, table string) error

// Throttle calls f.
func (f ThrottlerFunc) Throttle(ctx context.Context, table string) error { return f(ctx, table) }

var _ Throttler = ThrottlerFunc(nil)

// rateLimiter paces work to at most perSecond units per second over all
// goroutines: each unit of work pushes the time the next may start.
type rateLimiter struct {
	perSecond float64
	mu        sync.Mutex
	next      time.Time
}

func newRateLimiter(perSecond float64) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{perSecond: perSecond}
}

// wait blocks until the work done so far is within the rate.
func (l *rateLimiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	d := time.Until(l.next)
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// done records n units of work.
func (l *rateLimiter) done(n int64) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.perSecond * float64(time.Second)))
}
