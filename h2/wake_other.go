//go:build !linux

package h2

// pollWake is Linux's eventfd (wake_linux.go); elsewhere a Read waits on
// its stream's sync.Cond.
type pollWake struct{}

func newPollWake() *pollWake  { return nil }
func (*pollWake) wait() error { return nil }
func (*pollWake) wake()       {}
func (*pollWake) close()      {}
