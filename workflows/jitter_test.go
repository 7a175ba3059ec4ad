package workflows

import (
	"testing"
	"time"
)

// Retry jitter is derived from the run, the path and the attempt: a replay
// of the run waits exactly as long, and other calls spread apart.
func TestRetryJitterIsDerived(t *testing.T) {
	p := retryPolicy{initialInterval: time.Second, backoff: 2, maxInterval: time.Minute, fullJitter: true}
	seen := map[time.Duration]bool{}
	for _, path := range []string{"a", "b", "each[0]", "each[1]", "each[2]"} {
		for attempt := 1; attempt <= 3; attempt++ {
			j := jitterOf("20261207T170000-abcdef", path, attempt)
			if j < 0 || j >= 1 {
				t.Fatalf("jitter %v outside [0, 1)", j)
			}
			if again := jitterOf("20261207T170000-abcdef", path, attempt); again != j {
				t.Fatalf("jitter of %s attempt %d: %v then %v", path, attempt, j, again)
			}
			seen[p.delay(attempt, j)] = true
		}
	}
	if len(seen) < 14 {
		t.Errorf("15 retries of different calls waited only %d different delays", len(seen))
	}
	if jitterOf("run-1", "a", 1) == jitterOf("run-2", "a", 1) {
		t.Error("two runs' retries of the same path wait the same")
	}
}
