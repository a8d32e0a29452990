package h2

import (
	"context"
	"sync"
	"time"
)

// streamContext is a stream's context, what r.Context() returns: it is
// cancelled when the stream is reset, when the connection ends, and when
// the handler returns. It lives inside the stream, so a request costs no
// allocation for it (context.WithCancel costs two, and a map entry in
// the connection's context, taken under that context's lock by every
// stream of the connection). Its Done channel is made only when asked
// for; until then, cancelling it is a store under its lock. Contexts
// derived from it with the context package register with it through
// AfterFunc, without a goroutine each.
type streamContext struct {
	parent context.Context // the connection's

	mu     sync.Mutex
	err    error
	done   chan struct{} // made by Done, closed by cancel
	stop   func() bool   // stops the parent's AfterFunc that Done set up
	afters []*afterHook  // registered by AfterFunc, run by cancel
}

// afterHook is one function registered with streamContext.AfterFunc.
type afterHook struct{ f func() }

// closedChan is the Done channel of a context cancelled before anyone
// asked for its channel.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

var _ context.Context = (*streamContext)(nil)

// Deadline returns the connection context's deadline.
func (c *streamContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Value returns the connection context's value for key.
func (c *streamContext) Value(key any) any {
	return c.parent.Value(key)
}

// Done returns a channel closed when the context is cancelled.
func (c *streamContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	if c.err != nil {
		c.done = closedChan
		return c.done
	}
	c.done = make(chan struct{})
	if c.parent.Done() != nil {
		c.stop = context.AfterFunc(c.parent, func() { c.cancel(c.parent.Err()) })
	}
	return c.done
}

// Err returns nil until the context is cancelled, then why.
func (c *streamContext) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if perr := c.parent.Err(); perr != nil {
		c.cancel(perr) // so that Done and Err agree
		return perr
	}
	return nil
}

// AfterFunc arranges for f to run in its own goroutine once the context
// is cancelled, as context.AfterFunc does; the context package uses it
// for contexts derived from this one.
func (c *streamContext) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.err == nil && c.parent.Err() == nil {
		h := &afterHook{f: f}
		c.afters = append(c.afters, h)
		c.mu.Unlock()
		return func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			for i, x := range c.afters {
				if x == h {
					c.afters = append(c.afters[:i], c.afters[i+1:]...)
					return true
				}
			}
			return false
		}
	}
	c.mu.Unlock()
	c.cancel(c.parent.Err())
	go f()
	return func() bool { return false }
}

// cancel ends the context with err (context.Canceled if nil), once.
func (c *streamContext) cancel(err error) {
	if err == nil {
		err = context.Canceled
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	stop, afters := c.stop, c.afters
	c.stop, c.afters = nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, h := range afters {
		go h.f()
	}
}
