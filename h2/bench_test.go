package h2

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// BenchmarkGet measures one GET after another on one connection, with
// allocations per request (client and server together; the client is the
// same for both), for this engine and for x/net's http2.Server.
//
//	go test -run '^$' -bench BenchmarkGet -benchmem ./h2
func BenchmarkGet(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	})
	for _, engine := range []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"h2", func(c net.Conn) { (&Server{}).ServeConn(c, &ServeConnOpts{Handler: handler}) }},
		{"xnet", func(c net.Conn) { (&http2.Server{}).ServeConn(c, &http2.ServeConnOpts{Handler: handler}) }},
	} {
		b.Run(engine.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				engine.serve(c)
				c.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			fr := http2.NewFramer(c, bufio.NewReader(c))
			fr.SetReuseFrames()
			io.WriteString(c, http2.ClientPreface)
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
			fr.WriteWindowUpdate(0, 1<<30)
			var hbuf bytes.Buffer
			enc := hpack.NewEncoder(&hbuf)
			for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "bench"}, {Name: ":path", Value: "/"}} {
				enc.WriteField(f)
			}
			block := hbuf.Bytes()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := uint32(2*i + 1)
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						b.Fatal(err)
					}
					if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
						fr.WriteSettingsAck()
					}
					if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
						break
					}
				}
			}
			b.StopTimer()
			c.Close()
			<-done
		})
	}
}
