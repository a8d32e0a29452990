package middleware_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/server"
)

// text is a compressible body of a few KiB.
var compText = []byte(strings.Repeat("molt speaks h1, h2c-upgrade and h2c-prior on one port. ", 100))

// decoder returns a reader that decodes r from the content coding enc,
// with the same libraries Compress encodes with.
func compDecoder(t testing.TB, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip.NewReader: %v", err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatalf("zstd.NewReader: %v", err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("no decoder for %q", enc)
	return nil
}

// decode decodes body from the content coding enc ("" for none).
func compDecode(t testing.TB, enc string, body []byte) []byte {
	t.Helper()
	if enc == "" {
		return body
	}
	b, err := io.ReadAll(compDecoder(t, enc, bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("decoding %s: %v", enc, err)
	}
	return b
}

// get sends a request with the given Accept-Encoding ("-" for none) and
// returns the response with its body read.
func compGet(t *testing.T, client *http.Client, method, url, acceptEncoding string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acceptEncoding != "-" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, h2ctest.ReadBody(t, resp)
}

func TestCompressRoundTrip(t *testing.T) { h2ctest.Run(t, testCompressRoundTrip) }

func testCompressRoundTrip(t *testing.T, mode h2ctest.Mode) {
	mux := http.NewServeMux()
	// One Write with a Content-Type, no Content-Length.
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(compText)
	})
	// Many small writes that cross MinSize in the middle of one.
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for b := compText; len(b) > 0; b = b[min(len(b), 100):] {
			w.Write(b[:min(len(b), 100)])
		}
	})
	// WriteString, and a Content-Length that the coding makes wrong.
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(compText)))
		io.WriteString(w, string(compText))
	})
	// ReadFrom, and no Content-Type: sniffed as HTML before coding.
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, io.LimitReader(io.MultiReader(strings.NewReader("<!DOCTYPE html>"), bytes.NewReader(compText)), 1<<20))
	})
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(mux))
	client := ts.Client(t, mode)
	for _, enc := range []string{"zstd", "br", "gzip"} {
		for _, path := range []string{"/write", "/small", "/length", "/sniff"} {
			t.Run(enc+path, func(t *testing.T) {
				resp, body := compGet(t, client, "GET", ts.URL+path, enc)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if got := resp.Header.Get("Content-Encoding"); got != enc {
					t.Fatalf("Content-Encoding %q, want %q", got, enc)
				}
				if got := resp.Header.Values("Vary"); !slices.Equal(got, []string{"Accept-Encoding"}) {
					t.Errorf("Vary %q, want [Accept-Encoding]", got)
				}
				// The server may count the coded body, never the handler's.
				if resp.ContentLength != -1 && resp.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %d, body of %d bytes", resp.ContentLength, len(body))
				}
				want := compText
				if path == "/sniff" {
					want = append([]byte("<!DOCTYPE html>"), compText...)
					if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
						t.Errorf("Content-Type %q, want the sniffed text/html; charset=utf-8", ct)
					}
				}
				if len(body) >= len(want) {
					t.Errorf("coded body of %d bytes is not smaller than %d", len(body), len(want))
				}
				if got := compDecode(t, enc, body); !bytes.Equal(got, want) {
					t.Errorf("decoded body of %d bytes (%.30q), want %d bytes", len(got), got, len(want))
				}
			})
		}
	}
}

// negotiationTests are Accept-Encoding values and the coding Compress must
// choose with its default options (zstd, br, gzip), "" for none.
var compNegotiationTests = []struct {
	accept string // "-": no Accept-Encoding field
	want   string
}{
	{"-", ""},
	{"", ""},
	{"gzip", "gzip"},
	{"br", "br"},
	{"zstd", "zstd"},
	{"GZIP", "gzip"},
	{"x-gzip", "gzip"},
	{"gzip, deflate, br, zstd", "zstd"}, // ties: server preference
	{"gzip, br", "br"},
	{"deflate", ""},
	{"compress, deflate", ""},
	{"gzip;q=1.0, br;q=0.5", "gzip"},
	{"gzip;q=0.5, br;q=0.8, zstd;q=0.1", "br"},
	{"gzip; q=0.5 , br ;Q=0.8", "br"}, // OWS around ";", capital Q
	{"gzip;q=0.001", "gzip"},
	{"gzip;q=0", ""},
	{"gzip;q=0.000", ""},
	{"*", "zstd"},
	{"*;q=0", ""},
	{"*;q=0.5, gzip", "gzip"},
	{"*, zstd;q=0", "br"},
	{"*, zstd;q=0, br;q=0", "gzip"},
	{"gzip, identity;q=0", "gzip"},
	{"identity", ""},
	{"gzip;q=0.5, identity", ""},           // identity weighs more
	{"gzip;q=0.5, identity;q=0.5", "gzip"}, // a tie goes to coding
	{"gzip, gzip;q=0", ""},                 // listed twice: the lower weight
	{"gzip;q=0, gzip", ""},
	{"br;q=abc, gzip", "gzip"}, // an invalid weight drops the entry
	{"br;q=2", ""},
	{"br;q=-1", ""},
	{"br;q=1.001", ""},
	{"br;q=0.1234", ""},
	{"br;q=", ""},
	{"br;q", ""},
	{"br;;;", ""},
	{";;;", ""},
	{",,,", ""},
	{"br;level=1", ""},
	{"br;q=0.5;x=y", ""},
	{"br; q = 0.5", ""},
	{"b r", ""},
	{"\"gzip\"", ""},
	{"gzip;q=1.", "gzip"},
	{"gzip;q=0., br", "br"},
	{strings.Repeat("x,", 30000) + "gzip", "gzip"},
	{strings.Repeat("gzip;q=0.5;;", 10000), ""},
	{strings.Repeat(";", 100000), ""},
}

func TestCompressNegotiation(t *testing.T) { h2ctest.Run(t, testCompressNegotiation) }

func testCompressNegotiation(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(compText)
		})))
	client := ts.Client(t, mode)
	for _, tt := range compNegotiationTests {
		resp, body := compGet(t, client, "GET", ts.URL, tt.accept)
		name := tt.accept
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if resp.StatusCode != 200 {
			t.Errorf("%q: status %d", name, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Encoding"); got != tt.want {
			t.Errorf("%q: Content-Encoding %q, want %q", name, got, tt.want)
			continue
		}
		if got := compDecode(t, tt.want, body); !bytes.Equal(got, compText) {
			t.Errorf("%q: body of %d bytes, want %d", name, len(got), len(compText))
		}
		if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("%q: Vary %q, want Accept-Encoding", name, got)
		}
	}
}

// TestCompressNegotiationHuge sends headers too large for a real server to
// the middleware directly: they must cost linear time and not panic.
func TestCompressNegotiationHuge(t *testing.T) {
	h := middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(compText)
	}))
	tests := []struct {
		values []string
		want   string
	}{
		{[]string{strings.Repeat("gzip;q=0.5,", 1<<20), "br;q=0.6"}, "br"},
		{[]string{strings.Repeat("q=", 1<<20)}, ""},
		{[]string{strings.Repeat(" ", 1<<20) + "gzip"}, "gzip"},
		{slices.Repeat([]string{"deflate"}, 10000), ""},
		{append(slices.Repeat([]string{""}, 10000), "zstd;q=0.1"), "zstd"},
		{[]string{"gzip\x00, br"}, "br"},
		{[]string{"\x00\x01\xff;q=1, gzip;q=\x00"}, ""},
		{[]string{"ünïcödé, gzip"}, "gzip"},
		{[]string{"gzip;q=0.5\r\n, br"}, "br"},
	}
	for i, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Accept-Encoding"] = tt.values
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := w.Header().Get("Content-Encoding"); got != tt.want {
			t.Errorf("%d: Content-Encoding %q, want %q", i, got, tt.want)
		}
	}
}

// TestCompressEncodingsOption checks that the server's order of preference
// breaks ties, and that a coding left out is never used.
func TestCompressEncodingsOption(t *testing.T) {
	tests := []struct {
		encodings []string
		accept    string
		want      string
	}{
		{[]string{"gzip", "br"}, "zstd, br, gzip", "gzip"},
		{[]string{"gzip", "br"}, "zstd", ""},
		{[]string{"gzip", "br"}, "*", "gzip"},
		{[]string{"BR"}, "gzip, br;q=0.1", "br"},
		{[]string{"zstd", "gzip"}, "gzip;q=0.9, zstd;q=0.8", "gzip"},
	}
	for _, tt := range tests {
		h := middleware.Compress(middleware.CompressOptions{Encodings: tt.encodings})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(compText)
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Encoding", tt.accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		enc := w.Header().Get("Content-Encoding")
		if enc != tt.want {
			t.Errorf("Encodings %q, Accept-Encoding %q: got %q, want %q", tt.encodings, tt.accept, enc, tt.want)
			continue
		}
		if got := compDecode(t, enc, w.Body.Bytes()); !bytes.Equal(got, compText) {
			t.Errorf("Encodings %q, Accept-Encoding %q: body does not round-trip", tt.encodings, tt.accept)
		}
	}
}

func TestCompressLevels(t *testing.T) {
	// Every valid level of every coding produces a body that decodes.
	for _, enc := range []string{"zstd", "br", "gzip"} {
		top := map[string]int{"zstd": 22, "br": 11, "gzip": 9}[enc]
		for level := 1; level <= top; level++ {
			var lv middleware.CompressLevel
			switch enc {
			case "zstd":
				lv.Zstd = level
			case "br":
				lv.Brotli = level
			case "gzip":
				lv.Gzip = level
			}
			h := middleware.Compress(middleware.CompressOptions{Level: lv, Encodings: []string{enc}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Write(compText)
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", enc)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if got := w.Header().Get("Content-Encoding"); got != enc {
				t.Fatalf("%s level %d: Content-Encoding %q", enc, level, got)
			}
			if got := compDecode(t, enc, w.Body.Bytes()); !bytes.Equal(got, compText) {
				t.Errorf("%s level %d: body does not round-trip", enc, level)
			}
		}
	}
}

func TestCompressMinSize(t *testing.T) { h2ctest.Run(t, testCompressMinSize) }

func testCompressMinSize(t *testing.T, mode h2ctest.Mode) {
	// The body is the first n bytes of text, in writes of the size given
	// by the query, with a Content-Length if asked.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		chunk, _ := strconv.Atoi(r.URL.Query().Get("chunk"))
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Query().Has("cl") {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		for b := compText[:n]; len(b) > 0; b = b[min(len(b), chunk):] {
			w.Write(b[:min(len(b), chunk)])
		}
	})
	tests := []struct {
		minSize  int
		query    string
		n        int
		wantCode bool
	}{
		{0, "chunk=5000", 1023, false},
		{0, "chunk=5000", 1024, true},
		{0, "chunk=1", 1023, false},
		{0, "chunk=1", 1024, true},
		{0, "chunk=300", 1100, true},
		{0, "chunk=5000&cl", 1023, false},
		{0, "chunk=5000&cl", 1024, true},
		{0, "chunk=1&cl", 2000, true},
		{0, "chunk=1", 0, false},
		{1, "chunk=1", 1, true},
		{1, "chunk=1", 0, false},
		{4000, "chunk=100", 3999, false},
		{4000, "chunk=100", 4000, true},
	}
	servers := map[int]*h2ctest.Server{}
	for _, tt := range tests {
		ts := servers[tt.minSize]
		if ts == nil {
			ts = h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{MinSize: tt.minSize})(handler))
			servers[tt.minSize] = ts
		}
		url := fmt.Sprintf("%s/?n=%d&%s", ts.URL, tt.n, tt.query)
		resp, body := compGet(t, ts.Client(t, mode), "GET", url, "gzip")
		enc := resp.Header.Get("Content-Encoding")
		if (enc == "gzip") != tt.wantCode {
			t.Errorf("MinSize %d, %d bytes, %s: Content-Encoding %q, want coded %v", tt.minSize, tt.n, tt.query, enc, tt.wantCode)
			continue
		}
		if got := compDecode(t, enc, body); !bytes.Equal(got, compText[:tt.n]) {
			t.Errorf("MinSize %d, %d bytes, %s: body of %d bytes, want %d", tt.minSize, tt.n, tt.query, len(got), tt.n)
		}
		// Vary goes with every response that a bigger body would have had
		// compressed, except the empty one, whose type nobody knows.
		if vary := resp.Header.Get("Vary"); vary != "Accept-Encoding" && tt.n > 0 {
			t.Errorf("MinSize %d, %d bytes, %s: Vary %q", tt.minSize, tt.n, tt.query, vary)
		}
		if !tt.wantCode && strings.Contains(tt.query, "cl") && resp.ContentLength != int64(tt.n) {
			t.Errorf("MinSize %d, %d bytes, %s: Content-Length %d", tt.minSize, tt.n, tt.query, resp.ContentLength)
		}
	}
}

func TestCompressContentTypes(t *testing.T) { h2ctest.Run(t, testCompressContentTypes) }

func testCompressContentTypes(t *testing.T, mode h2ctest.Mode) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct, ok := r.URL.Query()["ct"]; ok {
			w.Header()["Content-Type"] = ct
		}
		if r.URL.Query().Has("png") {
			w.Write([]byte("\x89PNG\x0D\x0A\x1A\x0A"))
		}
		w.Write(compText)
	})
	tests := []struct {
		types []string
		ct    string // "-": not set; "png": not set, body sniffed as image/png
		want  bool
	}{
		{nil, "text/plain", true},
		{nil, "text/html; charset=utf-8", true},
		{nil, "TEXT/CSS", true},
		{nil, "text/event-stream", true},
		{nil, "application/json", true},
		{nil, "application/json;charset=utf-8", true},
		{nil, " application/javascript ; x=y", true},
		{nil, "image/svg+xml", true},
		{nil, "application/wasm", true},
		{nil, "image/png", false},
		{nil, "application/octet-stream", false},
		{nil, "application/zip", false},
		{nil, "font/woff2", false},
		{nil, "text", false},
		{nil, "", false},
		{nil, "-", true},    // sniffed: text/plain
		{nil, "png", false}, // sniffed: image/png
		{[]string{"application/x-custom"}, "application/x-custom", true},
		{[]string{"application/x-custom"}, "text/plain", false},
		{[]string{"image/*"}, "image/png", true},
		{[]string{"image/*"}, "image", false},
		{[]string{"image/*"}, "-", false},
		{[]string{"*/*"}, "application/octet-stream", true},
		{[]string{}, "text/plain", false},
	}
	for _, tt := range tests {
		ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{ContentTypes: tt.types})(handler))
		url := ts.URL + "/"
		switch tt.ct {
		case "-":
		case "png":
			url += "?png"
		default:
			url += "?ct=" + neturl.QueryEscape(tt.ct)
		}
		resp, body := compGet(t, ts.Client(t, mode), "GET", url, "gzip")
		enc := resp.Header.Get("Content-Encoding")
		if (enc == "gzip") != tt.want {
			t.Errorf("types %q, Content-Type %q: Content-Encoding %q, want coded %v", tt.types, tt.ct, enc, tt.want)
			continue
		}
		want := compText
		if tt.ct == "png" {
			want = append([]byte("\x89PNG\x0D\x0A\x1A\x0A"), compText...)
		}
		if got := compDecode(t, enc, body); !bytes.Equal(got, want) {
			t.Errorf("types %q, Content-Type %q: body does not round-trip", tt.types, tt.ct)
		}
		wantVary := ""
		if tt.want {
			wantVary = "Accept-Encoding"
		}
		if vary := resp.Header.Get("Vary"); vary != wantVary {
			t.Errorf("types %q, Content-Type %q: Vary %q, want %q", tt.types, tt.ct, vary, wantVary)
		}
	}
}

func TestCompressNot(t *testing.T) { h2ctest.Run(t, testCompressNot) }

// testCompressNot checks the responses that are never compressed.
func testCompressNot(t *testing.T, mode h2ctest.Mode) {
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.Header().Set("Content-Type", "text/plain")
		if code == http.StatusPartialContent {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(compText)-1, 2*len(compText)))
		}
		w.WriteHeader(code)
		w.Write(compText)
	})
	mux.HandleFunc("/encoded", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "identity")
		w.Write(compText)
	})
	mux.HandleFunc("/no-transform", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "public, No-Transform")
		w.Write(compText)
	})
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(compText)))
		w.Header().Set("ETag", `"abc"`)
		w.Write(compText)
	})
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(mux))
	client := ts.Client(t, mode)
	tests := []struct {
		method, path string
		status       int
		body         []byte
		vary         string
	}{
		{"GET", "/status/204", 204, nil, ""},
		{"GET", "/status/304", 304, nil, "Accept-Encoding"},
		{"GET", "/status/206", 206, compText, ""},
		{"GET", "/encoded", 200, compText, ""},
		{"GET", "/no-transform", 200, compText, ""},
		{"HEAD", "/head", 200, nil, "Accept-Encoding"},
		// For contrast: statuses that are compressed.
		{"GET", "/status/404", 404, compText, "Accept-Encoding"},
		{"GET", "/status/201", 201, compText, "Accept-Encoding"},
	}
	for _, tt := range tests {
		resp, body := compGet(t, client, tt.method, ts.URL+tt.path, "zstd, br, gzip")
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			continue
		}
		enc := resp.Header.Get("Content-Encoding")
		wantEnc := ""
		switch {
		case tt.path == "/encoded":
			wantEnc = "identity"
		case tt.vary != "" && tt.body != nil:
			wantEnc = "zstd"
		}
		if enc != wantEnc {
			t.Errorf("%s %s: Content-Encoding %q, want %q", tt.method, tt.path, enc, wantEnc)
			continue
		}
		if enc == "identity" {
			enc = ""
		}
		if got := compDecode(t, enc, body); !bytes.Equal(got, tt.body) {
			t.Errorf("%s %s: body of %d bytes, want %d", tt.method, tt.path, len(got), len(tt.body))
		}
		if vary := resp.Header.Get("Vary"); vary != tt.vary {
			t.Errorf("%s %s: Vary %q, want %q", tt.method, tt.path, vary, tt.vary)
		}
		if tt.method == "HEAD" {
			if resp.ContentLength != int64(len(compText)) {
				t.Errorf("HEAD: Content-Length %d, want %d", resp.ContentLength, len(compText))
			}
			if et := resp.Header.Get("ETag"); et != `"abc"` {
				t.Errorf("HEAD: ETag %q, want the strong \"abc\"", et)
			}
		}
	}
}

func TestCompressHeaders(t *testing.T) { h2ctest.Run(t, testCompressHeaders) }

// testCompressHeaders checks the header fields that compression changes:
// Vary merged, ETag weakened, Accept-Ranges and Content-Length dropped.
func testCompressHeaders(t *testing.T, mode h2ctest.Mode) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(compText)))
		h.Set("Accept-Ranges", "bytes")
		if v := r.URL.Query().Get("vary"); v != "" {
			h.Set("Vary", v)
		}
		if e := r.URL.Query().Get("etag"); e != "" {
			h.Set("ETag", e)
		}
		w.Write(compText)
	})
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(handler))
	client := ts.Client(t, mode)
	tests := []struct {
		query, accept string
		vary          []string
		etag          string
	}{
		{"vary=Origin", "gzip", []string{"Origin", "Accept-Encoding"}, ""},
		{"vary=Origin", "-", []string{"Origin", "Accept-Encoding"}, ""},
		{"vary=accept-encoding", "gzip", []string{"accept-encoding"}, ""},
		{"vary=Origin,%20Accept-Encoding", "gzip", []string{"Origin, Accept-Encoding"}, ""},
		{"vary=*", "gzip", []string{"*"}, ""},
		{"etag=%22v1%22", "gzip", []string{"Accept-Encoding"}, `W/"v1"`},
		{"etag=W/%22v1%22", "gzip", []string{"Accept-Encoding"}, `W/"v1"`},
		{"etag=%22v1%22", "deflate", []string{"Accept-Encoding"}, `"v1"`},
	}
	for _, tt := range tests {
		resp, body := compGet(t, client, "GET", ts.URL+"/?"+tt.query, tt.accept)
		coded := tt.accept == "gzip"
		if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != coded {
			t.Errorf("%s: Content-Encoding %q", tt.query, got)
		}
		if got := resp.Header.Values("Vary"); !slices.Equal(got, tt.vary) {
			t.Errorf("%s, %s: Vary %q, want %q", tt.query, tt.accept, got, tt.vary)
		}
		if got := resp.Header.Get("ETag"); got != tt.etag {
			t.Errorf("%s, %s: ETag %q, want %q", tt.query, tt.accept, got, tt.etag)
		}
		wantRanges, wantLength := "", int64(len(body)) // the server may count the coded body
		if !coded {
			wantRanges, wantLength = "bytes", int64(len(compText))
		}
		if got := resp.Header.Get("Accept-Ranges"); got != wantRanges {
			t.Errorf("%s, %s: Accept-Ranges %q, want %q", tt.query, tt.accept, got, wantRanges)
		}
		if resp.ContentLength != wantLength && (!coded || resp.ContentLength != -1) {
			t.Errorf("%s, %s: Content-Length %d, want %d", tt.query, tt.accept, resp.ContentLength, wantLength)
		}
		enc := ""
		if coded {
			enc = "gzip"
		}
		if got := compDecode(t, enc, body); !bytes.Equal(got, compText) {
			t.Errorf("%s, %s: body does not round-trip", tt.query, tt.accept)
		}
	}
}

func TestCompressInformational(t *testing.T) { h2ctest.Run(t, testCompressInformational) }

func testCompressInformational(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/css")
			if err := server.EarlyHints(w, r, "</app.css>; rel=preload; as=style"); err != nil {
				t.Errorf("EarlyHints: %v", err)
			}
			w.Write(compText)
		})))
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s %s %s", code, h.Get("Link"), h.Get("Content-Encoding"), h.Get("Vary")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", ts.URL, nil)
	req.Header.Set("Accept-Encoding", "br")
	resp, err := ts.Client(t, mode).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := h2ctest.ReadBody(t, resp)
	if want := []string{"103 </app.css>; rel=preload; as=style  "}; !slices.Equal(hints, want) {
		t.Errorf("informational responses %q, want %q", hints, want)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("Content-Type") != "text/css" {
		t.Fatalf("status %d, Content-Encoding %q, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
	if got := compDecode(t, "br", body); !bytes.Equal(got, compText) {
		t.Errorf("body does not round-trip")
	}
}

func TestCompressStreaming(t *testing.T) { h2ctest.Run(t, testCompressStreaming) }

// testCompressStreaming reads a flushed event, decoded, while the handler
// waits for the test to read it before it writes the next.
func testCompressStreaming(t *testing.T, mode h2ctest.Mode) {
	events := []string{"data: one\n\n", "data: two\n\n", "data: three\n\n"}
	proceed := make(chan struct{})
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for _, ev := range events {
				io.WriteString(w, ev)
				if err := rc.Flush(); err != nil {
					t.Errorf("Flush: %v", err)
					return
				}
				select {
				case <-proceed:
				case <-r.Context().Done():
					return
				}
			}
		})))
	client := ts.Client(t, mode)
	for _, enc := range []string{"zstd", "br", "gzip"} {
		t.Run(enc, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL, nil)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding %q, want %q", got, enc)
			}
			dec := compDecoder(t, enc, resp.Body)
			for _, ev := range events {
				got := make([]byte, len(ev))
				if _, err := io.ReadFull(dec, got); err != nil {
					t.Fatalf("reading %q: %v", ev, err)
				}
				if string(got) != ev {
					t.Fatalf("read %q, want %q", got, ev)
				}
				proceed <- struct{}{} // the handler is still running
			}
			if rest, err := io.ReadAll(dec); err != nil || len(rest) != 0 {
				t.Errorf("after the events: %q, %v", rest, err)
			}
		})
	}
}

func TestCompressBomb(t *testing.T) { h2ctest.Run(t, testCompressBomb) }

// testCompressBomb serves 10 MiB of zeros that the handler gzipped itself:
// the coded bytes must arrive as they are, never decoded, never coded
// again.
func testCompressBomb(t *testing.T, mode h2ctest.Mode) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write(make([]byte, 10<<20))
	zw.Close()
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		})))
	for _, accept := range []string{"zstd, br, gzip", "gzip", "-"} {
		resp, body := compGet(t, ts.Client(t, mode), "GET", ts.URL, accept)
		if got := resp.Header.Values("Content-Encoding"); !slices.Equal(got, []string{"gzip"}) {
			t.Errorf("%s: Content-Encoding %q, want [gzip]", accept, got)
		}
		if !bytes.Equal(body, bomb.Bytes()) {
			t.Errorf("%s: body of %d bytes, want the handler's %d bytes", accept, len(body), bomb.Len())
		}
		if vary := resp.Header.Get("Vary"); vary != "" {
			t.Errorf("%s: Vary %q on a response Compress never codes", accept, vary)
		}
	}
}

// TestCompressUpgrade checks that an upgrade passes through untouched: the
// handler gets the server's own writer, and hijacks the connection.
func TestCompressUpgrade(t *testing.T) {
	h2ctest.Run(t, testCompressUpgrade, h2ctest.H1)
}

func testCompressUpgrade(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{MinSize: 1})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if typ := fmt.Sprintf("%T", w); strings.HasPrefix(typ, "*middleware.") && middleware.IsUpgrade(r) {
				t.Errorf("upgrade: the handler got a wrapped writer %T", w)
			}
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: molt-test\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo " + line) // uncompressed, whatever the request accepts
			brw.Flush()
		})))
	for _, upgrade := range []bool{true, false} {
		conn := ts.Dial(t)
		req := "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
		if upgrade {
			req += "Connection: Upgrade\r\nUpgrade: molt-test\r\n"
		}
		io.WriteString(conn, req+"\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("upgrade %v: %v", upgrade, err)
		}
		if resp.StatusCode != 101 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "" {
			t.Errorf("upgrade %v: status %d, Content-Encoding %q, Vary %q", upgrade, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		io.WriteString(conn, "hello over the upgraded connection\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "echo hello over the upgraded connection\n" {
			t.Errorf("upgrade %v: read %q, %v", upgrade, line, err)
		}
	}
}

// TestCompressConnect checks that a CONNECT request passes through with
// the writer it came with.
func TestCompressConnect(t *testing.T) {
	var got http.ResponseWriter
	h := middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = w
		w.Header().Set("Content-Type", "text/plain")
		w.Write(compText)
	}))
	for _, req := range []*http.Request{
		httptest.NewRequest("CONNECT", "/", nil),
		func() *http.Request {
			r := httptest.NewRequest("GET", "/chat", nil)
			r.Header.Set("Connection", "keep-alive, Upgrade")
			r.Header.Set("Upgrade", "websocket")
			return r
		}(),
	} {
		req.Header.Set("Accept-Encoding", "gzip")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got != w {
			t.Errorf("%s: the handler got %T, not the server's writer", req.Method, got)
		}
		if w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "" || !bytes.Equal(w.Body.Bytes(), compText) {
			t.Errorf("%s: touched: Content-Encoding %q, Vary %q", req.Method, w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
		}
	}
}

// TestCompressAfterReturn checks that a handler which keeps the writer
// after returning gets an error, not another response.
func TestCompressAfterReturn(t *testing.T) {
	var kept http.ResponseWriter
	h := middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kept = w
		w.Header().Set("Content-Type", "text/plain")
		w.Write(compText)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	n := w.Body.Len()
	if _, err := kept.Write(compText); err == nil {
		t.Errorf("Write after the handler returned: no error")
	}
	if err := http.NewResponseController(kept).Flush(); err == nil {
		t.Errorf("Flush after the handler returned: no error")
	}
	if w.Body.Len() != n {
		t.Errorf("the body grew from %d to %d bytes after the handler returned", n, w.Body.Len())
	}
	if got := compDecode(t, "gzip", w.Body.Bytes()); !bytes.Equal(got, compText) {
		t.Errorf("body does not round-trip")
	}
}

func TestCompressOptionsPanic(t *testing.T) {
	tests := []struct {
		name string
		opts middleware.CompressOptions
	}{
		{"negative MinSize", middleware.CompressOptions{MinSize: -1}},
		{"unknown encoding", middleware.CompressOptions{Encodings: []string{"deflate"}}},
		{"duplicate encoding", middleware.CompressOptions{Encodings: []string{"gzip", "GZIP"}}},
		{"zstd level", middleware.CompressOptions{Level: middleware.CompressLevel{Zstd: 23}}},
		{"brotli level", middleware.CompressOptions{Level: middleware.CompressLevel{Brotli: 12}}},
		{"gzip level", middleware.CompressOptions{Level: middleware.CompressLevel{Gzip: -1}}},
		{"gzip level 10", middleware.CompressOptions{Level: middleware.CompressLevel{Gzip: 10}}},
		{"content type", middleware.CompressOptions{ContentTypes: []string{"text"}}},
		{"content type params", middleware.CompressOptions{ContentTypes: []string{"text/plain; charset=utf-8"}}},
		{"content type */x", middleware.CompressOptions{ContentTypes: []string{"*/json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "middleware: Compress: ") {
					t.Errorf("panic %q, want a message starting with \"middleware: Compress: \"", msg)
				}
			}()
			middleware.Compress(tt.opts)
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, for counting
// allocations.
type compDiscard struct{ h http.Header }

func (w *compDiscard) Header() http.Header         { return w.h }
func (w *compDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (w *compDiscard) WriteHeader(int)             {}

// TestCompressAllocs checks that, in steady state, compressing a response
// allocates no encoder: what remains is the per-request writer.
func TestCompressAllocs(t *testing.T) {
	if compressRace {
		t.Skip("the race detector drops sync.Pool items at random")
	}
	textPlain := []string{"text/plain"}
	h := middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = textPlain
		w.Write(compText)
	}))
	for _, enc := range []string{"zstd", "br", "gzip", "identity"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Encoding", enc)
		w := &compDiscard{h: make(http.Header)}
		allocs := testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
		t.Logf("%s: %.1f allocations per request", enc, allocs)
		if w.h.Get("Content-Encoding") != strings.TrimSuffix(enc, "identity") {
			t.Fatalf("%s: Content-Encoding %q", enc, w.h.Get("Content-Encoding"))
		}
		if allocs > 1 {
			t.Errorf("%s: %.1f allocations per request, want at most 1 (the writer)", enc, allocs)
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	textPlain := []string{"text/plain"}
	h := middleware.Compress(middleware.CompressOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = textPlain
		w.Write(compText)
	}))
	for _, enc := range []string{"zstd", "br", "gzip", "identity"} {
		b.Run(enc, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", enc)
			w := &compDiscard{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(compText)))
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// compFailing is a ResponseWriter whose connection breaks after n bytes.
type compFailing struct {
	h http.Header
	n int
}

func (w *compFailing) Header() http.Header { return w.h }
func (w *compFailing) WriteHeader(int)     {}
func (w *compFailing) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, io.ErrClosedPipe
	}
	w.n -= len(p)
	return len(p), nil
}

// TestCompressWriteError checks that a broken connection reaches the
// handler as an error, and that the encoder goes back to its pool fit for
// the next response.
func TestCompressWriteError(t *testing.T) {
	big := bytes.Repeat(compText, 20)
	for _, enc := range []string{"zstd", "br", "gzip"} {
		var werr error
		h := middleware.Compress(middleware.CompressOptions{Encodings: []string{enc}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for range 50 {
				if _, werr = w.Write(big); werr != nil {
					return
				}
				http.NewResponseController(w).Flush()
			}
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Encoding", enc)
		h.ServeHTTP(&compFailing{h: make(http.Header), n: 100}, req)
		if werr == nil {
			t.Errorf("%s: the handler saw no error from a broken connection", enc)
		}
		for range 3 { // the pool hands the same encoder back, most likely
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if got := compDecode(t, enc, w.Body.Bytes()); !bytes.Equal(got, bytes.Repeat(big, 50)) {
				t.Fatalf("%s: after an error, a body of %d bytes, want %d", enc, len(got), 50*len(big))
			}
		}
	}
}

// TestCompressETagNotShared: a handler that sets one ETag slice for every
// response (a package-level header value, say) keeps it as it is: the
// coded response gets a weak tag of its own, and a later response that
// is not coded still carries the strong one.
func TestCompressETagNotShared(t *testing.T) { h2ctest.Run(t, testCompressETagNotShared) }

func testCompressETagNotShared(t *testing.T, mode h2ctest.Mode) {
	shared := []string{`"v1"`}
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{MinSize: 1})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Etag"] = shared
			w.Header().Set("Content-Type", "text/plain")
			w.Write(compText)
		})))
	c := ts.Client(t, mode)
	for _, tt := range []struct{ accept, wantTag string }{
		{"gzip", `W/"v1"`},
		{"", `"v1"`},
		{"zstd", `W/"v1"`},
		{"", `"v1"`},
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Encoding", tt.accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h2ctest.ReadBody(t, resp)
		if got := resp.Header.Get("Etag"); got != tt.wantTag {
			t.Errorf("Accept-Encoding %q: ETag %s, want %s", tt.accept, got, tt.wantTag)
		}
	}
	if shared[0] != `"v1"` {
		t.Errorf("the handler's shared ETag slice became %q", shared[0])
	}
}

// TestCompress304ETag: a 304 keeps the strong ETag when the client's
// If-None-Match names it, as it does for a type Compress never codes (an
// image), and gets the weak tag of the coded 200 when the client holds
// that one.
func TestCompress304ETag(t *testing.T) { h2ctest.Run(t, testCompress304ETag) }

func testCompress304ETag(t *testing.T, mode h2ctest.Mode) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 2048)...)
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{MinSize: 1})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			tag := `"` + strings.TrimPrefix(r.URL.Path, "/") + `"`
			w.Header().Set("Etag", tag)
			if inm := r.Header.Get("If-None-Match"); inm == tag || inm == "W/"+tag {
				w.WriteHeader(http.StatusNotModified) // without Content-Type, as http.ServeContent does
				return
			}
			if r.URL.Path == "/img" {
				w.Header().Set("Content-Type", "image/png")
				w.Write(png)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write(compText)
		})))
	c := ts.Client(t, mode)
	get := func(path, inm string) *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip, br, zstd")
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h2ctest.ReadBody(t, resp)
		return resp
	}
	for _, path := range []string{"/img", "/text"} {
		first := get(path, "")
		tag := first.Header.Get("Etag")
		again := get(path, tag)
		if again.StatusCode != http.StatusNotModified || again.Header.Get("Etag") != tag {
			t.Errorf("%s: 200 had ETag %s; revalidated with it: %d with ETag %s, want 304 with the same",
				path, tag, again.StatusCode, again.Header.Get("Etag"))
		}
	}
}
