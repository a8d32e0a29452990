package h2

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
)

// TestBodyReadSizes checks that a request body reaches the handler byte
// for byte in order whatever the sizes of its reads, while the client
// sends it in pieces so that reads wait for data: a waiting Read gets a
// DATA payload straight into its buffer (stream.rdst), the rest of a
// payload larger than that buffer is buffered and must come next, and a
// buffer larger than the payload takes the following frames too.
func TestBodyReadSizes(t *testing.T) {
	for _, readSize := range []int{1, 7, 1000, 16 << 10, 100 << 10} {
		t.Run(fmt.Sprint(readSize), func(t *testing.T) {
			ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				p := make([]byte, readSize)
				var n int64
				for {
					k, err := r.Body.Read(p)
					h.Write(p[:k])
					n += int64(k)
					if err == io.EOF {
						break
					}
					if err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
						return
					}
				}
				fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			}))
			rng := rand.New(rand.NewPCG(uint64(readSize), 1))
			body := make([]byte, 1<<20)
			for i := range body {
				body[i] = byte(rng.Uint32())
			}
			pr, pw := io.Pipe()
			go func() {
				// Pieces of random sizes, each written once the client
				// transport has taken the one before (io.Pipe), so the
				// server sees the body arrive over many reads.
				for p := body; len(p) > 0; {
					k := min(len(p), 1+rng.IntN(40<<10))
					if _, err := pw.Write(p[:k]); err != nil {
						return
					}
					p = p[k:]
				}
				pw.Close()
			}()
			resp, err := ts.client(t).Post(ts.url()+"/", "application/octet-stream", pr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%d %x", len(body), sha256.Sum256(body)); string(got) != want {
				t.Fatalf("handler read %q, want %q", got, want)
			}
		})
	}
}
