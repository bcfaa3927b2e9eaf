package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store in memory, for tests and single-process hosts
// that need no persistence. The zero value is not ready: use
// NewMemoryStore.
type MemoryStore struct {
	mu      sync.Mutex
	tickets map[int64]*Ticket
	audit   map[int64][]AuditEntry
	keys    map[string]int64
	next    int64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{tickets: map[int64]*Ticket{}, audit: map[int64][]AuditEntry{}, keys: map[string]int64{}}
}

// Create implements Store.
func (m *MemoryStore) Create(ctx context.Context, t *Ticket, at time.Time) (*Ticket, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.ClientKey != "" {
		if id, ok := m.keys[t.ClientKey]; ok {
			return m.tickets[id].Clone(), false, nil
		}
	}
	m.next++
	c := t.Clone()
	c.ID, c.Version, c.State = m.next, 1, StateSubmitted
	c.CreatedAt, c.UpdatedAt = at, at
	m.tickets[c.ID] = c
	if c.ClientKey != "" {
		m.keys[c.ClientKey] = c.ID
	}
	m.audit[c.ID] = []AuditEntry{{Ticket: c.ID, Actor: c.Submitter, Action: ActionSubmit, From: StateNone, To: StateSubmitted, At: at}}
	return c.Clone(), true, nil
}

// Transition implements Store.
func (m *MemoryStore) Transition(ctx context.Context, c Change) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.tickets[c.Ticket]
	if !ok {
		return nil, wrapf(ErrNotFound, "ticket #%d", c.Ticket)
	}
	next, entry, err := applyChange(cur, c)
	if err != nil {
		return nil, err
	}
	m.tickets[c.Ticket] = next
	m.audit[c.Ticket] = append(m.audit[c.Ticket], entry)
	return next.Clone(), nil
}

// applyChange checks c against cur and returns the changed copy and its
// audit entry; the stores share it so that they agree exactly.
func applyChange(cur *Ticket, c Change) (*Ticket, AuditEntry, error) {
	if cur.Version != c.Version {
		return nil, AuditEntry{}, &ConflictError{Ticket: c.Ticket, Action: c.Action, Version: c.Version, Current: cur.Clone()}
	}
	if err := CheckTransition(cur.ID, cur.State, c.Action, c.To); err != nil {
		return nil, AuditEntry{}, err
	}
	next := cur.Clone()
	if c.Update != nil {
		if err := c.Update(next); err != nil {
			return nil, AuditEntry{}, err
		}
	}
	next.ID, next.State, next.Version, next.UpdatedAt = cur.ID, c.To, cur.Version+1, c.At
	entry := AuditEntry{Ticket: cur.ID, Actor: c.Actor, Action: c.Action, From: cur.State, To: c.To, Comment: c.Comment, At: c.At}
	return next, entry, nil
}

// claimed returns the change Claim applies to a queued ticket.
func claimed(worker string, now time.Time, lease time.Duration) func(t *Ticket) error {
	return func(t *Ticket) error {
		t.Worker, t.LeaseUntil = worker, now.Add(lease)
		t.Attempts++
		if t.StartedAt.IsZero() {
			t.StartedAt = now
		}
		return nil
	}
}

func claimComment(worker string, attempt int) string {
	if attempt > 1 {
		return fmt.Sprintf("worker %s resumes it (attempt %d)", worker, attempt)
	}
	return "worker " + worker
}

// Claim implements Store.
func (m *MemoryStore) Claim(ctx context.Context, worker string, now time.Time, lease time.Duration) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *Ticket
	for _, t := range m.tickets {
		if t.State == StateQueued && t.Window.Open(now) && (best == nil || t.ID < best.ID) {
			best = t
		}
	}
	if best == nil {
		return nil, nil
	}
	next, entry, err := applyChange(best, Change{Ticket: best.ID, Version: best.Version, Action: ActionStart, To: StateRunning,
		Actor: SystemActor, At: now, Update: claimed(worker, now, lease)})
	if err != nil {
		return nil, err
	}
	entry.Comment = claimComment(worker, next.Attempts)
	m.tickets[best.ID] = next
	m.audit[best.ID] = append(m.audit[best.ID], entry)
	return next.Clone(), nil
}

// Heartbeat implements Store.
func (m *MemoryStore) Heartbeat(ctx context.Context, b Beat) (State, error) {
	if err := ctx.Err(); err != nil {
		return StateNone, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tickets[b.Ticket]
	if !ok {
		return StateNone, wrapf(ErrNotFound, "ticket #%d", b.Ticket)
	}
	if t.Worker == "" || t.Worker != b.Worker {
		return t.State, wrapf(ErrLeaseLost, "ticket #%d, worker %s", b.Ticket, b.Worker)
	}
	applyBeat(t, b)
	return t.State, nil
}

func applyBeat(t *Ticket, b Beat) {
	if t.State.Leased() && !b.LeaseUntil.IsZero() {
		t.LeaseUntil = b.LeaseUntil
	}
	if b.Progress != nil {
		p := *b.Progress
		t.Progress = &p
	}
	if b.Results != nil {
		t.Results = slices.Clone(b.Results)
	}
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, id int64) (*Detail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tickets[id]
	if !ok {
		return nil, wrapf(ErrNotFound, "ticket #%d", id)
	}
	return &Detail{Ticket: t.Clone(), Audit: slices.Clone(m.audit[id])}, nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, f Filter) ([]*Ticket, error) {
	f, err := f.normalize()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Ticket
	for _, t := range m.tickets {
		if f.matches(t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *Ticket) int { return int(b.ID - a.ID) })
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	for i, t := range out {
		out[i] = t.Clone()
	}
	return out, nil
}

func (f Filter) matches(t *Ticket) bool {
	kw := strings.ToLower(f.Keyword)
	return (f.Submitter == "" || t.Submitter == f.Submitter) &&
		(len(f.States) == 0 || slices.Contains(f.States, t.State)) &&
		(f.Instance == "" || t.Instance == f.Instance || t.SourceInstance() == f.Instance) &&
		(f.Kind == "" || t.Kind == f.Kind) &&
		(f.ErrorCode == "" || t.ErrorCode == f.ErrorCode) &&
		(f.CreatedFrom.IsZero() || !t.CreatedAt.Before(f.CreatedFrom)) &&
		(f.CreatedTo.IsZero() || t.CreatedAt.Before(f.CreatedTo)) &&
		(kw == "" || strings.Contains(strings.ToLower(t.SQL), kw) || strings.Contains(strings.ToLower(t.Title), kw)) &&
		(f.BeforeID == 0 || t.ID < f.BeforeID)
}
