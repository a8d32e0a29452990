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
