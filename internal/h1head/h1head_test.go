package h1head

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// endless is a reader of a header section that never ends: after start,
// line repeated forever. It counts the bytes it gave.
type endless struct {
	start, line string
	n           int64
}

func (e *endless) Read(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		var src string
		if e.n < int64(len(e.start)) {
			src = e.start[e.n:]
		} else {
			off := (e.n - int64(len(e.start))) % int64(len(e.line))
			src = e.line[off:]
		}
		c := copy(p[i:], src)
		i += c
		e.n += int64(c)
	}
	return i, nil
}

func get() *http.Request { return &http.Request{Method: http.MethodGet} }

// TestReadResponse checks a head within the budget, a body larger than
// the budget (not bounded), and the bytes after a 101 left buffered.
func TestReadResponse(t *testing.T) {
	body := strings.Repeat("b", 5000)
	in := "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body +
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nFRAMES"
	h := NewReader(strings.NewReader(in), 64, 100, nil)
	resp, err := h.ReadResponse(get())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != body {
		t.Fatalf("body: %d bytes, %v; want %d bytes", len(got), err, len(body))
	}
	h.Reset()
	resp, err = h.ReadResponse(get())
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("second response: %v, %v", resp, err)
	}
	rest, _ := io.ReadAll(h.Buffered())
	if string(rest) != "FRAMES" {
		t.Fatalf("after the 101: %q, want FRAMES", rest)
	}
}

// TestBudget attacks the bound: an endless header section, one endless
// line, and heads that share a budget until Reset. Each must fail with
// the budget's error having read at most the budget plus one buffer.
func TestBudget(t *testing.T) {
	const max, size = 1000, 64
	own := errors.New("my head is too big")
	tests := []struct {
		name     string
		src      *endless
		tooLarge error
		want     error
	}{
		{"endless header lines", &endless{start: "HTTP/1.1 200 OK\r\n", line: "X-A: b\r\n"}, nil, ErrTooLarge},
		{"endless status line", &endless{start: "HTTP/1.1 200 ", line: "O"}, nil, ErrTooLarge},
		{"endless header line", &endless{start: "HTTP/1.1 200 OK\r\nX-A: ", line: "b"}, own, own},
		{"endless 1xx responses", &endless{start: "", line: "HTTP/1.1 100 Continue\r\n\r\n"}, nil, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewReader(tt.src, size, max, tt.tooLarge)
			var err error
			for i := 0; i < 1000 && err == nil; i++ { // 1xx responses come back one by one
				var resp *http.Response
				resp, err = h.ReadResponse(get())
				if err == nil && resp.StatusCode >= 200 {
					t.Fatalf("read a final response %d from an endless head", resp.StatusCode)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.src.n > max+size {
				t.Fatalf("read %d bytes, want at most %d", tt.src.n, max+size)
			}
		})
	}

	// Heads share the budget until Reset renews it.
	one := "HTTP/1.1 204 No Content\r\nX-Pad: " + strings.Repeat("p", 60) + "\r\n\r\n"
	h := NewReader(strings.NewReader(strings.Repeat(one, 4)), 16, int64(len(one))+10, nil)
	if _, err := h.ReadResponse(get()); err != nil {
		t.Fatalf("first head: %v", err)
	}
	if _, err := h.ReadResponse(get()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("second head without Reset: %v, want ErrTooLarge", err)
	}
	h = NewReader(strings.NewReader(strings.Repeat(one, 4)), 16, int64(len(one))+10, nil)
	for i := range 4 {
		h.Reset()
		if _, err := h.ReadResponse(get()); err != nil {
			t.Fatalf("head %d after Reset: %v", i, err)
		}
	}
}

// TestTruncated cuts a head at every length: each prefix fails with
// ErrTruncated, which still is io.ErrUnexpectedEOF.
func TestTruncated(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: b\r\n\r\n"
	for n := 0; n < len(head); n++ {
		h := NewReader(strings.NewReader(head[:n]), 16, 1<<20, nil)
		_, err := h.ReadResponse(get())
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("head cut at %d: %v, want ErrTruncated", n, err)
		}
	}
}

// TestMalformed checks that what is not an HTTP/1.1 head is ErrMalformed.
func TestMalformed(t *testing.T) {
	for _, in := range []string{
		"SSH-2.0-OpenSSH_9.6\r\n\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
		"\x00\x00\x12\x04\x00\x00\x00\x00\x00\r\n\r\n", // an HTTP/2 SETTINGS frame
	} {
		h := NewReader(strings.NewReader(in), 64, 1<<20, nil)
		if _, err := h.ReadResponse(get()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: error %v, want ErrMalformed", in, err)
		}
	}
}

// failing returns its bytes, then err.
type failing struct {
	r   io.Reader
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestConnectionErrors checks that the connection's own failures are
// passed on as they are, not called a malformed head: a reset, and a
// slow server stopped by the caller's read deadline.
func TestConnectionErrors(t *testing.T) {
	reset := errors.New("connection reset by peer")
	h := NewReader(&failing{strings.NewReader("HTTP/1.1 200 OK\r\nX-"), reset}, 64, 1<<20, nil)
	if _, err := h.ReadResponse(get()); err != reset {
		t.Fatalf("reset: %v, want the reader's error itself", err)
	}

	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go server.Write([]byte("HTTP/1.1 200 OK\r\nX-Slow: ")) // and then nothing
	client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	h = NewReader(client, 64, 1<<20, nil)
	_, err := h.ReadResponse(get())
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrTruncated) {
		t.Fatalf("slow server: %v, want the deadline's error alone", err)
	}
}

// TestNoBudgetOnBody checks that reading a body does not spend the
// budget: a small budget, Reset before each head, large bodies between.
func TestNoBudgetOnBody(t *testing.T) {
	var b bytes.Buffer
	for range 3 {
		b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
		b.WriteString(strings.Repeat("x", 10000))
	}
	h := NewReader(&b, 32, 200, nil)
	for i := range 3 {
		h.Reset()
		resp, err := h.ReadResponse(get())
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if n, err := io.Copy(io.Discard, resp.Body); n != 10000 || err != nil {
			t.Fatalf("body %d: %d bytes, %v", i, n, err)
		}
	}
}
