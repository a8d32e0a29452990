package middleware_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// etagBody is a body of some KiB, and etagOf its strong tag.
var etagBody = bytes.Repeat([]byte("entity tags tell a client its copy is current. "), 200)

func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// etagRequest sends method to url with the given header fields (name,
// value pairs) and returns the response and its body.
func etagRequest(t *testing.T, client *http.Client, method, url string, fields ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Add(fields[i], fields[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, h2ctest.ReadBody(t, resp)
}

// etagMux serves the handlers the ETag tests use.
func etagMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		for b := etagBody; len(b) > 0; b = b[min(len(b), 1000):] {
			w.Write(b[:min(len(b), 1000)])
		}
	})
	mux.HandleFunc("/own", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v7"`)
		w.Write(etagBody)
	})
	mux.HandleFunc("/own-weak", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `W/"v7"`)
		w.Write(etagBody)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such thing", http.StatusNotFound)
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/head-no-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(etagBody)))
		if r.Method != "HEAD" {
			w.Write(etagBody)
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat(etagBody, 100)) // > 64 KiB
	})
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		w.Write(etagBody)
	})
	return mux
}

func TestETag(t *testing.T) { h2ctest.Run(t, testETag) }

func testETag(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.ETag(middleware.ETagOptions{MaxSize: 64 << 10})(etagMux()))
	client := ts.Client(t, mode)
	tag := etagOf(etagBody)
	bare := strings.Trim(tag, `"`)
	tests := []struct {
		name, method, path string
		fields             []string
		status             int
		etag               string // "" for none
		body               []byte
	}{
		{"GET", "GET", "/", nil, 200, tag, etagBody},
		{"HEAD", "HEAD", "/", nil, 200, tag, nil},
		{"match", "GET", "/", []string{"If-None-Match", tag}, 304, tag, nil},
		{"HEAD match", "HEAD", "/", []string{"If-None-Match", tag}, 304, tag, nil},
		{"weak comparison", "GET", "/", []string{"If-None-Match", "W/" + tag}, 304, tag, nil},
		{"in a list", "GET", "/", []string{"If-None-Match", `"a", W/"b",` + tag + ` , "c"`}, 304, tag, nil},
		{"in a second field", "GET", "/", []string{"If-None-Match", `"a"`, "If-None-Match", tag}, 304, tag, nil},
		{"star", "GET", "/", []string{"If-None-Match", "*"}, 304, tag, nil},
		{"no match", "GET", "/", []string{"If-None-Match", `"other"`}, 200, tag, etagBody},
		{"unquoted", "GET", "/", []string{"If-None-Match", bare}, 200, tag, etagBody},
		{"unterminated", "GET", "/", []string{"If-None-Match", `"` + bare}, 200, tag, etagBody},
		{"garbage first", "GET", "/", []string{"If-None-Match", `x"a", ` + tag}, 200, tag, etagBody},
		{"star prefix", "GET", "/", []string{"If-None-Match", "*x"}, 200, tag, etagBody},
		{"empty quotes", "GET", "/", []string{"If-None-Match", `""`}, 200, tag, etagBody},
		{"huge list", "GET", "/", []string{"If-None-Match", strings.Repeat(`"xxxxxxxx", `, 20000) + tag}, 304, tag, nil},
		{"If-Match", "GET", "/", []string{"If-Match", tag}, 200, tag, etagBody},
		{"If-Match star", "GET", "/", []string{"If-Match", "*"}, 200, tag, etagBody},
		{"If-Match fails", "GET", "/", []string{"If-Match", `"other"`}, 412, tag, nil},
		{"If-Match is strong", "GET", "/", []string{"If-Match", "W/" + tag}, 412, tag, nil},
		{"If-Match before If-None-Match", "GET", "/", []string{"If-Match", `"other"`, "If-None-Match", tag}, 412, tag, nil},
		{"own tag", "GET", "/own", nil, 200, `"v7"`, etagBody},
		{"own tag match", "GET", "/own", []string{"If-None-Match", `W/"v7"`}, 304, `"v7"`, nil},
		{"own weak tag match", "GET", "/own-weak", []string{"If-None-Match", `"v7"`}, 304, `W/"v7"`, nil},
		{"own weak tag If-Match", "GET", "/own-weak", []string{"If-Match", `W/"v7"`}, 412, `W/"v7"`, nil},
		{"not 200", "GET", "/missing", []string{"If-None-Match", "*"}, 404, "", []byte("no such thing\n")},
		{"empty body", "GET", "/empty", nil, 200, etagOf(nil), nil},
		{"HEAD without body", "HEAD", "/head-no-body", nil, 200, "", nil},
		{"GET of that", "GET", "/head-no-body", nil, 200, tag, etagBody},
		{"over MaxSize", "GET", "/big", []string{"If-None-Match", "*"}, 200, "", bytes.Repeat(etagBody, 100)},
		{"POST", "POST", "/post", []string{"If-None-Match", "*"}, 200, "", etagBody},
	}
	for _, tt := range tests {
		resp, body := etagRequest(t, client, tt.method, ts.URL+tt.path, tt.fields...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
			continue
		}
		if got := resp.Header.Get("ETag"); got != tt.etag {
			t.Errorf("%s: ETag %q, want %q", tt.name, got, tt.etag)
		}
		if !bytes.Equal(body, tt.body) {
			t.Errorf("%s: body of %d bytes, want %d", tt.name, len(body), len(tt.body))
		}
		switch {
		case tt.status == 304 || tt.status == 412:
			for _, f := range []string{"Content-Type", "Content-Length", "Last-Modified"} {
				if v := resp.Header.Get(f); v != "" && !(tt.status == 412 && (f == "Last-Modified" || v == "0")) {
					t.Errorf("%s: %s %q on a %d", tt.name, f, v, tt.status)
				}
			}
		case tt.etag != "" && tt.path == "/":
			// Held back, so the length is known.
			if resp.ContentLength != int64(len(etagBody)) {
				t.Errorf("%s: Content-Length %d, want %d", tt.name, resp.ContentLength, len(etagBody))
			}
			if resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Content-Type") != "text/plain" {
				t.Errorf("%s: the handler's fields are lost: %v", tt.name, resp.Header)
			}
		}
	}
}

func TestETagWeak(t *testing.T) { h2ctest.Run(t, testETagWeak) }

func testETagWeak(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.ETag(middleware.ETagOptions{Weak: true})(etagMux()))
	client := ts.Client(t, mode)
	tag := "W/" + etagOf(etagBody)
	for _, tt := range []struct {
		fields []string
		status int
	}{
		{nil, 200},
		{[]string{"If-None-Match", tag}, 304},
		{[]string{"If-None-Match", etagOf(etagBody)}, 304},
		{[]string{"If-Match", tag}, 412}, // a weak tag never passes If-Match
	} {
		resp, _ := etagRequest(t, client, "GET", ts.URL+"/", tt.fields...)
		if resp.StatusCode != tt.status || resp.Header.Get("ETag") != tag {
			t.Errorf("%q: status %d, ETag %q; want %d, %q", tt.fields, resp.StatusCode, resp.Header.Get("ETag"), tt.status, tag)
		}
	}
}

func TestETagStreaming(t *testing.T) { h2ctest.Run(t, testETagStreaming) }

// testETagStreaming checks that a flushed response is sent as it is
// written, untagged: the client reads the first part while the handler
// waits for it to.
func testETagStreaming(t *testing.T, mode h2ctest.Mode) {
	proceed := make(chan struct{})
	ts := h2ctest.NewServer(t, middleware.ETag(middleware.ETagOptions{})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "first\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
			select {
			case <-proceed:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "second\n")
		})))
	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("If-None-Match", "*")
	resp, err := ts.Client(t, mode).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != "" {
		t.Fatalf("status %d, ETag %q; want 200 and no tag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "first\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	close(proceed)
	if rest, err := io.ReadAll(br); string(rest) != "second\n" || err != nil {
		t.Errorf("then read %q, %v", rest, err)
	}
}

func TestETagUpgrade(t *testing.T) { h2ctest.Run(t, testETagUpgrade, h2ctest.H1) }

// testETagUpgrade checks that an upgrade reaches the handler with the
// server's writer, and can hijack.
func testETagUpgrade(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.ETag(middleware.ETagOptions{})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if typ := fmt.Sprintf("%T", w); strings.HasPrefix(typ, "*middleware.") {
				t.Errorf("upgrade: the handler got a wrapped writer %s", typ)
			}
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: molt-test\r\nConnection: Upgrade\r\n\r\nhello")
			brw.Flush()
		})))
	conn := ts.Dial(t)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: molt-test\r\nIf-None-Match: *\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("ETag") != "" {
		t.Errorf("status %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if rest, _ := io.ReadAll(br); string(rest) != "hello" {
		t.Errorf("read %q after the 101, want hello", rest)
	}
}

func TestETagConnect(t *testing.T) {
	var got http.ResponseWriter
	h := middleware.ETag(middleware.ETagOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = w
		w.Write(etagBody)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("CONNECT", "/", nil))
	if got != w || w.Header().Get("ETag") != "" {
		t.Errorf("CONNECT: handler got %T, ETag %q", got, w.Header().Get("ETag"))
	}
}

func TestETagCompress(t *testing.T) { h2ctest.Run(t, testETagCompress) }

// testETagCompress runs ETag inside Compress: the tag of the plain body,
// made weak on a coded response, validates the coded response too.
func testETagCompress(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.Compress(middleware.CompressOptions{})(middleware.ETag(middleware.ETagOptions{})(etagMux())))
	client := ts.Client(t, mode)
	resp, body := etagRequest(t, client, "GET", ts.URL+"/", "Accept-Encoding", "gzip")
	tag := resp.Header.Get("ETag")
	if resp.Header.Get("Content-Encoding") != "gzip" || tag != "W/"+etagOf(etagBody) {
		t.Fatalf("Content-Encoding %q, ETag %q", resp.Header.Get("Content-Encoding"), tag)
	}
	if got := compDecode(t, "gzip", body); !bytes.Equal(got, etagBody) {
		t.Fatalf("body does not round-trip")
	}
	resp, body = etagRequest(t, client, "GET", ts.URL+"/", "Accept-Encoding", "gzip", "If-None-Match", tag)
	if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") != tag {
		t.Errorf("revalidation: status %d, %d bytes, Vary %q, ETag %q", resp.StatusCode, len(body), resp.Header.Get("Vary"), resp.Header.Get("ETag"))
	}
}

func TestETagAfterReturn(t *testing.T) {
	var kept http.ResponseWriter
	h := middleware.ETag(middleware.ETagOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kept = w
		w.Write(etagBody)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if _, err := kept.Write(etagBody); err == nil {
		t.Errorf("Write after the handler returned: no error")
	}
	if w.Body.Len() != len(etagBody) || w.Header().Get("ETag") != etagOf(etagBody) {
		t.Errorf("body of %d bytes, ETag %q", w.Body.Len(), w.Header().Get("ETag"))
	}
}

func TestETagOptionsPanic(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.HasPrefix(msg, "middleware: ETag: ") {
			t.Errorf("panic %q, want a message starting with \"middleware: ETag: \"", msg)
		}
	}()
	middleware.ETag(middleware.ETagOptions{MaxSize: -1})
}
