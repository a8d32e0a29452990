package h2

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestSmoke(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %d %q", r.Method, r.URL.Path, r.Proto, len(b), r.Host)
	}))
	c := ts.client(t)
	resp, err := c.Get(ts.url() + "/a")
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, resp.Body)
	resp.Body.Close()
	if want := `GET /a HTTP/2.0 0 "` + ts.addr + `"`; got != want || resp.ProtoMajor != 2 {
		t.Errorf("got %q %v, want %q", got, resp.Proto, want)
	}
	resp, err = c.Post(ts.url()+"/b", "text/plain", strings.NewReader(strings.Repeat("x", 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	got = readAll(t, resp.Body)
	resp.Body.Close()
	if want := `POST /b HTTP/2.0 1048576 "` + ts.addr + `"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if resp.Header.Get("Content-Length") == "" || resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("header %v", resp.Header)
	}
}
