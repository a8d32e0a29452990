package h2

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzServeConn feeds arbitrary bytes, after the preface, to a live
// ServeConn: whatever they are, the server must not panic, and
// ServeConn must return once the client has gone.
//
//	go test -run '^$' -fuzz FuzzServeConn -fuzztime 60s ./h2
func FuzzServeConn(f *testing.F) {
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"}, {Name: "content-length", Value: "3"}} {
		enc.WriteField(hf)
	}
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hbuf.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, []byte("abc"))
	fr.WriteWindowUpdate(1, 100)
	fr.WritePing(false, [8]byte{})
	fr.WriteRSTStream(1, http2.ErrCodeCancel)
	fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:40])

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-T")
		w.Write(b)
		w.Header().Set("X-T", "1")
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, s := net.Pipe()
		srv := &Server{Logger: logger, SettingsTimeout: -1, IdleTimeout: -1}
		done := make(chan struct{})
		go func() {
			srv.ServeConn(s, &ServeConnOpts{Handler: handler, SawPreface: true})
			close(done)
		}()
		go io.Copy(io.Discard, c)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(data)
		c.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("ServeConn did not return after the client closed")
		}
	})
}

// FuzzFrameSequence feeds a sequence of frames built from the input to a
// live ServeConn, after a valid preface and SETTINGS, so that the fuzzer
// reaches the stream state machine rather than the frame parser: each
// frame is a type byte, a flags byte, a stream byte (streams 0 to 15) and
// a length byte, then that many payload bytes; a HEADERS frame whose
// payload starts with an even byte carries a valid request header block
// instead: an extended CONNECT (a tunnel, whose handler echoes what it
// reads and may read the connection itself, lead.go) if that byte is 2
// modulo 4, else a POST. Whatever the sequence, the server must not panic, and
// ServeConn, its handlers and its timers must end once the client has
// gone.
//
//	go test -run '^$' -fuzz FuzzFrameSequence -fuzztime 60s ./h2
func FuzzFrameSequence(f *testing.F) {
	f.Add([]byte{1, 5, 1, 1, 0, 0, 1, 1, 3, 'a', 'b', 'c'}) // HEADERS (request), DATA with END_STREAM
	f.Add([]byte{1, 4, 1, 1, 0, 3, 0, 1, 4, 0, 0, 0, 8})    // HEADERS, RST_STREAM CANCEL
	f.Add([]byte{1, 4, 3, 1, 0, 8, 0, 3, 4, 0, 0, 0, 1, 9, 4, 3, 1, 0})
	f.Add([]byte{4, 0, 0, 6, 0, 4, 0, 0, 0, 0, 6, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	// A tunnel: HEADERS (CONNECT), DATA, PING, DATA, a second stream's
	// HEADERS, DATA with END_STREAM.
	f.Add([]byte{1, 4, 1, 1, 2, 0, 0, 1, 2, 'h', 'i', 6, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 1, 1, 'x', 1, 5, 3, 1, 0, 0, 1, 1, 1, 'y'})

	f.Fuzz(runFrameSequence)
}

// sequenceRequest is a request header block of indexed and literal
// fields without indexing, valid under any dynamic table.
var sequenceRequest = func() []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	enc.SetMaxDynamicTableSizeLimit(0)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"}} {
		enc.WriteField(hf)
	}
	return b.Bytes()
}()

// sequenceTunnel is an extended CONNECT request header block, as
// sequenceRequest is a POST's.
var sequenceTunnel = func() []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	enc.SetMaxDynamicTableSizeLimit(0)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "CONNECT"}, {Name: ":protocol", Value: "websocket"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"}} {
		enc.WriteField(hf)
	}
	return b.Bytes()
}()

// sequenceHandler echoes a tunnel's body as it reads it, a chunk at a
// time, flushing each; and any other body twice, flushing between.
var sequenceHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, 7)
		for {
			n, err := r.Body.Read(buf)
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
			if err != nil {
				return
			}
		}
	}
	b, _ := io.ReadAll(r.Body)
	w.Write(b)
	w.(http.Flusher).Flush()
	w.Write(b)
})

// runFrameSequence is FuzzFrameSequence's test of one input.
func runFrameSequence(t *testing.T, data []byte) {
	var wire bytes.Buffer
	wire.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&wire, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	for len(data) >= 4 {
		typ, flags, id, n := http2.FrameType(data[0]%10), http2.Flags(data[1]), uint32(data[2]%16), int(data[3])
		data = data[4:]
		payload := data[:min(n, len(data))]
		data = data[len(payload):]
		if typ == http2.FrameHeaders && (len(payload) == 0 || payload[0]%2 == 0) {
			if len(payload) > 0 && payload[0]%4 == 2 {
				payload = sequenceTunnel
			} else {
				payload = sequenceRequest
			}
			flags &^= http2.FlagHeadersPadded | http2.FlagHeadersPriority
		}
		fr.WriteRawFrame(typ, flags, id, payload)
	}
	c, s := net.Pipe()
	srv := &Server{Logger: discardLogger, SettingsTimeout: -1, IdleTimeout: -1}
	done := make(chan struct{})
	go func() {
		srv.ServeConn(s, &ServeConnOpts{Handler: sequenceHandler})
		close(done)
	}()
	go io.Copy(io.Discard, c)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(wire.Bytes())
	c.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("ServeConn did not return after the client closed")
	}
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
