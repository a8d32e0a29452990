package h2

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// fuzzSource delivers data in chunks whose sizes come from sizes (cycled),
// then errEnd. A read with timeout set returns (0, os.ErrDeadlineExceeded)
// instead, as a read interrupted by a deadline in the past does (lead.go).
type fuzzSource struct {
	data    []byte
	sizes   []byte
	k       int
	timeout bool
}

var errFuzzEnd = errors.New("end of fuzz input")

func (s *fuzzSource) Read(p []byte) (int, error) {
	if s.timeout {
		s.timeout = false
		return 0, os.ErrDeadlineExceeded
	}
	if len(s.data) == 0 {
		return 0, errFuzzEnd
	}
	n := 1
	if len(s.sizes) > 0 {
		n = int(s.sizes[s.k%len(s.sizes)])*97 + 1 // 1 to 24,736 bytes
		s.k++
	}
	n = copy(p[:min(n, len(p))], s.data)
	s.data = s.data[n:]
	return n, nil
}

// fuzzSizes are the sizes the fuzzer's reads, next and peek ask for:
// around a frame header, the small array and a pooled buffer.
var fuzzSizes = []int{1, 8, 9, 10, 100, idleReadSize - 1, idleReadSize, idleReadSize + 1, 4096, bufSize - 1, bufSize, bufSize + 1, 70000}

// FuzzReadBuffer drives a readBuffer the way the read loop, a leading
// tunnel Read and the Framer do (fill, Read, next, peek, release, with
// interrupted fills and the final error kept), over input in chunks of
// fuzzed sizes, and checks it against a model, the bytes delivered so
// far: nothing lost, duplicated or reordered; Buffered, frameBuffered,
// frameLen and dataFor as the buffered bytes say; the bytes next and peek
// return equal to the input; buf either the small array or a pooled
// buffer, as pooled says; and after everything, the final error once.
func FuzzReadBuffer(f *testing.F) {
	f.Add([]byte("\x00\x00\x05\x01\x04\x00\x00\x00\x01hello"), []byte{1, 3, 2, 0}, []byte{0})
	f.Add(bytes.Repeat([]byte{0, 2, 0, 0, 0, 0, 0, 0, 3}, 100), []byte{1, 1, 5, 0, 2, 1, 3, 4}, []byte{5, 200, 3})
	f.Add(bytes.Repeat([]byte("x"), 40000), []byte{1, 6, 1, 1, 0, 2}, []byte{255, 1})
	f.Fuzz(func(t *testing.T, data, ops, sizes []byte) {
		src := &fuzzSource{data: data, sizes: sizes}
		b := &readBuffer{src: src}
		var got []byte // consumed, in order
		kept := false  // the final error is kept or returned
		check := func(op string) {
			t.Helper()
			want := data[len(got) : len(data)-len(src.data)] // delivered, not consumed
			if b.Buffered() != len(want) {
				t.Fatalf("after %s: Buffered %d, want %d", op, b.Buffered(), len(want))
			}
			if b.buf != nil {
				if b.pooled == (b.buf == &b.inSmall) || b.pooled && len(*b.buf) != bufSize {
					t.Fatalf("after %s: pooled %v with buf at small: %v, %d bytes", op, b.pooled, b.buf == &b.inSmall, len(*b.buf))
				}
				if !bytes.Equal((*b.buf)[b.r:b.w], want) {
					t.Fatalf("after %s: the buffered bytes are not the input's", op)
				}
			}
			whole := len(want) >= 9 && len(want) >= 9+(int(want[0])<<16|int(want[1])<<8|int(want[2]))
			if b.frameBuffered() != whole {
				t.Fatalf("after %s: frameBuffered %v, want %v", op, b.frameBuffered(), whole)
			}
			if len(want) >= 9 {
				if n := 9 + (int(want[0])<<16 | int(want[1])<<8 | int(want[2])); b.frameLen() != n {
					t.Fatalf("after %s: frameLen %d, want %d", op, b.frameLen(), n)
				}
				id := (uint32(want[5])<<24 | uint32(want[6])<<16 | uint32(want[7])<<8 | uint32(want[8])) & (1<<31 - 1)
				if !b.dataFor(id) != (want[3] != 0) {
					t.Fatalf("after %s: dataFor(%d) %v for type %d", op, id, b.dataFor(id), want[3])
				}
			}
		}
		for i, op := range ops {
			size := fuzzSizes[int(op>>3)%len(fuzzSizes)]
			switch op % 8 {
			case 0, 7: // the Framer's read
				if kept && b.Buffered() == 0 {
					break // the error is next: the end's Read returns it
				}
				p := make([]byte, size)
				n, err := b.Read(p)
				got = append(got, p[:n]...)
				if err != nil && err != errFuzzEnd {
					t.Fatalf("op %d: Read: %v", i, err)
				}
				if err == errFuzzEnd {
					kept = true // returned; the end's Read returns it again
					if n != 0 || len(src.data) != 0 {
						t.Fatalf("op %d: the end came with %d bytes, %d undelivered", i, n, len(src.data))
					}
				}
			case 1: // the read loop's or a leader's fill
				if kept {
					break
				}
				err := b.fill()
				switch {
				case err == errFuzzEnd:
					b.keep(err)
					kept = true
				case err != nil:
					t.Fatalf("op %d: fill: %v", i, err)
				}
			case 2: // an interrupted fill
				if kept {
					break
				}
				src.timeout = true
				if err := b.fill(); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("op %d: interrupted fill returned %v", i, err)
				}
			case 3:
				b.release(func() bool { return op&8 != 0 })
			case 4: // a payload parsed in place
				at, avail := len(got), b.Buffered()
				p, ok := b.next(size)
				if ok != (avail >= size) || ok && !bytes.Equal(p, data[at:at+size]) || !ok && len(p) != 0 {
					t.Fatalf("op %d: next(%d) = %d bytes, %v, not the input's", i, size, len(p), ok)
				}
				got = append(got, p...)
			case 5:
				p := b.peek(size)
				if want := data[len(got):]; len(p) > len(want) || !bytes.Equal(p, want[:len(p)]) || len(p) != min(size, b.Buffered()) {
					t.Fatalf("op %d: peek(%d) = %d bytes, not the input's", i, size, len(p))
				}
			case 6:
				if b.frameTooLarge() != (b.buf != nil && b.frameLen() > bufSize) {
					t.Fatalf("op %d: frameTooLarge %v with frameLen %d", i, b.frameTooLarge(), b.frameLen())
				}
			}
			check("op " + string(rune('0'+op%8)))
		}
		// The Framer reads to the end: every byte, then the error, once
		// kept or always at the end.
		p := make([]byte, 1000)
		for {
			n, err := b.Read(p)
			got = append(got, p[:n]...)
			if err == errFuzzEnd {
				break
			}
			if err != nil {
				t.Fatalf("draining: %v", err)
			}
			if n == 0 {
				t.Fatal("draining: Read returned nothing and no error")
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, not the %d sent, in order", len(got), len(data))
		}
		b.release(func() bool { return true })
		if b.buf != nil || b.pooled {
			t.Fatal("not released at the end")
		}
	})
}
