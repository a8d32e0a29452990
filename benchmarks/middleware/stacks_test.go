package middleware

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// discardWriter is the ResponseWriter of the benchmarks: a header map that
// is cleared before every request, a body that is only counted.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

func request(encoding string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/data", nil)
	r.Header.Set("Accept-Encoding", encoding)
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// decode returns the body of rec, decoded per its Content-Encoding.
func decode(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	var r io.Reader = rec.Body
	switch enc := rec.Header().Get("Content-Encoding"); enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("Content-Encoding %q", enc)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every stack and compressor answers the request compressed, with the
// body intact, so none of them can look fast by not doing the work.
func TestStacksCompress(t *testing.T) {
	body := Body(4 << 10)
	for _, s := range Stacks {
		rec := httptest.NewRecorder()
		s.New(body).ServeHTTP(rec, request("gzip"))
		if rec.Code != 200 || !bytes.Equal(decode(t, rec), body) {
			t.Errorf("%s: status %d, body not the handler's", s.Name, rec.Code)
		}
	}
	body = Body(64 << 10)
	for _, c := range Compressors {
		rec := httptest.NewRecorder()
		c.New(body).ServeHTTP(rec, request(c.Encoding))
		if got := rec.Header().Get("Content-Encoding"); got != c.Encoding {
			t.Errorf("%s: Content-Encoding %q, want %q", c.Name, got, c.Encoding)
			continue
		}
		if !bytes.Equal(decode(t, rec), body) {
			t.Errorf("%s: body not the handler's", c.Name)
		}
	}
}

// BenchmarkStack serves GET /data (4 KiB of JSON, gzip accepted) through
// each framework's typical stack. The request is reused; every middleware
// copies it where it needs to.
func BenchmarkStack(b *testing.B) {
	body := Body(4 << 10)
	for _, s := range Stacks {
		b.Run("stack="+s.Name, func(b *testing.B) {
			h := s.New(body)
			req := request("gzip")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK || w.h.Get("Content-Encoding") != "gzip" {
				b.Fatalf("status %d, Content-Encoding %q", w.status, w.h.Get("Content-Encoding"))
			}
		})
	}
}

// BenchmarkCompress64K compresses a 64 KiB JSON body per request; the
// throughput (MB/s) is of the uncompressed body.
func BenchmarkCompress64K(b *testing.B) {
	body := Body(64 << 10)
	for _, c := range Compressors {
		b.Run("compressor="+c.Name, func(b *testing.B) {
			h := c.New(body)
			req := request(c.Encoding)
			w := &discardWriter{h: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, req)
			}
			if w.h.Get("Content-Encoding") != c.Encoding {
				b.Fatalf("Content-Encoding %q", w.h.Get("Content-Encoding"))
			}
			b.ReportMetric(float64(w.n)/float64(len(body)), "ratio")
		})
	}
}
