//go:build unix

package websocket_test

// Interoperability with clients molt did not write, run as separate
// programs against a molt server on a loopback port:
//
//   - TestNodeWS: the npm ws client over HTTP/1.1 with permessage-deflate
//     (testdata/interop/ws-client.mjs);
//   - TestNodeHTTP2ExtendedConnect: Node's built-in http2 module over h2c
//     prior knowledge, RFC 8441 extended CONNECT, framing with ws's
//     Sender, Receiver and PerMessageDeflate (testdata/interop/h2-client.mjs);
//   - TestChromium: headless Chromium loads testdata/interop/browser.html
//     from molt, which opens a WebSocket back to molt, and posts its
//     results to /result.
//
// The Node scripts need testdata/interop/node_modules: run
// `npm ci --no-audit --no-fund` in testdata/interop (.ci/run does). A
// missing node, chromium or node_modules skips the test, unless
// MOLT_REQUIRE_PEERS=1 is set (CI sets it), in which case it fails. The
// environment variables NODE and CHROMIUM may name the programs.
//
// The file is unix-only because Chromium is stopped through its process
// group.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/router"
	"github.com/molt-http/molt/websocket"
)

const (
	// interopDir holds the Node project and the browser page.
	interopDir = "testdata/interop"
	// interopTimeout bounds one run of a Node client or of Chromium.
	interopTimeout = 2 * time.Minute
	// interopCompressedMax is the most bytes the 1 MiB compressible text
	// may take on the wire each way when permessage-deflate is on; it
	// takes a few KiB compressed and 1 MiB when not.
	interopCompressedMax = 64 << 10
)

// interopRequirePeers reports whether a missing tool must fail the test.
func interopRequirePeers() bool { return os.Getenv("MOLT_REQUIRE_PEERS") == "1" }

// interopMissing skips the test for a missing tool, or fails it under
// MOLT_REQUIRE_PEERS=1.
func interopMissing(t *testing.T, msg string) {
	t.Helper()
	if interopRequirePeers() {
		t.Fatalf("MOLT_REQUIRE_PEERS=1: %s", msg)
	}
	t.Skip(msg)
}

// interopLookTool returns the path of the program name, taken from the
// environment variable env if set, else from PATH.
func interopLookTool(t *testing.T, name, env, install string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%s: %v", env, p, err) // naming a tool that is not there is a mistake
		}
		return path
	}
	path, err := exec.LookPath(name)
	if err != nil {
		interopMissing(t, fmt.Sprintf("%s not found in PATH (set %s=/path/to/%s; on Debian: %s): %v", name, env, name, install, err))
	}
	return path
}

// interopNode returns the path of node after checking that npm ci has
// installed the ws version that package-lock.json pins.
func interopNode(t *testing.T) string {
	t.Helper()
	node := interopLookTool(t, "node", "NODE", "apt-get install nodejs npm")
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(interopDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	want := lock.Packages["node_modules/ws"].Version
	if want == "" {
		t.Fatal("package-lock.json pins no node_modules/ws")
	}
	var installed struct {
		Version string `json:"version"`
	}
	b, err = os.ReadFile(filepath.Join(interopDir, "node_modules", "ws", "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &installed)
	}
	if err != nil {
		interopMissing(t, fmt.Sprintf("ws is not installed (run `npm ci --no-audit --no-fund` in websocket/%s): %v", interopDir, err))
	}
	if installed.Version != want {
		interopMissing(t, fmt.Sprintf("node_modules has ws %s, package-lock.json pins %s: run `npm ci --no-audit --no-fund` in websocket/%s", installed.Version, want, interopDir))
	}
	return node
}

// interopServerSide is what the echo endpoint saw of one connection.
type interopServerSide struct {
	http2    bool
	messages int
	code     websocket.StatusCode // of the error that ended the read loop
	reason   string
	err      error
}

// interopEcho is the echo endpoint of /tmp/ws-api.md: every message back
// with its type, any origin, permessage-deflate without context takeover.
// It reports each connection on seen when its read loop ends.
func interopEcho(seen chan<- interopServerSide) http.Handler {
	return websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		s := interopServerSide{http2: c.HTTP2()}
		defer func() {
			select {
			case seen <- s:
			default:
			}
		}()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				s.err = err
				s.code = websocket.CloseStatus(err)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					s.reason = ce.Reason
				}
				return
			}
			s.messages++
			if err := c.Write(ctx, typ, msg); err != nil {
				s.err = err
				return
			}
		}
	}, websocket.Options{AllowAnyOrigin: true, Compression: websocket.CompressionNoContextTakeover})
}

// interopExchange is one message sent and its echo, as a client reports it.
type interopExchange struct {
	Name        string `json:"name"`
	SentType    string `json:"sentType"`
	SentLen     int    `json:"sentLen"`
	GotType     string `json:"gotType"`
	GotLen      int    `json:"gotLen"`
	Equal       bool   `json:"equal"`
	WireRead    int    `json:"wireRead"`    // Node clients only
	WireWritten int    `json:"wireWritten"` // Node clients only
}

// interopReport is the JSON a client prints (Node) or posts (browser).
type interopReport struct {
	Client     string            `json:"client"`
	Error      string            `json:"error"`
	Status     int               `json:"status"`
	Extensions string            `json:"extensions"`
	Exchanges  []interopExchange `json:"exchanges"`
	Ping       struct {
		Sent string `json:"sent"`
		Got  string `json:"got"`
	} `json:"ping"`
	Close struct {
		Code     int    `json:"code"`
		Reason   string `json:"reason"`
		WasClean bool   `json:"wasClean"` // browser only
	} `json:"close"`

	WSVersion             string `json:"wsVersion"`             // ws-client.mjs
	NodeVersion           string `json:"nodeVersion"`           // h2-client.mjs
	EnableConnectProtocol bool   `json:"enableConnectProtocol"` // h2-client.mjs
	AcceptHeader          bool   `json:"acceptHeader"`          // h2-client.mjs
	StreamRSTCode         int    `json:"streamRstCode"`         // h2-client.mjs
	UserAgent             string `json:"userAgent"`             // browser
}

// interopWant is an exchange a client must report, in this order.
type interopWant struct {
	name string
	typ  string
	n    int
}

// The exchanges of common.mjs (Node) and browser.html, which has no
// fragmented message (a browser cannot send one).
var (
	interopWantNode = []interopWant{
		{"text", "text", 11},
		{"text-utf8", "text", 22},
		{"text-empty", "text", 0},
		{"binary-256", "binary", 256},
		{"text-fragmented", "text", 12},
		{"binary-1MiB-random", "binary", 1 << 20},
		{"text-1MiB-compressible", "text", 1 << 20},
	}
	interopWantBrowser = []interopWant{
		{"text", "text", 11},
		{"text-utf8", "text", 22},
		{"text-empty", "text", 0},
		{"binary-256", "binary", 256},
		{"binary-1MiB-random", "binary", 1 << 20},
		{"text-1MiB-compressible", "text", 1 << 20},
	}
)

// checkExchanges asserts that every message came back whole with its
// type, and, if wire is set, that the compressible message crossed the
// wire compressed both ways.
func (rep *interopReport) checkExchanges(t *testing.T, want []interopWant, wire bool) {
	t.Helper()
	if len(rep.Exchanges) != len(want) {
		t.Errorf("%s: %d exchanges reported, want %d: %+v", rep.Client, len(rep.Exchanges), len(want), rep.Exchanges)
		return
	}
	for i, w := range want {
		x := rep.Exchanges[i]
		if x.Name != w.name || x.SentType != w.typ || x.SentLen != w.n {
			t.Errorf("%s: exchange %d sent %s (%s, %d bytes), want %s (%s, %d bytes)", rep.Client, i, x.Name, x.SentType, x.SentLen, w.name, w.typ, w.n)
			continue
		}
		if x.GotType != w.typ || x.GotLen != w.n || !x.Equal {
			t.Errorf("%s: %s: echo is %s of %d bytes (equal=%v), want the same %s of %d bytes", rep.Client, x.Name, x.GotType, x.GotLen, x.Equal, w.typ, w.n)
		}
		if wire && w.name == "text-1MiB-compressible" && (x.WireRead > interopCompressedMax || x.WireWritten > interopCompressedMax) {
			t.Errorf("%s: %s took %d bytes to send and %d to receive on the wire, want at most %d each (compressed)", rep.Client, x.Name, x.WireWritten, x.WireRead, interopCompressedMax)
		}
	}
}

// interopCheckDeflate asserts that header (a response's
// Sec-WebSocket-Extensions) accepts permessage-deflate without context
// takeover either way, as CompressionNoContextTakeover must, with no
// parameter beyond those of RFC 7692.
func interopCheckDeflate(t *testing.T, client, header string) {
	t.Helper()
	parts := strings.Split(header, ";")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if parts[0] != "permessage-deflate" || strings.Contains(header, ",") {
		t.Errorf("%s: Sec-WebSocket-Extensions %q, want permessage-deflate alone", client, header)
		return
	}
	params := map[string]bool{}
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(p, "=")
		switch name = strings.TrimSpace(name); name {
		case "server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits":
			if params[name] {
				t.Errorf("%s: Sec-WebSocket-Extensions %q repeats %s", client, header, name)
			}
			params[name] = true
		default:
			t.Errorf("%s: Sec-WebSocket-Extensions %q has unknown parameter %q", client, header, p)
		}
	}
	for _, need := range []string{"server_no_context_takeover", "client_no_context_takeover"} {
		if !params[need] {
			t.Errorf("%s: Sec-WebSocket-Extensions %q lacks %s", client, header, need)
		}
	}
}

// interopCheckServer asserts what the echo endpoint saw of the one
// connection a client made: n messages, then the client's close 1000 "bye".
func interopCheckServer(t *testing.T, seen <-chan interopServerSide, http2 bool, n int) {
	t.Helper()
	var s interopServerSide
	select {
	case s = <-seen:
	case <-time.After(interopTimeout):
		t.Fatalf("the echo handler did not return within %v of the client's close", interopTimeout)
	}
	if s.http2 != http2 || s.messages != n || s.code != websocket.StatusNormalClosure || s.reason != "bye" {
		t.Errorf("server side: HTTP2()=%v, %d messages, ended by %v (code %d, reason %q); want HTTP2()=%v, %d messages, close 1000 \"bye\"",
			s.http2, s.messages, s.err, s.code, s.reason, http2, n)
	}
	select {
	case s := <-seen:
		t.Errorf("server side: a second connection: %+v", s)
	default:
	}
}

// interopRunNode runs a script of testdata/interop with node and returns
// its report, failing the test if it did not run to the end.
func interopRunNode(t *testing.T, node, script string, args ...string) *interopReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = interopDir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		runErr = fmt.Errorf("%w (timeout %v)", ctx.Err(), interopTimeout)
	}
	var rep interopReport
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("node %s: %v; no report (%v)\nstdout:\n%s\nstderr:\n%s", script, runErr, err, stdout.Bytes(), stderr.Bytes())
	}
	if runErr != nil || rep.Error != "" {
		t.Fatalf("node %s: %v: %s\nstderr:\n%s", script, runErr, rep.Error, stderr.Bytes())
	}
	return &rep
}

func TestNodeWS(t *testing.T) {
	t.Parallel()
	node := interopNode(t)
	seen := make(chan interopServerSide, 4)
	r := router.New()
	r.Handle("/ws", interopEcho(seen))
	ts := h2ctest.NewServer(t, r)

	rep := interopRunNode(t, node, "ws-client.mjs", "ws://"+ts.Addr+"/ws")
	t.Logf("ws %s: negotiated %q", rep.WSVersion, rep.Extensions)
	if rep.Status != http.StatusSwitchingProtocols {
		t.Errorf("handshake status %d, want 101", rep.Status)
	}
	interopCheckDeflate(t, rep.Client, rep.Extensions)
	rep.checkExchanges(t, interopWantNode, true)
	if rep.Ping.Got != rep.Ping.Sent {
		t.Errorf("ping %q answered with pong %q", rep.Ping.Sent, rep.Ping.Got)
	}
	if rep.Close.Code != 1000 {
		t.Errorf("the server answered the close with %d %q, want 1000", rep.Close.Code, rep.Close.Reason)
	}
	interopCheckServer(t, seen, false, len(interopWantNode))
}

func TestNodeHTTP2ExtendedConnect(t *testing.T) {
	t.Parallel()
	node := interopNode(t)
	seen := make(chan interopServerSide, 4)
	r := router.New()
	r.Handle("/ws", interopEcho(seen))
	ts := h2ctest.NewServer(t, r)

	rep := interopRunNode(t, node, "h2-client.mjs", ts.URL, "/ws")
	t.Logf("node %s: negotiated %q; stream closed with RST_STREAM code %d", rep.NodeVersion, rep.Extensions, rep.StreamRSTCode)
	if !rep.EnableConnectProtocol {
		t.Errorf("no SETTINGS_ENABLE_CONNECT_PROTOCOL=1 from the server")
	}
	if rep.Status != http.StatusOK || rep.AcceptHeader {
		t.Errorf("extended CONNECT answered %d (Sec-WebSocket-Accept present: %v), want 200 without it", rep.Status, rep.AcceptHeader)
	}
	interopCheckDeflate(t, rep.Client, rep.Extensions)
	rep.checkExchanges(t, interopWantNode, true)
	if rep.Ping.Got != rep.Ping.Sent {
		t.Errorf("ping %q answered with pong %q", rep.Ping.Sent, rep.Ping.Got)
	}
	if rep.Close.Code != 1000 {
		t.Errorf("the server answered the close with %d %q, want 1000", rep.Close.Code, rep.Close.Reason)
	}
	if rep.StreamRSTCode != 0 {
		t.Errorf("the stream ended with RST_STREAM code %d, want a clean end (END_STREAM both ways, or NO_ERROR)", rep.StreamRSTCode)
	}
	interopCheckServer(t, seen, true, len(interopWantNode))
}

func TestChromium(t *testing.T) {
	t.Parallel()
	chromium := interopLookTool(t, "chromium", "CHROMIUM", "apt-get install chromium")
	page, err := os.ReadFile(filepath.Join(interopDir, "browser.html"))
	if err != nil {
		t.Fatal(err)
	}

	seen := make(chan interopServerSide, 4)
	results := make(chan []byte, 1)
	r := router.New()
	r.Handle("/ws", interopEcho(seen))
	r.Get("/browser.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	r.Post("/result", func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case results <- b:
		default: // only the first result counts
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// Chromium asks for /favicon.ico; the router's 404 answers it.
	ts := h2ctest.NewServer(t, r)

	home := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-component-update", "--disable-sync", "--no-proxy-server",
		"--user-data-dir="+filepath.Join(home, "profile"),
		ts.URL+"/browser.html")
	// Chromium's helpers share its process group; stop them all together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopChromium := func() error {
		cancel()
		return <-exited
	}

	var b []byte
	select {
	case b = <-results:
		stopChromium()
	case err := <-exited:
		t.Fatalf("chromium exited before the page posted its result: %v\noutput:\n%s", err, output.Bytes())
	case <-ctx.Done():
		err := stopChromium()
		t.Fatalf("no result from the page within %v (chromium: %v)\noutput:\n%s", interopTimeout, err, output.Bytes())
	}

	var rep interopReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("result %q: %v", b, err)
	}
	if rep.Error != "" {
		t.Fatalf("the page failed: %s\nchromium output:\n%s", rep.Error, output.Bytes())
	}
	t.Logf("%s: negotiated %q", rep.UserAgent, rep.Extensions)
	interopCheckDeflate(t, rep.Client, rep.Extensions)
	rep.checkExchanges(t, interopWantBrowser, false)
	if rep.Close.Code != 1000 || !rep.Close.WasClean {
		t.Errorf("close event: code %d %q, wasClean %v; want 1000, clean", rep.Close.Code, rep.Close.Reason, rep.Close.WasClean)
	}
	interopCheckServer(t, seen, false, len(interopWantBrowser))
}
