package h2

import (
	"os"
	"syscall"
)

// A pollWake lets the read loop wake one goroutine through the runtime's
// network poller instead of readying it directly (see stream.pw): Wait
// parks the caller in a read of an eventfd, Wake adds to its counter.
// A goroutine the poller finds ready is run by the thread that polls,
// the one that is about to look for work; one readied directly also
// wakes an idle thread when the process has an idle P, and on a
// WebSocket echoing one message at a time that thread's wake-up, its
// spinning and its sleep cost more than the round trip's own work.
type pollWake struct {
	f      *os.File
	rc     syscall.RawConn
	fd     int
	polled bool               // tryRead has been called in this wait
	err    error              // what tryRead's read failed with
	try    func(uintptr) bool // tryRead, as a value made once
	rb     [8]byte
}

// newPollWake returns a pollWake, or nil if the eventfd cannot be had
// (then the caller waits on its sync.Cond as everywhere else).
func newPollWake() *pollWake {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	// Non-blocking, so os.NewFile registers it with the poller.
	f := os.NewFile(fd, "h2-body-wake")
	if f == nil {
		syscall.Close(int(fd))
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	w := &pollWake{f: f, rc: rc, fd: int(fd)}
	w.try = w.tryRead
	return w
}

// wait blocks until wake has been called since the last wait returned,
// or the pollWake is closed (an error).
func (w *pollWake) wait() error {
	w.polled, w.err = false, nil
	if err := w.rc.Read(w.try); err != nil {
		return err
	}
	return w.err
}

// tryRead is wait's step for RawConn.Read: the first call waits for the
// poller without reading (a wake that came first has made the eventfd
// ready, and the poller says so), which saves the read that would find
// the counter at 0; the next reads the counter back to 0, or finds it
// at 0 after a readiness left from before and waits again.
func (w *pollWake) tryRead(fd uintptr) bool {
	if !w.polled {
		w.polled = true
		return false
	}
	_, err := syscall.Read(int(fd), w.rb[:])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return false
	}
	w.err = err
	return true
}

// wakeOne is the eventfd counter's increment.
var wakeOne = [8]byte{1}

// wake makes the next or current wait return. It never blocks: the
// counter would have to reach 2^64-1.
func (w *pollWake) wake() {
	syscall.Write(w.fd, wakeOne[:])
}

// close releases the eventfd; a wait in progress returns an error.
func (w *pollWake) close() { w.f.Close() }
