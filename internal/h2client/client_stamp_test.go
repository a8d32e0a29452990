package h2client

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"
)

// TestStampWriter checks that a write stamps exactly the streams whose
// frame it completes: a frame still partly buffered keeps no stamp until
// the write that carries its end.
func TestStampWriter(t *testing.T) {
	var out bytes.Buffer
	s := &stampWriter{w: &out, epoch: time.Now()}
	a, b, c := &clientStream{}, &clientStream{}, &clientStream{}
	s.queue(a, 10)
	s.queue(b, 25)
	s.queue(c, 40)
	if _, err := s.Write(make([]byte, 24)); err != nil {
		t.Fatal(err)
	}
	if s.sentTime(a).IsZero() || !s.sentTime(b).IsZero() || !s.sentTime(c).IsZero() {
		t.Fatalf("after 24 bytes: sent a=%v b=%v c=%v, want only a stamped", s.sentTime(a), s.sentTime(b), s.sentTime(c))
	}
	first := s.sentTime(a)
	if _, err := s.Write(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if s.sentTime(b).IsZero() || s.sentTime(c).IsZero() {
		t.Fatalf("after 40 bytes: b=%v c=%v, want both stamped", s.sentTime(b), s.sentTime(c))
	}
	if s.sentTime(b).Before(first) {
		t.Errorf("b stamped %v, before a's earlier write %v", s.sentTime(b), first)
	}
	if len(s.pending) != 0 || s.written != 40 || out.Len() != 40 {
		t.Errorf("pending %d, written %d, out %d; want 0, 40, 40", len(s.pending), s.written, out.Len())
	}
	if !s.sentTime(&clientStream{}).IsZero() {
		t.Error("a stream never queued has a send time")
	}
}

// TestSendSentAt checks that Result.SentAt lies between the call to Send
// and the arrival of the response, for a request sent alone and for a
// batch sent from done callbacks (whose frames wait for one flush).
func TestSendSentAt(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	cc := dialH2(t, addr, ClientOptions{})
	if err := cc.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := prepare(t, "GET", "http://"+addr+"/")
	before := time.Now()
	r := sendAndWait(t, cc, p)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.SentAt.IsZero() || r.SentAt.Before(before) || r.EndAt.Before(r.SentAt) || r.HeaderAt.Before(r.SentAt) {
		t.Fatalf("Send at %v: SentAt %v, HeaderAt %v, EndAt %v; want Send <= SentAt <= HeaderAt <= EndAt", before, r.SentAt, r.HeaderAt, r.EndAt)
	}

	// A chain: each done sends the next one, from the read loop.
	const n = 50
	results := make(chan Result, n)
	calls := make(chan time.Time, n)
	var next func(Result)
	left := n
	next = func(res Result) {
		results <- res
		left--
		if left > 0 {
			calls <- time.Now()
			if _, err := cc.Send(p, next); err != nil {
				t.Errorf("Send from done: %v", err)
			}
		}
	}
	calls <- time.Now()
	if _, err := cc.Send(p, next); err != nil {
		t.Fatal(err)
	}
	for range n {
		res := await(t, results, "a chained result")
		call := <-calls
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if res.SentAt.Before(call) || res.EndAt.Before(res.SentAt) {
			t.Fatalf("Send at %v: SentAt %v, EndAt %v; want Send <= SentAt <= EndAt", call, res.SentAt, res.EndAt)
		}
	}
}
