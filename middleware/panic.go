package middleware

import "fmt"

// PanicError is the value Timeout panics with in the serving goroutine
// when the handler, which it runs in a goroutine of its own, panicked: the
// handler's panic value and the stack of the handler's goroutine where it
// panicked. The stack of the serving goroutine, where the panic is raised
// again, shows only Timeout waiting; Recoverer logs Value and Stack
// instead. A panic with http.ErrAbortHandler is raised again as it is,
// not as a PanicError, so that it keeps aborting the response quietly.
type PanicError struct {
	// Value is the value the handler panicked with.
	Value any
	// Stack is the handler goroutine's stack at the panic, as
	// runtime/debug.Stack formats it.
	Stack []byte
}

// Error returns the panic value and the handler's stack, so that
// net/http's own log line, if nothing recovers the panic, shows where the
// handler panicked.
func (e *PanicError) Error() string {
	return fmt.Sprintf("%v [handler goroutine]\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error, for errors.Is and
// errors.As.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
