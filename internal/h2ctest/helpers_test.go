package h2ctest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests, so that a bug fails a test
// instead of hanging it.
const testTimeout = 30 * time.Second

// checkNoLeaks fails t if, once its other cleanups have run, goroutines
// running the client's or this package's code remain. Call it first in a
// test.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var leaked []string
		for range 1000 { // goroutines may take a moment to notice closed conns
			leaked = leaked[:0]
			buf := make([]byte, 1<<20)
			stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
			for _, g := range stacks[1:] { // stacks[0] is this goroutine
				if strings.Contains(g, "/internal/h2client.") || strings.Contains(g, "/internal/h2ctest.") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	})
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// pattern returns n deterministic, non-repeating-looking bytes.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}
