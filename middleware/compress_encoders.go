package middleware

import (
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The content codings Compress can produce, by their registered names.
const (
	compZstd   = "zstd"
	compBrotli = "br"
	compGzip   = "gzip"
)

// The default level of each encoding, chosen for speed: a response is
// compressed on the request's own goroutine, so a slow level costs
// latency and CPU on every request.
const (
	compDefaultZstd   = 3 // zstd's own default; klauspost's SpeedDefault
	compDefaultBrotli = 4
	compDefaultGzip   = 5
)

// Window limits. Each pooled encoder keeps buffers in proportion to its
// window; 1 MiB windows keep a busy encoder at a few MiB (the libraries'
// defaults, 8 MiB for zstd and 4 MiB for brotli, cost 10 to 30 MiB each
// after a large response) and lose little on web responses.
const (
	compZstdWindow   = 1 << 20
	compBrotliLGWin  = 20
	compZstdMaxLevel = 22 // zstd's level scale, mapped onto klauspost's four
)

// encoder is what the three libraries' writers have in common.
type compEncoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

var (
	_ compEncoder = (*zstd.Encoder)(nil)
	_ compEncoder = (*brotli.Writer)(nil)
	_ compEncoder = (*gzip.Writer)(nil)
)

// encoding is one content coding at one level, with its pool of encoders:
// in steady state no encoder is allocated per response.
type compCoding struct {
	name  string
	level int
	pool  sync.Pool
}

// get returns an encoder writing to w.
func (e *compCoding) get(w io.Writer) compEncoder {
	enc := e.pool.Get().(compEncoder)
	enc.Reset(w)
	return enc
}

// put returns enc to the pool, pointed at io.Discard so that the pool
// keeps no response writer alive.
func (e *compCoding) put(enc compEncoder) {
	enc.Reset(io.Discard)
	e.pool.Put(enc)
}

type compCodingKey struct {
	name  string
	level int
}

// encodings holds one encoding per name and level for the whole process,
// so that every Compress with the same settings shares the same pools.
var compCodings struct {
	sync.Mutex
	m map[compCodingKey]*compCoding
}

// encodingFor returns the shared encoding for name at level, which the
// caller has validated.
func compCodingFor(name string, level int) *compCoding {
	if name == compZstd {
		// Only four zstd levels exist in klauspost/compress: share pools
		// between the zstd levels that map to the same one.
		level = int(zstd.EncoderLevelFromZstd(level))
	}
	compCodings.Lock()
	defer compCodings.Unlock()
	key := compCodingKey{name, level}
	if e := compCodings.m[key]; e != nil {
		return e
	}
	e := &compCoding{name: name, level: level}
	switch name {
	case compZstd:
		lvl := zstd.EncoderLevel(level)
		e.pool.New = func() any {
			enc, err := zstd.NewWriter(io.Discard,
				zstd.WithEncoderLevel(lvl),
				zstd.WithEncoderConcurrency(1), // synchronous: Flush and Close write before returning
				zstd.WithWindowSize(compZstdWindow),
				zstd.WithZeroFrames(true), // an empty body is still a valid frame
			)
			if err != nil {
				panic(fmt.Sprintf("middleware: Compress: zstd: %v", err))
			}
			return enc
		}
	case compBrotli:
		e.pool.New = func() any {
			return brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: level, LGWin: compBrotliLGWin})
		}
	case compGzip:
		e.pool.New = func() any {
			w, err := gzip.NewWriterLevel(io.Discard, level)
			if err != nil {
				panic(fmt.Sprintf("middleware: Compress: gzip: %v", err))
			}
			return w
		}
	default:
		panic("middleware: Compress: unknown encoding " + name)
	}
	if compCodings.m == nil {
		compCodings.m = make(map[compCodingKey]*compCoding)
	}
	compCodings.m[key] = e
	return e
}

// checkLevel validates level for the encoding name, 0 meaning the default,
// and returns the level to use.
func compLevel(name string, level int) int {
	var lo, hi, def int
	switch name {
	case compZstd:
		lo, hi, def = 1, compZstdMaxLevel, compDefaultZstd
	case compBrotli:
		lo, hi, def = 1, brotli.BestCompression, compDefaultBrotli
	case compGzip:
		lo, hi, def = gzip.BestSpeed, gzip.BestCompression, compDefaultGzip
	}
	if level == 0 {
		return def
	}
	if level < lo || level > hi {
		panic(fmt.Sprintf("middleware: Compress: %s level %d out of range %d..%d", name, level, lo, hi))
	}
	return level
}
