package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h1head"
	"github.com/molt-http/molt/internal/h2client"
)

// schedule is a connection's open-loop timetable; it survives reconnects.
type schedule struct {
	interval time.Duration // 0: closed loop
	next     time.Time
}

// wait returns the start time of the next request: now in a closed loop;
// in an open loop, the time the request is due if that has passed (the
// connection is behind its timetable, held back by the server: that
// wait is charged, coordinated omission corrected), or else the moment
// the timer that slept until then woke. The timer's own lateness is the
// client's, not the server's: Go's runtime sleeps in epoll_wait with a
// timeout in whole milliseconds, so a timer fires up to a millisecond
// late on an idle process (about 0.7 ms at the median at 100 requests/s
// per connection, stop 18), which charged from the due time made
// molt bench's open-loop latency several times the server's. The
// timetable itself is kept: the next due time is always one interval
// after this one. It returns false if the run stopped meanwhile.
func (sc *schedule) wait(r *runner) (time.Time, bool) {
	if sc.interval == 0 {
		return time.Now(), true
	}
	due := sc.next
	sc.next = sc.next.Add(sc.interval)
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return time.Now(), true
		case <-r.stopCh:
			return due, false
		}
	}
	return due, true
}

func (r *runner) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: r.cfg.Timeout}
	c, err := d.DialContext(r.ctx, "tcp", r.addr)
	if err != nil {
		return nil, &connectError{err}
	}
	r.connects.Add(1)
	return c, nil
}

// newRequest returns the configured request, bounded by the timeout.
func (r *runner) newRequest() (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	var body io.Reader
	if len(r.cfg.Body) > 0 {
		body = bytes.NewReader(r.cfg.Body)
	}
	req, _ := http.NewRequestWithContext(ctx, r.cfg.Method, r.target.String(), body) // validated by prepare
	for k, vv := range r.cfg.Header {
		req.Header[k] = vv
	}
	if h := r.cfg.Header.Get("Host"); h != "" {
		req.Host = h
	}
	return req, cancel
}

// prepare builds what the requests are made of, checking the request once.
func (r *runner) prepare() error {
	if r.cfg.Mode == ModeWS {
		return nil // the messages are made in runWS
	}
	req, cancel := r.newRequest()
	defer cancel()
	if r.cfg.Mode == ModeH1 {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
		if len(r.cfg.Body) > 0 {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.cfg.Body))
		}
		h := req.Header.Clone()
		h.Del("Host")
		h.Del("Content-Length")
		if err := h.Write(&b); err != nil {
			return err
		}
		b.WriteString("\r\n")
		b.Write(r.cfg.Body)
		r.h1req = b.Bytes()
		r.h1head = req.Method == http.MethodHead
		return nil
	}
	p, err := h2client.PrepareBody(req, r.cfg.Body)
	if err != nil {
		return err
	}
	r.prepared = p
	return nil
}

// probe sets up one connection and makes one request with it, so that a
// server that cannot be used is reported with the step that failed.
func (r *runner) probe() error {
	if err := r.prepare(); err != nil {
		return err
	}
	if r.cfg.Mode == ModeWS {
		// The handshake, and one echo, so that a server that opens the
		// WebSocket but does not echo is reported as such.
		c, err := r.dialWS(nil, false)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		return r.probeEcho(c)
	}
	if r.cfg.Mode == ModeH1 {
		// Setting up HTTP/1.1 is the dial; what the server answers is
		// counted per request.
		c, err := r.dial()
		if err != nil {
			return err
		}
		return c.Close()
	}
	// h2c: the preface and the server's SETTINGS; h2c-upgrade: the
	// upgrade, which carries one request (not counted).
	cc, err := r.openH2(nil, time.Now(), false)
	if err != nil {
		return err
	}
	return cc.Close()
}

// openH2 sets up an HTTP/2 connection. For ModeUpgrade the upgrade
// request is the configured request, due at start; its outcome and the
// handshake's latency are recorded in s if record is set.
func (r *runner) openH2(s *shard, start time.Time, record bool) (*h2client.ClientConn, error) {
	c, err := r.dial()
	if err != nil {
		return nil, err
	}
	if r.cfg.Mode == ModeH2C {
		cc, err := h2client.NewClientConn(c, h2client.ClientOptions{})
		if err != nil {
			return nil, &setupError{"preface", err}
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
		err = cc.Ping(ctx) // the server's SETTINGS precede its PING ACK
		cancel()
		if err != nil {
			cc.Close()
			return nil, &setupError{"preface", err}
		}
		return cc, nil
	}

	req, cancel := r.newRequest()
	defer cancel()
	res, err := h2client.Upgrade(c, req, h2client.ClientOptions{})
	if err != nil {
		return nil, &setupError{"upgrade", err}
	}
	if res.Conn == nil {
		res.Response.Body.Close()
		return nil, &DeclinedError{Status: res.Response.Status, Proto: res.Response.Proto}
	}
	headersAt := time.Now()
	n, err := io.Copy(io.Discard, res.Response.Body)
	res.Response.Body.Close()
	end := time.Now()
	if record {
		if r.measured(start) {
			s.mu.Lock()
			s.to101.Record(res.SwitchedAt.Sub(start))
			s.h2ok.Record(headersAt.Sub(start))
			s.mu.Unlock()
		}
		r.record(s, start, headersAt, end, res.Response.StatusCode, n, 0, err)
	}
	return res.Conn, nil
}

// maxH1Header bounds an HTTP/1.1 response's header section: a server
// that sends headers without end gets an error, not the client's memory.
const maxH1Header = 1 << 20

// errH1HeaderTooLarge is the error of a response whose header section
// exceeds maxH1Header.
var errH1HeaderTooLarge = errors.New("HTTP/1.1 response header section exceeds 1 MiB (protocol error)")

// h1Request sends one HTTP/1.1 request and reads the response from hr.
// sentAt is when the write of the request began.
func (r *runner) h1Request(c net.Conn, hr *h1head.Reader) (resp *http.Response, sentAt, headersAt time.Time, n int64, closeConn bool, err error) {
	sentAt = time.Now()
	c.SetDeadline(sentAt.Add(r.cfg.Timeout))
	if _, err := c.Write(r.h1req); err != nil {
		return nil, sentAt, headersAt, 0, true, err
	}
	method := http.MethodGet
	if r.h1head {
		method = http.MethodHead
	}
	hr.Reset()                                                 // whatever hr holds already was read within the last budget
	resp, err = hr.ReadResponse(&http.Request{Method: method}) // the body is bounded by the timeout
	if err != nil {
		return nil, sentAt, headersAt, 0, true, err
	}
	headersAt = time.Now()
	n, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, sentAt, headersAt, n, resp.Close || err != nil, err
}

// runH1 runs one HTTP/1.1 keep-alive connection until the run stops or the
// connection closes.
func (r *runner) runH1(s *shard, sc *schedule) error {
	c, err := r.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	hr := h1head.NewReader(c, 32<<10, maxH1Header, errH1HeaderTooLarge)
	for {
		start, ok := sc.wait(r)
		if !ok || !r.allow(start) {
			return nil
		}
		resp, sentAt, headersAt, n, closeConn, err := r.h1Request(c, hr)
		end := time.Now()
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		if sc.interval == 0 {
			sentAt = time.Time{} // closed loop: start is the write already
		}
		r.recordSent(s, start, sentAt, headersAt, end, status, n, 0, err)
		if closeConn {
			return nil
		}
	}
}

// runUpgradeEvery makes every request a fresh upgraded connection.
func (r *runner) runUpgradeEvery(s *shard, sc *schedule) error {
	for {
		start, ok := sc.wait(r)
		if !ok || !r.allow(start) {
			return nil
		}
		cc, err := r.openH2(s, start, true)
		if err != nil {
			if _, isConnect := err.(*connectError); isConnect {
				r.unissue(start)
				return err // connLoop counts it and backs off
			}
			r.record(s, start, time.Time{}, time.Now(), 0, 0, 0, err)
			continue
		}
		cc.Close()
	}
}

// h2sess is the state of one HTTP/2 connection's run.
type h2sess struct {
	r        *runner
	s        *shard
	cc       *h2client.ClientConn
	sc       *schedule
	inflight atomic.Int32 // plus one held by the starter
	drained  chan struct{}
	free     chan *slot // open loop: slots not in use
}

// slot is one concurrent stream of a connection.
type slot struct {
	sess  *h2sess
	start atomic.Int64  // since r.base, plus 1; 0 while idle
	id    atomic.Uint32 // the stream in flight
	fn    func(h2client.Result)
}

func (h *h2sess) release() {
	if h.inflight.Add(-1) == 0 {
		close(h.drained)
	}
}

// send starts a request on sl due at start.
func (h *h2sess) send(sl *slot, start time.Time) bool {
	h.inflight.Add(1)
	sl.id.Store(0)
	sl.start.Store(int64(start.Sub(h.r.base)) + 1)
	id, err := h.cc.Send(h.r.prepared, sl.fn)
	if err != nil {
		sl.start.Store(0)
		h.r.unissue(start)
		h.release()
		return false
	}
	sl.id.CompareAndSwap(0, id)
	return true
}

func (sl *slot) onDone(res h2client.Result) {
	h := sl.sess
	r := h.r
	// The response arrived at res.EndAt (the read that brought it). In a
	// closed loop the request's clock starts when it left the client,
	// res.SentAt (the write system call that carried it, as h2load
	// counts): the time it waited in the connection's buffer for the
	// rest of a batch of responses to be handled is the client's, not
	// the server's. In an open loop it starts when it was due (or when
	// its timer woke, see schedule.wait).
	start := r.base.Add(time.Duration(sl.start.Load() - 1))
	// (Whether it counts, after the warmup, was decided at Send.)
	// The open loop also keeps the latency from SentAt, as h2load
	// measures its --rps runs.
	var sent time.Time
	if !res.SentAt.IsZero() && r.measured(start) {
		if h.free == nil {
			start = res.SentAt
		} else {
			sent = res.SentAt
		}
	}
	sl.start.Store(0)
	r.recordSent(h.s, start, sent, res.HeaderAt, res.EndAt, res.Status, res.BodyBytes, res.HeaderBytes, res.Err)
	if h.free != nil {
		h.free <- sl
	} else if now := nextStart(res); r.allow(now) {
		h.send(sl, now)
	}
	h.release()
}

// nextStart is the start time given to the request that a closed loop
// sends when res's request ended: the time of the read that brought the
// end (res.EndAt), not a clock read of its own, which was a fifteenth
// of molt bench's CPU per request. It serves only to decide whether the
// request counts (after the warmup), to time it out, and as its latency's
// start if it is never written; a written request is timed from its
// write (Result.SentAt). So being earlier than now by the handling of one
// read changes none of the figures.
func nextStart(res h2client.Result) time.Time {
	if res.EndAt.IsZero() {
		return time.Now()
	}
	return res.EndAt
}

// runH2 runs one HTTP/2 connection until the run stops or the connection
// can take no more requests.
func (r *runner) runH2(s *shard, sc *schedule) error {
	due := time.Now()
	upgrade := r.cfg.Mode == ModeUpgrade
	if upgrade { // the upgrade carries a request
		var ok bool
		if due, ok = sc.wait(r); !ok || !r.allow(due) {
			return nil
		}
	}
	cc, err := r.openH2(s, due, true)
	if err != nil {
		if upgrade {
			r.unissue(due)
		}
		return err
	}
	defer cc.Close()
	m := r.cfg.Streams
	if n, ok := cc.PeerMaxConcurrentStreams(); ok && uint64(n) < uint64(m) {
		m = int(n)
	}
	if m == 0 {
		return &setupError{"preface", fmt.Errorf("the server allows no concurrent streams")}
	}
	for {
		used := r.streamsUsed.Load()
		if used != 0 && used <= int64(m) || r.streamsUsed.CompareAndSwap(used, int64(m)) {
			break
		}
	}
	h := &h2sess{r: r, s: s, cc: cc, sc: sc, drained: make(chan struct{})}
	h.inflight.Store(1)
	slots := make([]slot, m)
	for i := range slots {
		slots[i].sess = h
		slots[i].fn = slots[i].onDone
	}
	stopWatch := r.watch(slots, cc)
	defer stopWatch()
	if sc.interval == 0 {
		for i := range slots {
			now := time.Now()
			if !r.allow(now) || !h.send(&slots[i], now) {
				break
			}
		}
	} else {
		h.free = make(chan *slot, m)
		for i := range slots {
			h.free <- &slots[i]
		}
	pace:
		for {
			start, ok := sc.wait(r)
			if !ok {
				break
			}
			var sl *slot
			select {
			case sl = <-h.free:
			case <-h.r.stopCh:
				break pace
			}
			if !r.allow(start) || !h.send(sl, start) {
				h.free <- sl
				break
			}
			if !cc.CanTakeNewRequest() {
				break
			}
		}
	}
	h.release()
	select {
	case <-h.drained:
	case <-r.ctx.Done():
		cc.Close()
		<-h.drained
	}
	return nil
}

// watch cancels the streams of slots that outlive the timeout, until the
// returned function is called.
func (r *runner) watch(slots []slot, cc *h2client.ClientConn) func() {
	every := min(max(r.cfg.Timeout/8, 10*time.Millisecond), time.Second)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				limit := int64(now.Sub(r.base)-r.cfg.Timeout) + 1
				for i := range slots {
					sl := &slots[i]
					st := sl.start.Load()
					if st == 0 || st > limit {
						continue
					}
					if id := sl.id.Load(); id != 0 && sl.start.Load() == st {
						cc.CancelStream(id, errTimeout)
					}
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
