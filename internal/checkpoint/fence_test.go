package checkpoint

import (
	"testing"
	"time"

	"github.com/shiftgate/shiftgate/internal/sandbox/sandboxtest"
)

// TestFences records a fence through its life: open until released, the
// times read back as written (UTC, microseconds), per source.
func TestFences(t *testing.T) {
	ctx := t.Context()
	s := New(sandboxtest.NewDatabase(t, servers[0], "cpf"))
	db := sandboxtest.Open(t, servers[0], "")
	if err := s.Prepare(ctx, db); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.FixedZone("x", 3600))
	for _, f := range []Fence{
		{ID: "a", Source: "src1", Method: "accounts", Undo: `{"x":1}`, Created: created},
		{ID: "b", Source: "src2", Method: "read-only", Undo: `{}`, Created: created},
	} {
		if err := s.SaveFence(ctx, db, f); err != nil {
			t.Fatal(err)
		}
	}
	stopped := created.Add(time.Second)
	if err := s.FenceStopped(ctx, db, "a", stopped); err != nil {
		t.Fatal(err)
	}
	open, err := s.OpenFences(ctx, db, "src1")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].ID != "a" || open[0].Undo != `{"x":1}` || open[0].Method != "accounts" || !open[0].Created.Equal(created) || !open[0].Stopped.Equal(stopped) {
		t.Fatalf("OpenFences: %+v", open)
	}
	if err := s.ReleaseFence(ctx, db, "a", stopped.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if open, err := s.OpenFences(ctx, db, "src1"); err != nil || len(open) != 0 {
		t.Fatalf("OpenFences after release: %+v, %v", open, err)
	}
	if open, err := s.OpenFences(ctx, db, "src2"); err != nil || len(open) != 1 || !open[0].Stopped.IsZero() {
		t.Fatalf("OpenFences of src2: %+v, %v", open, err)
	}
}
