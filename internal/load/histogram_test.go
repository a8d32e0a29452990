package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistogramBuckets checks that every value falls in a bucket whose range
// holds it and is at most 0.1% wide, at the edges of every power of two.
func TestHistogramBuckets(t *testing.T) {
	var values []int64
	for k := 0; k < subBits+maxShift; k++ {
		p := int64(1) << k
		values = append(values, p-1, p, p+1, p+p/3)
	}
	values = append(values, maxTracked)
	slices.Sort(values)
	prev := -1
	for _, v := range values {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if w := hi - lo; float64(w) > float64(lo)/halfCount {
			t.Errorf("bucket %d = [%d, %d] is wider than 1/%d of its values", i, lo, hi, halfCount)
		}
		if i < prev || i >= numBuckets {
			t.Errorf("bucket %d for %d out of order or range", i, v)
		}
		prev = i
	}
	if got := bucketOf(math.MaxInt64); got != numBuckets-1 {
		t.Errorf("bucketOf(MaxInt64) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

// TestHistogramQuantiles compares quantiles with the exact ones of random
// samples from several distributions, and checks merging of shards.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := []struct {
		name string
		draw func() int64
	}{
		{"uniform 0-10ms", func() int64 { return rng.Int64N(int64(10 * time.Millisecond)) }},
		{"lognormal around 100us", func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5) * 100e3) }},
		{"exponential 1ms", func() int64 { return int64(rng.ExpFloat64() * 1e6) }},
		{"small exact", func() int64 { return rng.Int64N(3000) }},
		{"bimodal", func() int64 {
			if rng.IntN(100) == 0 {
				return 2e9 + rng.Int64N(1e9)
			}
			return 50e3 + rng.Int64N(10e3)
		}},
	}
	qs := []float64{0, 0.001, 0.5, 0.9, 0.99, 0.999, 1}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			const n = 100000
			samples := make([]int64, n)
			var shards [4]Histogram
			for i := range samples {
				samples[i] = d.draw()
				shards[i%4].Record(time.Duration(samples[i]))
			}
			var h Histogram
			for i := range shards {
				h.Merge(&shards[i])
			}
			slices.Sort(samples)
			if h.Count() != n || int64(h.Min()) != samples[0] || int64(h.Max()) != samples[n-1] {
				t.Errorf("count %d min %d max %d, want %d %d %d", h.Count(), h.Min(), h.Max(), n, samples[0], samples[n-1])
			}
			for _, q := range qs {
				rank := max(int(math.Ceil(q*n)), 1)
				exact := samples[rank-1]
				got := int64(h.Quantile(q))
				if diff := math.Abs(float64(got - exact)); diff > float64(exact)/halfCount+1 {
					t.Errorf("q=%v: %d, exact %d (relative error %.5f)", q, got, exact, diff/float64(exact))
				}
			}
			var sum float64
			for _, s := range samples {
				sum += float64(s)
			}
			if mean := sum / n; math.Abs(float64(h.Mean())-mean) > mean*1e-6+1 {
				t.Errorf("mean %v, exact %v", h.Mean(), mean)
			}
			var inBuckets uint64
			for _, b := range h.Buckets() {
				inBuckets += b.Count
			}
			if inBuckets != n {
				t.Errorf("Buckets hold %d values, want %d", inBuckets, n)
			}
		})
	}
}

func TestHistogramEmptyAndReset(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 || h.Mean() != 0 {
		t.Error("empty histogram not zero")
	}
	h.Record(-5)
	h.Record(time.Second)
	if h.Min() != 0 || h.Max() != time.Second || h.Quantile(1) != time.Second {
		t.Errorf("min %v max %v p100 %v", h.Min(), h.Max(), h.Quantile(1))
	}
	h.Reset()
	if h.Count() != 0 || h.Quantile(0.99) != 0 {
		t.Error("Reset left values")
	}
}
