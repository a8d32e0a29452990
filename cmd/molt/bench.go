package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/molt-http/molt/internal/load"
	"golang.org/x/term"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags struct{ h http.Header }

func (f *headerFlags) String() string { return "" }

func (f *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	if f.h == nil {
		f.h = make(http.Header)
	}
	f.h.Add(name, strings.TrimSpace(value))
	return nil
}

const benchUsage = `usage: molt bench [flags] URL

Load-tests an HTTP server over cleartext HTTP/1.1, HTTP/2 by prior knowledge
(h2c) or HTTP/2 reached with "Upgrade: h2c" (h2c-upgrade), or a WebSocket
echo (ws) over HTTP/1.1 or, with -ws-h2, RFC 8441 over h2c (-ws-h2-upgrade:
h2c reached by Upgrade first).

flags:
`

// benchOptions are the parsed flags of molt bench.
type benchOptions struct {
	cfg        load.Config
	modes      []string // one, or several for -compare
	jsonOut    bool
	htmlFile   string
	cpuprofile string
	wsH2       bool // -ws-h2 or -ws-h2-upgrade
	wsUpgrade  bool // -ws-h2-upgrade
	wsSize     int  // -ws-size
}

func parseBench(args []string, stderr io.Writer) (*benchOptions, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	mode := fs.String("mode", "h2c", "protocol: h1 (HTTP/1.1 keep-alive), h2c (HTTP/2 prior knowledge), h2c-upgrade (each connection upgraded with \"Upgrade: h2c\") or ws (WebSocket echo: messages/s, each message's round trip)")
	compare := fs.String("compare", "", "run these comma-separated modes back to back and print them side by side, e.g. h1,h2c,h2c-upgrade")
	conns := fs.Int("c", 1, "connections")
	streams := fs.Int("m", 1, "concurrent streams per HTTP/2 connection (h1 and -upgrade-every carry one request at a time); ws: messages in flight per WebSocket, echoes matched in order")
	dur := fs.Duration("d", 10*time.Second, "duration of the measurement (unless -n is given)")
	n := fs.Int64("n", 0, "number of requests to measure, instead of -d")
	warmup := fs.Duration("warmup", 0, "run this long before measuring")
	rate := fs.Float64("rate", 0, "open loop: send this many requests per second in total, measuring latency from when each was due, or its timer woke (coordinated omission corrected), and also from its write; 0 is closed loop")
	method := fs.String("method", "GET", "request method")
	body := fs.String("body", "", "request body: a string, or @file to read it from a file")
	var headers headerFlags
	fs.Var(&headers, "H", "request header \"Name: value\" (repeatable)")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout per request and per connection set-up")
	every := fs.Bool("upgrade-every", false, "h2c-upgrade: make every request a fresh upgraded connection (measures the handshake)")
	wsH2 := fs.Bool("ws-h2", false, "ws: open each WebSocket as an RFC 8441 extended CONNECT stream on its own h2c (prior knowledge) connection")
	wsH2Upgrade := fs.Bool("ws-h2-upgrade", false, "ws: as -ws-h2, but reach HTTP/2 on each connection with Upgrade: h2c (an OPTIONS * request answered 101) instead of prior knowledge")
	wsSize := fs.Int("ws-size", load.DefaultWSSize, "ws: message size in bytes (at most 16 MiB)")
	jsonOut := fs.Bool("json", false, "print the report as JSON (see docs/bench.md for the schema)")
	htmlFile := fs.String("html", "", "also write a self-contained HTML report with the latency distribution to `file`")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to `file` (to check it is not the bottleneck)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, errors.New("bench: want exactly one URL")
	}
	o := &benchOptions{jsonOut: *jsonOut, htmlFile: *htmlFile, cpuprofile: *cpuprofile, wsH2: *wsH2 || *wsH2Upgrade, wsUpgrade: *wsH2Upgrade, wsSize: *wsSize}
	var bodyBytes []byte
	if strings.HasPrefix(*body, "@") {
		b, err := os.ReadFile((*body)[1:])
		if err != nil {
			return nil, fmt.Errorf("bench: -body: %w", err)
		}
		bodyBytes = b
	} else if *body != "" {
		bodyBytes = []byte(*body)
	}
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	d := *dur
	if setFlags["n"] {
		if *n <= 0 {
			return nil, errors.New("bench: -n must be positive")
		}
		if setFlags["d"] {
			return nil, errors.New("bench: give -d or -n, not both")
		}
		d = 0
	}
	o.cfg = load.Config{
		URL: fs.Arg(0), Conns: *conns, Streams: *streams, Requests: *n, Duration: d,
		Warmup: *warmup, Rate: *rate, Method: *method, Header: headers.h, Body: bodyBytes,
		Timeout: *timeout, UpgradeEvery: *every,
	}
	if *conns < 1 || *streams < 1 {
		return nil, errors.New("bench: -c and -m must be at least 1")
	}
	if *timeout <= 0 {
		return nil, errors.New("bench: -timeout must be positive")
	}
	if *compare != "" {
		if setFlags["mode"] {
			return nil, errors.New("bench: give -mode or -compare, not both")
		}
		for m := range strings.SplitSeq(*compare, ",") {
			o.modes = append(o.modes, strings.TrimSpace(m))
		}
	} else {
		o.modes = []string{*mode}
	}
	for _, m := range o.modes {
		switch m {
		case load.ModeH1, load.ModeH2C, load.ModeUpgrade, load.ModeWS:
		default:
			return nil, fmt.Errorf("bench: mode %q: want h1, h2c, h2c-upgrade or ws", m)
		}
		if *every && m != load.ModeUpgrade {
			return nil, fmt.Errorf("bench: -upgrade-every applies to mode h2c-upgrade, not %s", m)
		}
		if m == load.ModeWS && (setFlags["method"] || setFlags["body"]) {
			return nil, errors.New("bench: mode ws sends messages of -ws-size bytes: -method and -body do not apply")
		}
	}
	if (setFlags["ws-h2"] || setFlags["ws-h2-upgrade"] || setFlags["ws-size"]) && !slices.Contains(o.modes, load.ModeWS) {
		return nil, errors.New("bench: -ws-h2, -ws-h2-upgrade and -ws-size apply to mode ws")
	}
	if *wsSize < 1 || *wsSize > 16<<20 {
		return nil, errors.New("bench: -ws-size must be 1 to 16777216 bytes")
	}
	return o, nil
}

// bench runs `molt bench`. Progress goes to stderr: one line rewritten in
// place on a terminal, a plain line per second otherwise.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBench(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: the usage was printed
	}
	if err != nil {
		return err
	}
	// The load generator's heap is small (histograms, per-stream state), so
	// at the default GOGC it would collect very often; it keeps little
	// alive, so a higher target costs little memory.
	debug.SetGCPercent(400)
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var reports []*load.Report
	for _, m := range o.modes {
		cfg := o.cfg
		cfg.Mode = m
		if m == load.ModeWS {
			cfg.WSHTTP2, cfg.WSUpgrade, cfg.WSSize = o.wsH2, o.wsUpgrade, o.wsSize
		}
		cfg.Progress = progressPrinter(stderr, m, tty)
		rep, err := load.Run(ctx, cfg)
		if tty {
			fmt.Fprint(stderr, "\r\033[K") // clear the progress line
		}
		if err != nil {
			return fmt.Errorf("bench %s: %w", m, err)
		}
		reports = append(reports, rep)
	}
	switch {
	case o.jsonOut && len(reports) == 1:
		err = writeJSON(stdout, reports[0])
	case o.jsonOut:
		err = writeJSON(stdout, reports)
	case len(reports) == 1:
		writeText(stdout, reports[0])
	default:
		writeCompare(stdout, reports)
	}
	if err != nil {
		return err
	}
	if o.htmlFile != "" {
		if err := writeHTMLFile(o.htmlFile, reports, "molt bench "+strings.Join(args, " ")); err != nil {
			return err
		}
	}
	for _, rep := range reports {
		if rep.Requests == 0 {
			return fmt.Errorf("bench %s: no request succeeded", rep.Mode)
		}
	}
	return nil
}

func progressPrinter(w io.Writer, mode string, tty bool) func(load.Progress) {
	return func(p load.Progress) {
		phase := ""
		if p.Elapsed < 0 {
			phase = " (warmup)"
		}
		what, per := "requests", "req/s"
		if mode == load.ModeWS {
			what, per = "messages", "msg/s"
		}
		line := fmt.Sprintf("%s %5.1fs%s: %d %s, %.0f %s, %d errors, p99 %v",
			mode, p.Elapsed.Seconds(), phase, p.Requests, what, p.Rate, per, p.Errors, p.P99.Round(time.Microsecond))
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(w, line)
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtUS(v float64) string {
	return time.Duration(v * 1e3).Round(time.Microsecond).String()
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.2f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func quantileLine(q load.Quantiles) string {
	return fmt.Sprintf("min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, n=%d)",
		fmtUS(q.Min), fmtUS(q.P50), fmtUS(q.P90), fmtUS(q.P99), fmtUS(q.P999), fmtUS(q.Max), fmtUS(q.Mean), q.Count)
}

func writeText(w io.Writer, r *load.Report) {
	shape := fmt.Sprintf("%d connections x %d streams, closed loop", r.Connections, r.Streams)
	if r.Rate > 0 {
		shape = fmt.Sprintf("%d connections x %d streams, open loop at %.0f req/s", r.Connections, r.Streams, r.Rate)
	}
	if ws := r.WebSocket; ws != nil {
		writeTextWS(w, r, ws)
		return
	}
	fmt.Fprintf(w, "molt bench %s %s: %s\n", r.Mode, r.URL, shape)
	fmt.Fprintf(w, "  requests   %d ok, %d failed in %.2fs (%d connections set up)\n", r.Requests, r.Errors, r.Elapsed, r.Connects)
	fmt.Fprintf(w, "  req/s      %.1f\n", r.RequestsPerSec)
	fmt.Fprintf(w, "  bytes/s    %s/s (body %s, headers %s)\n", fmtBytes(r.BytesPerSec), fmtBytes(float64(r.BodyBytes)), fmtBytes(float64(r.HeaderBytes)))
	fmt.Fprintf(w, "  latency    %s\n", quantileLine(r.Latency))
	if q := r.LatencyFromSend; q != nil {
		fmt.Fprintf(w, "  from send  %s\n", quantileLine(*q))
	}
	fmt.Fprintf(w, "  ttfb       %s\n", quantileLine(r.TTFB))
	if u := r.Upgrade; u != nil {
		fmt.Fprintf(w, "  to 101     %s\n", quantileLine(u.To101))
		fmt.Fprintf(w, "  to first   %s\n", quantileLine(u.FirstResponse))
	}
	writeStatusAndErrors(w, "status    ", r)
}

// writeStatusAndErrors writes the status codes counted in r after label,
// then a line per kind of error, in the order of the kinds' names.
func writeStatusAndErrors(w io.Writer, label string, r *load.Report) {
	var st []string
	for _, code := range r.SortedStatus() {
		st = append(st, fmt.Sprintf("%s: %d", code, r.Status[code]))
	}
	fmt.Fprintf(w, "  %s %s\n", label, strings.Join(st, ", "))
	for _, kind := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		fmt.Fprintf(w, "  errors     %s: %d (first: %s)\n", kind, r.ErrorKinds[kind], r.ErrorSample[kind])
	}
}

func writeCompare(w io.Writer, reps []*load.Report) {
	fmt.Fprintf(w, "molt bench -compare %s: %d connections\n", reps[0].URL, reps[0].Connections)
	fmt.Fprintf(w, "%-14s %7s %12s %8s %12s %10s %10s %10s %10s\n", "mode", "streams", "req/s", "errors", "bytes/s", "p50", "p90", "p99", "max")
	for _, r := range reps {
		fmt.Fprintf(w, "%-14s %7d %12.1f %8d %12s %10s %10s %10s %10s\n", r.Mode, r.Streams, r.RequestsPerSec, r.Errors,
			fmtBytes(r.BytesPerSec), fmtUS(r.Latency.P50), fmtUS(r.Latency.P90), fmtUS(r.Latency.P99), fmtUS(r.Latency.Max))
	}
}

// writeTextWS writes the summary of a ws run: messages where the other
// modes have requests.
func writeTextWS(w io.Writer, r *load.Report, ws *load.WSReport) {
	over := "HTTP/1.1"
	switch {
	case ws.HTTP2 && ws.H2CUpgrade:
		over = "RFC 8441 over h2c reached by Upgrade"
	case ws.HTTP2:
		over = "RFC 8441 over h2c"
	}
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f msg/s", r.Rate)
	}
	fmt.Fprintf(w, "molt bench ws %s: %s, %d connections x %d in flight, messages of %d bytes, %s\n",
		r.URL, over, r.Connections, r.Streams, ws.MessageSize, loop)
	fmt.Fprintf(w, "  messages   %d echoed, %d failed in %.2fs (%d connections set up)\n", r.Requests, r.Errors, r.Elapsed, r.Connects)
	fmt.Fprintf(w, "  msg/s      %.1f\n", r.RequestsPerSec)
	fmt.Fprintf(w, "  bytes/s    %s/s echoed\n", fmtBytes(r.BytesPerSec))
	fmt.Fprintf(w, "  latency    %s\n", quantileLine(r.Latency))
	fmt.Fprintf(w, "  handshake  %s\n", quantileLine(ws.Handshake))
	writeStatusAndErrors(w, "handshakes", r)
}
