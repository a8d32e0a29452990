package h2

import (
	"os"
	"syscall"
)

// A pollWake lets the read loop wake one goroutine through the runtime's
// network poller instead of readying it directly (see stream.pw): wait
// parks the caller in a read of an eventfd, wake adds to its counter.
// A goroutine the poller finds ready is run by the thread that polls,
// which is the one about to look for work; one readied directly also
// wakes an idle thread when the process has an idle P, and on a
// WebSocket echoing one message at a time that thread's wake-up, its
// spinning and its sleep cost more than the round trip's own work.
type pollWake struct {
	f  *os.File
	fd int
	rb [8]byte
}

// newPollWake returns a pollWake, or nil if no eventfd can be had (then
// the caller waits on its sync.Cond as everywhere else).
func newPollWake() *pollWake {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	// Non-blocking, so os.NewFile registers it with the poller; if that
	// fails, reads return EAGAIN and wait fails, and the caller drops it.
	f := os.NewFile(fd, "h2-body-wake")
	if f == nil {
		syscall.Close(int(fd))
		return nil
	}
	return &pollWake{f: f, fd: int(fd)}
}

// wait blocks until wake has been called since the last wait returned
// (it reads the counter back to 0), or the pollWake is closed (an
// error). One goroutine waits at a time.
func (w *pollWake) wait() error {
	_, err := w.f.Read(w.rb[:])
	return err
}

// wakeOne is the eventfd counter's increment.
var wakeOne = [8]byte{1}

// wake makes the current or next wait return. It never blocks: the
// counter would have to reach 2^64-1.
func (w *pollWake) wake() {
	syscall.Write(w.fd, wakeOne[:])
}

// close releases the eventfd; a wait in progress returns an error.
func (w *pollWake) close() { w.f.Close() }
