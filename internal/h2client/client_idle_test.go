package h2client

import (
	"net/http"
	"runtime"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestClientIdleAfterManyResponseFields has a server answer each of a
// few connections with one response whose header block is some 30,000
// one-byte references to a field it adds to the HPACK table (30 KB on the
// wire), then checks what the idle connections hold: the header-block
// decoder gives back the field slice such a block grew (40 bytes a field)
// once the response has been handled, rather than keeping it for the
// connection's life.
func TestClientIdleAfterManyResponseFields(t *testing.T) {
	checkNoLeaks(t)
	const conns, fields = 4, 30000
	addr := startRaw(t, nil, func(s *rawServer) {
		id := s.readHeaders()
		s.hbuf.Reset()
		s.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "204"})
		block := append([]byte(nil), s.hbuf.Bytes()...)
		block = append(block, 0x40, 1, 'a', 0) // literal with incremental indexing: "a: " is entry 62
		for range fields {
			block = append(block, 0x80|62)
		}
		for first := true; first || len(block) > 0; first = false {
			frag := block[:min(16384, len(block))]
			block = block[len(frag):]
			if first {
				s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: true, EndHeaders: len(block) == 0})
			} else {
				s.fr.WriteContinuation(id, len(block) == 0, frag)
			}
		}
		s.drain()
	})
	var ccs []*ClientConn
	for range conns {
		ccs = append(ccs, dialH2(t, addr, ClientOptions{}))
	}
	live := func() int64 {
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := live()
	for _, cc := range ccs {
		resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusNoContent || len(resp.Header["A"]) != fields+1 {
			t.Fatalf("response %d with %d fields named a, want 204 and %d", resp.StatusCode, len(resp.Header["A"]), fields+1)
		}
		resp.Body.Close()
	}
	perConn := (live() - base) / conns
	t.Logf("an idle connection holds %d bytes more after one response of %d fields", perConn, fields)
	if perConn > 128<<10 {
		t.Errorf("an idle connection holds %d bytes more after one response of %d header fields: the decoder kept the field slice of the largest block", perConn, fields)
	}
}
