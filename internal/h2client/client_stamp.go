package h2client

import (
	"io"
	"net"
	"time"
)

// stampWriter is what a connection's bufio.Writer writes to. It records,
// for each stream opened by Send, when the write system call that carried
// the end of its HEADERS frame began: the moment the request left the
// client, which Result.SentAt reports. All its methods run under the
// connection's write lock.
type stampWriter struct {
	w       io.Writer
	epoch   time.Time    // sentAt values count from here (monotonic clock)
	written int64        // bytes written to w so far
	pending []stampEntry // Send streams buffered, not yet written, in order
}

// stampEntry is a stream whose frame ends at byte end of the connection's
// output.
type stampEntry struct {
	cs  *clientStream
	end int64
}

// queue records that cs's HEADERS frame ends at offset end of the output
// (bytes written so far plus bytes buffered).
func (s *stampWriter) queue(cs *clientStream, end int64) {
	s.pending = append(s.pending, stampEntry{cs, end})
}

// Write stamps the streams whose frame p completes, then writes p: the
// stamp must be in place before the response can arrive, which may be
// before w.Write returns. One clock read per write, not per stream. (A
// net.Conn's Write writes all of p or fails the connection, so p is
// taken as written.)
func (s *stampWriter) Write(p []byte) (int, error) {
	s.stamp(int64(len(p)))
	n, err := s.w.Write(p)
	s.written += int64(n)
	return n, err
}

// writeBuffers is Write for a vector, in one writev where w is a
// *net.TCPConn. It consumes v.
func (s *stampWriter) writeBuffers(v *net.Buffers) (int64, error) {
	var size int64
	for _, b := range *v {
		size += int64(len(b))
	}
	s.stamp(size)
	n, err := v.WriteTo(s.w)
	s.written += n
	return n, err
}

// stamp stamps the streams whose frame the next size bytes of output
// complete.
func (s *stampWriter) stamp(size int64) {
	if len(s.pending) > 0 {
		at := int64(time.Since(s.epoch)) + 1
		upTo := s.written + size
		i := 0
		for ; i < len(s.pending) && s.pending[i].end <= upTo; i++ {
			s.pending[i].cs.sentAt.Store(at)
		}
		if i > 0 {
			rest := copy(s.pending, s.pending[i:])
			clear(s.pending[rest:])
			s.pending = s.pending[:rest]
		}
	}
}

// sentTime returns when cs's request was written, zero if it was not.
func (s *stampWriter) sentTime(cs *clientStream) time.Time {
	at := cs.sentAt.Load()
	if at == 0 {
		return time.Time{}
	}
	return s.epoch.Add(time.Duration(at - 1))
}

// writesVectors reports whether c writes a net.Buffers in one system
// call (writev); through other connections, wrappers say, net.Buffers
// writes buffer by buffer.
func writesVectors(c net.Conn) bool {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}
