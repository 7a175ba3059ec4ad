//go:build unix

package bench

import (
	"context"
	"flag"
	"slices"
	"syscall"
	"testing"
	"time"
)

var (
	ratio       = flag.Bool("ratio", false, "measure the mediated/direct ratios (run by ratio.sh)")
	ratioRounds = flag.Int("ratio.rounds", 200, "alternating rounds per comparison")
	ratioBatch  = flag.Int("ratio.batch", 20, "calls per batch")
)

// TestRatio measures mediated against direct in alternating batches within
// one process. On a shared machine, load from elsewhere drifts over seconds;
// back-to-back benchmarks then compare different machines, while
// alternating batches see the same drift and the median of their per-call
// times cancels it. Besides wall time it reports process CPU time per call
// (all goroutines: client, server, GC), which other processes' load
// disturbs far less. A mediated batch ends by waiting for its calls' audit
// records, which are written behind the calls: otherwise the last writes
// would land in the next direct batch's time. It prints numbers and
// asserts nothing about time.
func TestRatio(t *testing.T) {
	if !*ratio {
		t.Skip("pass -ratio (or run bench/ratio.sh) to measure")
	}
	for _, c := range []struct {
		name     string
		direct   func(testing.TB) caller
		mediated func(testing.TB) (call, settle caller)
		target   float64
	}{
		{"in-process", directInProcess, mediatedInProcess, 1.10},
		{"HTTP", directHTTP, mediatedHTTP, 1.05},
	} {
		d := c.direct(t)
		m, settle := c.mediated(t)
		dw, dc, mw, mc := alternate(t, d, m, settle, *ratioRounds, *ratioBatch)
		wall, cpu := pairedRatio(mw, dw), pairedRatio(mc, dc)
		verdict := "within"
		if wall > c.target {
			verdict = "OVER"
		}
		t.Logf("%-10s wall: direct %6.1f µs, mediated %6.1f µs, ratio %.3f | cpu: direct %6.1f µs, mediated %6.1f µs, ratio %.3f | target ≤ %.2f (wall): %s",
			c.name, median(dw), median(mw), wall, median(dc), median(mc), cpu, c.target, verdict)
	}
}

// pairedRatio is the median of the ratios of batches run back to back,
// which cancels load that drifts slower than two batches.
func pairedRatio(m, d []float64) float64 {
	r := make([]float64, len(m))
	for i := range m {
		r[i] = m[i] / d[i]
	}
	return median(r)
}

// alternate times batches of each caller in turn, swapping which goes first
// every round, and returns per-call wall and CPU microseconds per batch.
// settle ends every mediated batch, inside its timing.
func alternate(t *testing.T, d, m, settle caller, rounds, batch int) (dWall, dCPU, mWall, mCPU []float64) {
	ctx := context.Background()
	timeBatch := func(c, end caller, wall, cpu *[]float64) {
		startCPU := cpuTime(t)
		start := time.Now()
		for range batch {
			if err := c(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if end != nil {
			if err := end(ctx); err != nil {
				t.Fatal(err)
			}
		}
		*wall = append(*wall, float64(time.Since(start).Nanoseconds())/1e3/float64(batch))
		*cpu = append(*cpu, float64((cpuTime(t)-startCPU).Nanoseconds())/1e3/float64(batch))
	}
	var discard []float64
	timeBatch(d, nil, &discard, &discard) // warm up both sides
	timeBatch(m, settle, &discard, &discard)
	for i := range rounds {
		if i%2 == 0 {
			timeBatch(d, nil, &dWall, &dCPU)
			timeBatch(m, settle, &mWall, &mCPU)
		} else {
			timeBatch(m, settle, &mWall, &mCPU)
			timeBatch(d, nil, &dWall, &dCPU)
		}
	}
	return dWall, dCPU, mWall, mCPU
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
