package load

import (
	"context"
	"math"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
)

// h2Mallocs runs n requests with mode on url, one connection of 16
// streams, and returns the process's allocations over the run.
func h2Mallocs(t *testing.T, url string, mode string, n int64) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := Run(context.Background(), Config{URL: url, Mode: mode, Conns: 1, Streams: 16, Requests: n})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != uint64(n) {
		t.Fatalf("%d responses, want %d (errors %v)", rep.Requests, n, rep.ErrorSample)
	}
	return after.Mallocs - before.Mallocs
}

// maxClientAllocs bounds the client's allocations per request in steady
// state: the clientStream (0.99 measured against h2o at stop 20, since
// response HEADERS are decoded in place; 1.99 before).
const maxClientAllocs = 2

// TestRunH2Allocs measures the allocations per request of -mode h2c in
// steady state, as TestRunWSAllocs does for messages: a run of 8000
// requests minus one of 4000, divided by 4000, least of three tries.
// In-process the server's allocations are counted too and the figure is
// only logged. With MOLT_BENCH_H2_URL set to a server in another process
// (molt serve, h2o), it is the client's alone, which must stay under
// maxClientAllocs per request.
func TestRunH2Allocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over 36000 requests")
	}
	url := os.Getenv("MOLT_BENCH_H2_URL")
	alone := url != ""
	if !alone {
		url = h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })).URL
	}
	per := math.Inf(1)
	for range 3 {
		small := h2Mallocs(t, url, ModeH2C, 4000)
		large := h2Mallocs(t, url, ModeH2C, 8000)
		per = min(per, (float64(large)-float64(small))/4000)
	}
	if !alone {
		t.Logf("%.2f allocations per request (client and in-process server)", per)
		return
	}
	t.Logf("%.2f allocations per request (client alone)", per)
	if per > maxClientAllocs {
		t.Errorf("%.2f allocations per request, want at most %v", per, maxClientAllocs)
	}
}
