package dumpscan

import (
	"fmt"
	"reflect"
	"testing"
)

// equal reports a failure unless got is deeply equal to want.
func equal(t testing.TB, want, got any, msg ...any) bool {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return true
	}
	t.Errorf("%s\nwant: %+v\n got: %+v", describe(msg), want, got)
	return false
}

// check reports a failure unless ok.
func check(t testing.TB, ok bool, msg ...any) {
	t.Helper()
	if !ok {
		t.Errorf("%s: not so", describe(msg))
	}
}

func describe(msg []any) string {
	if len(msg) == 0 {
		return "mismatch"
	}
	if f, ok := msg[0].(string); ok {
		return fmt.Sprintf(f, msg[1:]...)
	}
	return fmt.Sprint(msg...)
}
