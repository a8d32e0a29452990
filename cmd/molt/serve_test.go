package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeProtocolFlags checks that -no-h2c-upgrade and -no-h2c-prior
// close the way into HTTP/2 they name, and only that one. -no-h2c-upgrade
// is the switch for running behind a proxy that forwards Upgrade and
// Connection (issue 10, item 17: h2c smuggling).
func TestServeProtocolFlags(t *testing.T) {
	tests := []struct {
		flags              []string
		upgradeOK, priorOK bool
	}{
		{nil, true, true},
		{[]string{"-no-h2c-upgrade"}, false, true},
		{[]string{"-no-h2c-prior"}, true, false},
		{[]string{"-no-h2c-upgrade", "-no-h2c-prior"}, false, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"flags"}, tt.flags...), " "), func(t *testing.T) {
			m := startMolt(t, tt.flags...)
			addr := net.JoinHostPort(m.host, m.port)

			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("upgrade request: %v", err)
			}
			if got := resp.StatusCode == http.StatusSwitchingProtocols; got != tt.upgradeOK {
				t.Errorf("upgrade request answered %s, want upgraded=%v", resp.Status, tt.upgradeOK)
			}
			if !tt.upgradeOK && (resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1) {
				t.Errorf("declined upgrade answered %s %s, want 200 over HTTP/1.1", resp.Proto, resp.Status)
			}

			p, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			io.WriteString(p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
			head := make([]byte, 9)
			if _, err := io.ReadFull(p, head); err != nil {
				t.Fatalf("reading the answer to the preface: %v", err)
			}
			// HTTP/2 answers with a SETTINGS frame (type 4), HTTP/1.1 with a status line.
			if got := head[3] == 4 && !strings.HasPrefix(string(head), "HTTP/"); got != tt.priorOK {
				t.Errorf("preface answered with %q, want HTTP/2=%v", head, tt.priorOK)
			}
		})
	}
}

// TestServeEngineFlag checks that an unknown -engine is refused with an
// error naming the engines there are.
func TestServeEngineFlag(t *testing.T) {
	err := serve(context.Background(), []string{"-addr", "127.0.0.1:0", "-engine", "bogus"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "h2 or xnet") {
		t.Errorf("serve -engine bogus: %v, want an error naming h2 and xnet", err)
	}
}

// TestServeProfiles checks that -cpuprofile and -memprofile write their
// profiles as the server stops: gzipped pprof protobufs whose sample
// types are the CPU's and the allocations'.
func TestServeProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	t.Run("serve", func(t *testing.T) {
		m := startMolt(t, "-cpuprofile", cpu, "-memprofile", mem)
		resp, err := http.Get(m.url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}) // startMolt's cleanup has stopped the server
	for _, tc := range []struct {
		file string
		want []string
	}{
		{cpu, []string{"samples", "cpu", "nanoseconds"}},
		{mem, []string{"alloc_objects", "alloc_space", "inuse_space"}},
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			t.Fatalf("%s: %v", tc.file, err)
		}
		p, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		for _, w := range tc.want {
			if !bytes.Contains(p, []byte(w)) {
				t.Errorf("%s (%d bytes unzipped) names no sample type %q", tc.file, len(p), w)
			}
		}
	}
}
