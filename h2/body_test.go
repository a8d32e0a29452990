package h2

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"testing"
	"time"
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

// TestBodyConcurrentReads checks that goroutines reading the body at
// once each get body bytes, as with net/http's and x/net's bodies (whose
// Read is serialised by a lock): a Read waiting with nothing buffered
// lends its buffer, and only the Read that lent it may return what the
// read loop put there.
func TestBodyConcurrentReads(t *testing.T) {
	const pieces, size = 200, 100
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const readers = 8
		total := make(chan int, readers)
		bad := make(chan string, readers)
		for range readers {
			go func() {
				p := make([]byte, 1000)
				n := 0
				for {
					clear(p)
					k, err := r.Body.Read(p)
					for _, c := range p[:k] {
						if c != 0xab {
							select {
							case bad <- fmt.Sprintf("Read returned byte %#x, not the body's", c):
							default:
							}
							break
						}
					}
					n += k
					if err != nil {
						total <- n
						return
					}
				}
			}()
		}
		n := 0
		for range readers {
			n += <-total
		}
		select {
		case s := <-bad:
			fmt.Fprint(w, s)
		default:
			fmt.Fprintf(w, "%d", n)
		}
	}))
	// The Read that wins the lock after the read loop's wake-up is down to
	// the scheduler: with one P it is the last to wait, the lender; with
	// more, any.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	rc := dialRaw(t, ts)
	piece := make([]byte, size)
	for i := range piece {
		piece[i] = 0xab
	}
	for id := uint32(1); id <= 7; id += 2 {
		rc.post(id, "/")
		for range pieces {
			time.Sleep(time.Millisecond) // the readers wait again
			rc.fr.WriteData(id, false, piece)
		}
		rc.fr.WriteData(id, true, nil)
		if got, want := string(rc.response(id).body), fmt.Sprint(pieces*size); got != want {
			t.Fatalf("stream %d: handler: %s, want %s bytes read", id, got, want)
		}
	}
}
