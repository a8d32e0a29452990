package h2

import (
	"fmt"
	"sync"
	"testing"
)

// TestLeadManyConns: many connections, each a tunnel echoing
// messages with PINGs in between, at once; then all close, and nothing
// is left running.
func TestLeadManyConns(t *testing.T) {
	checkGoroutines(t)
	bodies := make(chan *requestBody, 64)
	ts := leadServer(t, bodies, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 40 {
		rc := dialRaw(t, ts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
			for j := range 100 {
				msg := fmt.Sprintf("c%d-m%d", i, j)
				rc.fr.WriteData(1, false, []byte(msg))
				if j%10 == 0 {
					rc.fr.WritePing(false, [8]byte{byte(j)})
				}
				var got []byte
				for len(got) < len(msg) {
					f, err := rc.fr.ReadFrame()
					if err != nil {
						errs <- err.Error()
						return
					}
					if d, ok := f.(interface{ Data() []byte }); ok && f.Header().StreamID == 1 {
						got = append(got, d.Data()...)
					}
				}
				if string(got) != msg {
					errs <- fmt.Sprintf("got %q want %q", got, msg)
					return
				}
			}
			rc.fr.WriteData(1, true, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	ts.close()
}
