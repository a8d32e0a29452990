package h2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

type ctxKey struct{}

func TestStreamContext(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	cases := []struct {
		name      string
		doneFirst bool // ask for Done before the cancel
		viaParent bool // cancel the parent, not the stream
		wantErr   error
	}{
		{"stream cancelled, Done asked before", true, false, context.Canceled},
		{"stream cancelled, Done asked after", false, false, context.Canceled},
		{"parent cancelled, Done asked before", true, true, context.Canceled},
		{"parent cancelled, Done asked after", false, true, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, cancelParent := context.WithCancel(parent)
			defer cancelParent()
			c := &streamContext{parent: p}
			if got := c.Value(ctxKey{}); got != "v" {
				t.Fatalf("Value = %v, want the parent's", got)
			}
			if c.Err() != nil {
				t.Fatalf("Err before cancel = %v", c.Err())
			}
			child, stopChild := context.WithCancel(c) // registers through AfterFunc
			defer stopChild()
			var done <-chan struct{}
			if tc.doneFirst {
				done = c.Done()
				select {
				case <-done:
					t.Fatal("Done closed before cancel")
				default:
				}
			}
			if tc.viaParent {
				cancelParent()
			} else {
				c.cancel(nil)
			}
			if !tc.doneFirst {
				done = c.Done()
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed after cancel")
			}
			if err := c.Err(); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Err = %v, want %v", err, tc.wantErr)
			}
			if err := context.Cause(c); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Cause = %v, want %v", err, tc.wantErr)
			}
			select {
			case <-child.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("derived context not cancelled")
			}
		})
	}
}

func TestStreamContextAfterFunc(t *testing.T) {
	c := &streamContext{parent: context.Background()}
	ran := make(chan string, 2)
	stop1 := context.AfterFunc(c, func() { ran <- "one" })
	stop2 := context.AfterFunc(c, func() { ran <- "two" })
	if !stop1() {
		t.Fatal("stop before cancel reported false")
	}
	if stop1() {
		t.Fatal("second stop reported true")
	}
	c.cancel(nil)
	c.cancel(errors.New("second cancel")) // ignored
	select {
	case got := <-ran:
		if got != "two" {
			t.Fatalf("ran %q, want only the registration not stopped", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AfterFunc never ran")
	}
	if stop2() {
		t.Fatal("stop after the function ran reported true")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want the first cancel's", c.Err())
	}
	late := make(chan struct{})
	context.AfterFunc(c, func() { close(late) })
	select {
	case <-late:
	case <-time.After(10 * time.Second):
		t.Fatal("AfterFunc on a cancelled context never ran")
	}
}

// TestDerivedContextCancelledOnReset checks that a context a handler
// derives from r.Context() (as middleware with timeouts do) ends when the
// client resets the stream.
func TestDerivedContextCancelledOnReset(t *testing.T) {
	checkGoroutines(t)
	ended := make(chan error, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Hour)
		defer cancel()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-ctx.Done()
		ended <- ctx.Err()
	}))
	rc := dialRaw(t, ts)
	rc.get(1, "/")
	rc.readUntil("response header", func(f http2.Frame) bool {
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok && f.Header().StreamID == 1
	})
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("derived context ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("derived context not cancelled by RST_STREAM")
	}
}

// TestCloseNotify checks the deprecated http.CloseNotifier: the channel
// fires when the client resets the stream, and every call returns the
// same one.
func TestCloseNotify(t *testing.T) {
	checkGoroutines(t)
	started := make(chan struct{})
	result := make(chan string, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, ok := w.(http.CloseNotifier)
		if !ok {
			result <- "the ResponseWriter is no http.CloseNotifier"
			return
		}
		ch := cn.CloseNotify()
		if cn.CloseNotify() != ch {
			result <- "a second CloseNotify returned another channel"
			return
		}
		close(started)
		select {
		case v := <-ch:
			result <- fmt.Sprint("notified ", v)
		case <-time.After(10 * time.Second):
			result <- "not notified 10s after the reset"
		}
	}))
	defer ts.close()
	rc := dialRaw(t, ts)
	rc.post(1, "/")
	<-started
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	if got := <-result; got != "notified true" {
		t.Error(got)
	}
}
