package main

import (
	"testing"
)

// TestQuickstart runs the whole quickstart on a small sample database, so
// that "make demo" cannot rot unnoticed.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	if err := run(t.Context(), 2000); err != nil {
		t.Fatal(err)
	}
}
