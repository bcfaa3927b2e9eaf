package workflow

import (
	"fmt"
	"strings"
)

// prefix starts every error of this package, once.
const prefix = "workflow: "

// wrapError is an error of this package that adds context to another. Its
// message names the package once, however deep the chain: the inner
// error's own "workflow: " is dropped ("workflow: target: unknown
// instance", never "workflow: target: workflow: unknown instance").
type wrapError struct {
	context string
	err     error
}

// wrapf wraps err with the context format describes.
func wrapf(err error, format string, args ...any) error {
	return &wrapError{context: fmt.Sprintf(format, args...), err: err}
}

func (e *wrapError) Error() string {
	return prefix + e.context + ": " + strings.TrimPrefix(e.err.Error(), prefix)
}

func (e *wrapError) Unwrap() error { return e.err }
