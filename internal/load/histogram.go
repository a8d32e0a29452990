package load

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values below 2^subBits are counted exactly; above,
// each power-of-two range [2^k, 2^(k+1)) is split into halfCount buckets of
// equal width, so a bucket is at most 1/halfCount (< 0.1%) of its values
// wide: three significant decimal digits, as HdrHistogram gives with
// significantFigures=3.
const (
	subBits   = 11
	subCount  = 1 << subBits // 2048
	halfCount = subCount / 2 // 1024
	// maxShift bounds the range: values up to 2^(subBits+maxShift)-1 ns
	// (about 73 minutes) are counted; larger ones are clamped to it.
	maxShift = 31
	// numBuckets is the fixed size of a Histogram's counts.
	numBuckets = subCount + maxShift*halfCount
	// MaxValue is the largest value a Histogram distinguishes.
	maxTracked = int64(1)<<(subBits+maxShift) - 1
)

// Histogram counts durations, in nanoseconds, in log-linear buckets with a
// relative error below 0.1% (HDR-style, three significant digits) in
// fixed memory (about 256 KiB once the first value is recorded).
// Histograms of several workers merge exactly. The zero value is an empty
// histogram ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts   []uint64
	total    uint64
	min, max int64
	sum      float64 // of the recorded values, for the mean
}

// bucketOf returns the bucket index for v >= 0.
func bucketOf(v int64) int {
	if v > maxTracked {
		v = maxTracked
	}
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits // >= 1
	top := int(v >> shift)                   // in [halfCount, subCount)
	return subCount + (shift-1)*halfCount + top - halfCount
}

// bucketRange returns the smallest and largest value counted in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := (i-subCount)/halfCount + 1
	top := int64((i-subCount)%halfCount + halfCount)
	lo = top << shift
	return lo, lo + 1<<shift - 1
}

// Record counts one value; negative values count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds the counts of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.min, h.max, h.sum = 0, 0, 0, 0
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest value recorded, exactly; 0 if none.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest value recorded, exactly; 0 if none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the values recorded; 0 if none.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value below or at which a fraction q (0 to 1) of the
// recorded values lie: the value of rank ceil(q*count), within 0.1%. It
// returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Bucket is a range of values and how many were recorded in it.
type Bucket struct {
	Lo, Hi time.Duration // inclusive
	Count  uint64
}

// Buckets returns the non-empty buckets in ascending order, merged into
// ranges about 1% wide so that a plot has a readable number of points.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		lo, hi := bucketRange(i)
		if n := len(out); n > 0 && float64(hi-int64(out[n-1].Lo)) <= 0.01*float64(out[n-1].Lo) {
			out[n-1].Hi = time.Duration(hi)
			out[n-1].Count += c
			continue
		}
		out = append(out, Bucket{Lo: time.Duration(lo), Hi: time.Duration(hi), Count: c})
	}
	return out
}
