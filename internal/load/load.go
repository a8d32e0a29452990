package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h2client"
)

// The modes, named as everywhere in molt.
const (
	ModeH1      = "h1"
	ModeH2C     = "h2c"
	ModeUpgrade = "h2c-upgrade"
)

// Modes lists the modes Run accepts.
var Modes = []string{ModeH1, ModeH2C, ModeUpgrade, ModeWS}

// Config describes a load run.
type Config struct {
	// URL is the target, http:// only (cleartext).
	URL string
	// Mode is ModeH1, ModeH2C, ModeUpgrade or ModeWS.
	Mode string
	// Conns is the number of connections (for UpgradeEvery, of clients
	// each upgrading one fresh connection per request). 0 means 1.
	Conns int
	// Streams is the number of requests in flight per HTTP/2 connection,
	// capped by the server's SETTINGS_MAX_CONCURRENT_STREAMS. 0 means 1.
	// HTTP/1.1 connections, and UpgradeEvery, carry one at a time. In
	// ModeWS it is the number of messages in flight per WebSocket: sent
	// back to back, their echoes matched to them in order.
	Streams int
	// Requests ends the run after that many requests (not counting the
	// warmup); 0 means run for Duration.
	Requests int64
	// Duration is how long to measure when Requests is 0.
	Duration time.Duration
	// Warmup is run before measuring starts; its requests are not counted.
	Warmup time.Duration
	// Rate, if positive, is the total request rate of an open-loop run:
	// each connection sends at Rate/Conns per second whatever the
	// responses do, and latency is measured from the time a request was
	// due, not from when a free stream let it go (coordinated omission
	// corrected, as wrk2 does); a request the client slept for counts
	// from its timer's wake instead, as the timer's lateness is the
	// client's. 0 means closed loop.
	Rate float64
	// Method is the request method; "" means GET.
	Method string
	// Header is added to every request.
	Header http.Header
	// Body is sent with every request.
	Body []byte
	// Timeout bounds each request, and each connection set-up; 0 means
	// 10s.
	Timeout time.Duration
	// UpgradeEvery makes every request of ModeUpgrade a fresh connection
	// upgraded with it, which measures the handshake.
	UpgradeEvery bool
	// WSHTTP2 makes ModeWS open each WebSocket as an RFC 8441 extended
	// CONNECT stream on its own h2c (prior knowledge) connection instead
	// of with an HTTP/1.1 Upgrade.
	WSHTTP2 bool
	// WSUpgrade, with WSHTTP2, reaches HTTP/2 on each connection with an
	// "Upgrade: h2c" request (OPTIONS *) answered 101, instead of by
	// prior knowledge, then opens the WebSocket on it.
	WSUpgrade bool
	// WSSize is the size in bytes of ModeWS's messages, up to 16 MiB; 0
	// means DefaultWSSize. Messages of 8 bytes or more carry a sequence
	// number, so an echo out of order is detected.
	WSSize int
	// Progress, if set, is called every ProgressEvery (0 means 1s)
	// during the run from a goroutine of its own; never after Run
	// returns.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed  time.Duration // since measuring started; negative during warmup
	Requests uint64        // responses so far
	Errors   uint64        // failed requests so far
	Rate     float64       // responses per second over the last interval
	P99      time.Duration // latency so far
}

// ErrSetup is wrapped by Run's error when the first connection could not
// be set up; the message says which step failed.
var ErrSetup = errors.New("setting up the first connection failed")

// runner is the state shared by the connections of one run.
type runner struct {
	cfg      Config
	target   *url.URL
	addr     string
	ctx      context.Context
	stopped  atomic.Bool
	stopCh   chan struct{} // closed when stopped is set
	stopOnce sync.Once
	base     time.Time // slot start times are kept relative to it
	// What requests are made of (see prepare).
	prepared *h2client.Prepared // HTTP/2: the request, body included
	h1req    []byte
	h1head   bool
	issued   atomic.Int64 // measured requests started, for cfg.Requests
	// measureFrom is when measuring starts (after the warmup).
	measureFrom time.Time
	shards      []shard
	streamsUsed atomic.Int64  // the smallest -m a connection could use, 0 until known
	done        atomic.Uint64 // responses, for progress
	failed      atomic.Uint64
	connects    atomic.Uint64
}

// shard is a part of the results, one per group of connections, merged at
// the end, so that connections rarely contend for a lock.
type shard struct {
	mu          sync.Mutex
	lat, ttfb   Histogram
	fromSend    Histogram // open loop: from the write that sent each request
	to101, h2ok Histogram // upgrade: time to 101, time to the first HTTP/2 response
	handshake   Histogram // ws: the opening handshake, dial included
	ok          uint64
	bodyBytes   uint64
	headerBytes uint64
	status      [1000]uint64 // by status code; h2client and net/http accept only 3 digits
	errs        map[string]uint64
	errSample   map[string]string
	last        time.Time // when the last measured request ended
}

func (s *shard) recordOK(start, sent, headers, end time.Time, status int, body, header int64) {
	s.mu.Lock()
	s.lat.Record(end.Sub(start))
	if !sent.IsZero() {
		s.fromSend.Record(end.Sub(sent))
	}
	if !headers.IsZero() {
		s.ttfb.Record(headers.Sub(start))
	}
	s.ok++
	s.bodyBytes += uint64(body)
	s.headerBytes += uint64(header)
	if status >= 0 && status < len(s.status) {
		s.status[status]++
	}
	if end.After(s.last) {
		s.last = end
	}
	s.mu.Unlock()
}

func (s *shard) recordErr(end time.Time, err error) {
	kind := ErrorKind(err)
	s.mu.Lock()
	if s.errs == nil {
		s.errs = make(map[string]uint64)
		s.errSample = make(map[string]string)
	}
	s.errs[kind]++
	if _, ok := s.errSample[kind]; !ok {
		s.errSample[kind] = err.Error()
	}
	if end.After(s.last) {
		s.last = end
	}
	s.mu.Unlock()
}

// stop ends the run: no request starts after it.
func (r *runner) stop() {
	r.stopOnce.Do(func() {
		r.stopped.Store(true)
		close(r.stopCh)
	})
}

// measured reports whether a request started at start counts.
func (r *runner) measured(start time.Time) bool { return !start.Before(r.measureFrom) }

// record files the outcome of a request started at start.
func (r *runner) record(s *shard, start, headers, end time.Time, status int, body, header int64, err error) {
	r.recordSent(s, start, time.Time{}, headers, end, status, body, header, err)
}

// recordSent is record for a request of an open loop that was due at
// start and written at sent (zero if that is not known): its latency
// from sent is kept too, in LatencyFromSend.
func (r *runner) recordSent(s *shard, start, sent, headers, end time.Time, status int, body, header int64, err error) {
	if r.ctx.Err() != nil {
		return // interrupted: what fails now is not the server's doing
	}
	if err != nil {
		r.failed.Add(1)
	} else {
		r.done.Add(1)
	}
	if !r.measured(start) {
		return
	}
	if err != nil {
		s.recordErr(end, err)
		return
	}
	s.recordOK(start, sent, headers, end, status, body, header)
}

// allow reports whether a request may start now, taking one from the
// request budget if it will be measured.
func (r *runner) allow(now time.Time) bool {
	if r.stopped.Load() {
		return false
	}
	if r.cfg.Requests > 0 && r.measured(now) {
		if r.issued.Add(1) > r.cfg.Requests {
			r.issued.Add(-1)
			return false
		}
	}
	return true
}

// unissue gives back a request allow granted that was never sent.
func (r *runner) unissue(start time.Time) {
	if r.cfg.Requests > 0 && r.measured(start) {
		r.issued.Add(-1)
	}
}

func (cfg *Config) normalize() (*url.URL, string, error) {
	if cfg.Conns == 0 {
		cfg.Conns = 1
	}
	if cfg.Streams == 0 {
		cfg.Streams = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	switch {
	case cfg.Conns < 0 || cfg.Conns > 100000:
		return nil, "", fmt.Errorf("connections %d: want 1 to 100000", cfg.Conns)
	case cfg.Streams < 0 || cfg.Streams > 1<<20:
		return nil, "", fmt.Errorf("streams %d: want 1 to 1048576", cfg.Streams)
	case cfg.Requests < 0:
		return nil, "", fmt.Errorf("requests %d: want 0 or more", cfg.Requests)
	case cfg.Requests == 0 && cfg.Duration <= 0:
		return nil, "", errors.New("give a duration or a number of requests")
	case cfg.Warmup < 0 || cfg.Timeout < 0:
		return nil, "", errors.New("negative warmup or timeout")
	case uint64(cfg.Conns)*uint64(cfg.Streams) > 1<<20:
		return nil, "", fmt.Errorf("%d connections x %d streams: at most 1048576 requests in flight", cfg.Conns, cfg.Streams)
	case cfg.Rate < 0 || cfg.Rate > 1e8 || cfg.Rate != cfg.Rate:
		return nil, "", fmt.Errorf("rate %v: want 0 (closed loop) up to 1e8 requests/s", cfg.Rate)
	case cfg.UpgradeEvery && cfg.Mode != ModeUpgrade:
		return nil, "", fmt.Errorf("upgrade-every applies to mode %s only", ModeUpgrade)
	case cfg.WSUpgrade && !cfg.WSHTTP2:
		return nil, "", errors.New("the WebSocket upgrade option applies over HTTP/2 (WSHTTP2) only")
	case (cfg.WSHTTP2 || cfg.WSSize != 0) && cfg.Mode != ModeWS:
		return nil, "", fmt.Errorf("the WebSocket message size and HTTP/2 options apply to mode %s only", ModeWS)
	case cfg.WSSize < 0 || cfg.WSSize > maxWSSize:
		return nil, "", fmt.Errorf("WebSocket message size %d: want 0 to %d bytes", cfg.WSSize, maxWSSize)
	case cfg.Mode == ModeWS && uint64(cfg.Conns)*uint64(max(cfg.WSSize, DefaultWSSize)) > maxWSBuffers:
		return nil, "", fmt.Errorf("%d connections x messages of %d bytes: at most %d bytes of message buffers", cfg.Conns, cfg.WSSize, maxWSBuffers)
	case cfg.Mode == ModeWS && (cfg.Method != http.MethodGet || len(cfg.Body) > 0):
		return nil, "", fmt.Errorf("mode %s sends messages of WSSize bytes: it takes no method or body", ModeWS)
	}
	switch cfg.Mode {
	case ModeH1, ModeH2C, ModeUpgrade, ModeWS:
	case "":
		return nil, "", errors.New("no mode given")
	default:
		return nil, "", fmt.Errorf("mode %q: want one of h1, h2c, h2c-upgrade, ws", cfg.Mode)
	}
	if cfg.Mode == ModeH1 || cfg.UpgradeEvery {
		cfg.Streams = 1
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, "", fmt.Errorf("URL: %w", err)
	}
	if cfg.Mode == ModeWS && u.Scheme == "ws" {
		u.Scheme = "http"
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, "", fmt.Errorf("URL %q: want http://host[:port]/path (cleartext only)", cfg.URL)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return u, net.JoinHostPort(u.Hostname(), port), nil
}

// Run runs the load described by cfg until its duration or request count
// is reached or ctx ends, and reports. Run first sets up one connection
// and returns an error wrapping ErrSetup, naming the step that failed
// (connect, the HTTP/2 preface, the 101), if it cannot: a run against a
// server that is down, speaks no h2c or declines the upgrade reports that
// instead of a page of errors. Errors after that are counted by kind.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	u, addr, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, target: u, addr: addr, ctx: ctx, stopCh: make(chan struct{}), base: time.Now()}
	r.shards = make([]shard, min(cfg.Conns, 4*runtime.GOMAXPROCS(0)))
	if err := r.probe(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	r.connects.Store(0) // the probe's connection is not part of the run

	start := time.Now()
	r.measureFrom = start.Add(cfg.Warmup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.ctx = ctx
	stopAll := context.AfterFunc(ctx, r.stop)
	defer stopAll()
	if cfg.Requests == 0 {
		t := time.AfterFunc(cfg.Warmup+cfg.Duration, r.stop)
		defer t.Stop()
	}
	var progressDone chan struct{}
	var progressWG sync.WaitGroup
	if cfg.Progress != nil {
		progressDone = make(chan struct{})
		progressWG.Go(func() { r.progress(progressDone) })
	}

	var wg sync.WaitGroup
	for i := range cfg.Conns {
		s := &r.shards[i%len(r.shards)]
		sc := &schedule{}
		if cfg.Rate > 0 {
			sc.interval = time.Duration(float64(time.Second) * float64(cfg.Conns) / cfg.Rate)
			sc.next = start.Add(sc.interval * time.Duration(i) / time.Duration(cfg.Conns)) // staggered
		}
		wg.Go(func() { r.connLoop(s, sc) })
	}
	wg.Wait()
	if progressDone != nil {
		close(progressDone)
		progressWG.Wait() // no progress call after Run returns
	}
	return r.report(start), nil
}

// progress calls cfg.Progress periodically until done is closed.
func (r *runner) progress(done chan struct{}) {
	every := r.cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	lastAt := time.Now()
	var h Histogram
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			n := r.done.Load()
			h.Reset()
			for i := range r.shards {
				s := &r.shards[i]
				s.mu.Lock()
				h.Merge(&s.lat)
				s.mu.Unlock()
			}
			r.cfg.Progress(Progress{
				Elapsed:  now.Sub(r.measureFrom),
				Requests: n,
				Errors:   r.failed.Load(),
				Rate:     float64(n-last) / now.Sub(lastAt).Seconds(),
				P99:      h.Quantile(0.99),
			})
			last, lastAt = n, now
		}
	}
}

// connLoop runs connection i until the run stops, reconnecting when the
// server closes it. Every connection is set up once, even if the other
// connections have issued all of a -n run's requests before it starts
// (as h2load connects all its clients), so that a run has -c connections
// whatever the scheduling.
func (r *runner) connLoop(s *shard, sc *schedule) {
	backoff := 10 * time.Millisecond
	for first := true; !r.stopped.Load() && (first || r.cfg.Requests == 0 || r.issued.Load() < r.cfg.Requests); first = false {
		var err error
		switch {
		case r.cfg.Mode == ModeH1:
			err = r.runH1(s, sc)
		case r.cfg.Mode == ModeWS:
			err = r.runWS(s, sc)
		case r.cfg.UpgradeEvery:
			err = r.runUpgradeEvery(s, sc)
		default:
			err = r.runH2(s, sc)
		}
		if err == nil {
			backoff = 10 * time.Millisecond
			continue
		}
		// The connection could not be set up: that counts as a failed
		// request, so that a run of -n requests against a server that
		// went away ends.
		now := time.Now()
		if !r.allow(now) {
			return
		}
		r.record(s, now, time.Time{}, now, 0, 0, 0, err)
		select {
		case <-time.After(backoff):
		case <-r.stopCh:
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}

// report merges the shards.
func (r *runner) report(start time.Time) *Report {
	var lat, ttfb, fromSend, to101, h2ok, handshake Histogram
	rep := &Report{
		Mode:        r.cfg.Mode,
		URL:         r.target.String(),
		Connections: r.cfg.Conns,
		Streams:     r.cfg.Streams,
		Rate:        r.cfg.Rate,
		Status:      map[string]uint64{},
		ErrorKinds:  map[string]uint64{},
		ErrorSample: map[string]string{},
		Connects:    r.connects.Load(),
	}
	if n := r.streamsUsed.Load(); n > 0 {
		rep.Streams = int(n) // capped by the server's SETTINGS_MAX_CONCURRENT_STREAMS
	}
	if r.cfg.UpgradeEvery {
		rep.Mode += " (upgrade every request)"
	}
	end := r.measureFrom
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		lat.Merge(&s.lat)
		ttfb.Merge(&s.ttfb)
		fromSend.Merge(&s.fromSend)
		to101.Merge(&s.to101)
		h2ok.Merge(&s.h2ok)
		handshake.Merge(&s.handshake)
		rep.Requests += s.ok
		rep.BodyBytes += s.bodyBytes
		rep.HeaderBytes += s.headerBytes
		for code, n := range s.status {
			if n > 0 {
				rep.Status[strconv.Itoa(code)] += n
			}
		}
		for k, n := range s.errs {
			rep.ErrorKinds[k] += n
			rep.Errors += n
			if _, ok := rep.ErrorSample[k]; !ok {
				rep.ErrorSample[k] = s.errSample[k]
			}
		}
		if s.last.After(end) {
			end = s.last
		}
		s.mu.Unlock()
	}
	rep.Elapsed = end.Sub(r.measureFrom).Seconds()
	if rep.Elapsed > 0 {
		rep.RequestsPerSec = float64(rep.Requests) / rep.Elapsed
		rep.BytesPerSec = float64(rep.BodyBytes+rep.HeaderBytes) / rep.Elapsed
	}
	rep.Latency = quantiles(&lat)
	rep.TTFB = quantiles(&ttfb)
	if fromSend.Count() > 0 {
		q := quantiles(&fromSend)
		rep.LatencyFromSend = &q
	}
	if r.cfg.Mode == ModeUpgrade {
		rep.Upgrade = &UpgradeReport{To101: quantiles(&to101), FirstResponse: quantiles(&h2ok)}
	}
	if r.cfg.Mode == ModeWS {
		rep.WebSocket = &WSReport{HTTP2: r.cfg.WSHTTP2, H2CUpgrade: r.cfg.WSUpgrade, MessageSize: r.wsSize(), Handshake: quantiles(&handshake)}
	}
	rep.latency, rep.ttfb = lat, ttfb
	return rep
}

// Report is the outcome of a run. Its JSON form is documented in
// docs/bench.md; durations are in microseconds.
type Report struct {
	Mode        string `json:"mode"`
	URL         string `json:"url"`
	Connections int    `json:"connections"`
	// Streams is the number of streams per connection: Config.Streams, or
	// less if the server's SETTINGS_MAX_CONCURRENT_STREAMS was lower.
	Streams int     `json:"streams"`
	Rate    float64 `json:"rate,omitempty"` // open-loop target, requests/s
	// Elapsed is the measured time in seconds, from the end of the warmup
	// to the end of the last measured request.
	Elapsed        float64 `json:"elapsed_s"`
	Requests       uint64  `json:"requests"` // responses received
	Errors         uint64  `json:"errors"`   // requests failed
	RequestsPerSec float64 `json:"requests_per_s"`
	BodyBytes      uint64  `json:"body_bytes"`
	// HeaderBytes counts response header bytes in HTTP/2: the HEADERS
	// frames' payloads. It is 0 for HTTP/1.1 and for the upgrade's
	// stream 1.
	HeaderBytes uint64  `json:"header_bytes"`
	BytesPerSec float64 `json:"bytes_per_s"` // body and header bytes
	// Connects counts connections set up, reconnections included.
	Connects uint64    `json:"connects"`
	Latency  Quantiles `json:"latency"`
	TTFB     Quantiles `json:"ttfb"` // to the response headers
	// LatencyFromSend is set in an open loop (Rate > 0) for requests
	// whose send was timed (HTTP/2, and HTTP/1.1): each
	// request's latency from the start of the write system call that
	// carried it instead of from when it was due, as h2load times its
	// requests (and as wrk2's "uncorrected" latency). Latency minus
	// this is the time a request waited in the client: for a free
	// stream, or behind its connection's timetable.
	LatencyFromSend *Quantiles     `json:"latency_from_send,omitempty"`
	Upgrade         *UpgradeReport `json:"upgrade,omitempty"`
	// WebSocket is set in ModeWS, where Requests counts echoed messages,
	// Latency is each message's round trip, BodyBytes the bytes echoed
	// and TTFB is empty.
	WebSocket *WSReport `json:"websocket,omitempty"`
	// Status counts responses by status code; in ModeWS, the opening
	// handshakes' (101 over HTTP/1.1, 200 over HTTP/2).
	Status map[string]uint64 `json:"status"`
	// ErrorKinds counts failed requests by ErrorKind; ErrorSample holds
	// the first message of each kind.
	ErrorKinds  map[string]uint64 `json:"errors_by_kind"`
	ErrorSample map[string]string `json:"error_samples,omitempty"`

	latency, ttfb Histogram
}

// LatencyHistogram returns the merged latency histogram.
func (r *Report) LatencyHistogram() *Histogram { return &r.latency }

// TTFBHistogram returns the merged time-to-first-byte histogram (empty in
// ModeWS).
func (r *Report) TTFBHistogram() *Histogram { return &r.ttfb }

// UpgradeReport is the h2c upgrade handshake's own latency, per
// connection, from the start of the dial.
type UpgradeReport struct {
	To101         Quantiles `json:"to_101"`            // the 101 read
	FirstResponse Quantiles `json:"to_first_response"` // stream 1's response headers
}

// WSReport is what ModeWS reports besides the messages' figures.
type WSReport struct {
	HTTP2       bool `json:"http2"`        // RFC 8441 over h2c, not HTTP/1.1
	H2CUpgrade  bool `json:"h2c_upgrade"`  // with HTTP2: h2c reached by Upgrade, not prior knowledge
	MessageSize int  `json:"message_size"` // bytes per message
	// Handshake is the opening handshake's latency per connection, from
	// the start of the dial to the server's answer.
	Handshake Quantiles `json:"handshake"`
}

// Quantiles summarizes a latency distribution, in microseconds.
type Quantiles struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99.9_us"`
	Max   float64 `json:"max_us"`
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func quantiles(h *Histogram) Quantiles {
	return Quantiles{
		Count: h.Count(), Min: us(h.Min()), Mean: us(h.Mean()),
		P50: us(h.Quantile(0.5)), P90: us(h.Quantile(0.9)), P99: us(h.Quantile(0.99)),
		P999: us(h.Quantile(0.999)), Max: us(h.Max()),
	}
}

// SortedStatus returns the status codes of r in ascending order.
func (r *Report) SortedStatus() []string {
	keys := make([]string, 0, len(r.Status))
	for k := range r.Status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
