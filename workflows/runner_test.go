package workflows

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The rig of the kill -9 tests: a booking server over loopback HTTP, a
// runner process (this test binary, see TestMain) killed once a condition
// holds, and the journal and run options a resume in the test uses.

// newBookingServer starts a bookingServer over loopback HTTP, closed at
// the test's end, and returns it with its URL.
func newBookingServer(t *testing.T) (*bookingServer, string) {
	t.Helper()
	b := &bookingServer{requests: map[string]int{}, booked: map[string]string{}}
	srv := httptest.NewServer(b.handler())
	t.Cleanup(srv.Close)
	return b, srv.URL
}

// requestCounts returns a copy of the requests per key so far.
func (b *bookingServer) requestCounts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.requests)
}

// writeRunnerFlow writes the flow text as name in a new directory and
// returns its path and the path of a journal beside it.
func writeRunnerFlow(t *testing.T, name, text string) (flowPath, journalPath string) {
	t.Helper()
	dir := t.TempDir()
	flowPath = filepath.Join(dir, name)
	if err := os.WriteFile(flowPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return flowPath, filepath.Join(dir, JournalFile)
}

// killRunnerWhen starts a runner process that runs the flow at flowPath
// against the server at srvURL, journalling to journalPath as run runID,
// and kills it with SIGKILL once cond holds. The test fails if cond does
// not hold before ctx ends, or if the runner succeeded before the kill.
func killRunnerWhen(ctx context.Context, t *testing.T, srvURL, flowPath, journalPath, runID string, cond func() bool) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRunner+"=1", envURL+"="+srvURL, envFlow+"="+flowPath, envJournal+"="+journalPath, envRunID+"="+runID)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !cond() {
		if ctx.Err() != nil {
			t.Fatal("runner made no progress")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if cmd.ProcessState.Success() {
		t.Fatal("runner finished before it was killed; make the flow longer")
	}
}

// openTestJournal opens the journal at path, closed at the test's end.
func openTestJournal(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// lastAttempts returns the last journalled attempt of each call path of
// runID.
func lastAttempts(ctx context.Context, t *testing.T, j *Journal, runID string) map[string]*AttemptRecord {
	t.Helper()
	last, err := j.LastAttempts(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// httpRunOptions connects to the server at srvURL as server "cal" (the
// session closed at the test's end) and returns the options of a run or
// resume over it, journalled to j.
func httpRunOptions(ctx context.Context, t *testing.T, srvURL string, j *Journal) RunOptions {
	t.Helper()
	caller, closeFn, err := httpCaller(ctx, srvURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	return RunOptions{Runtime: NewLocalRuntime(caller), Journal: j, TrustAnnotations: trustAll}
}

// checkBookedOnce checks, with b locked, that the for_each of a resumed
// run booked each of range(items) once and that its outputs hold an
// "ids" list of items results, which it returns.
func checkBookedOnce(t *testing.T, b *bookingServer, items int, outputs map[string]any) []any {
	t.Helper()
	if len(b.booked) != items || b.total != items {
		t.Fatalf("%d keys booked, %d bookings made; want %d each", len(b.booked), b.total, items)
	}
	ids, _ := outputs["ids"].([]any)
	if len(ids) != items {
		t.Fatalf("outputs hold %d ids", len(ids))
	}
	return ids
}

// checkCleanupResent checks the keyed calls of a for_each over
// range(items), at paths pathFormat % i with keys keyFormat % i, after a
// resume: one that succeeded before the kill was sent once, one not sent
// before the kill was sent once, and one in flight at the kill at most
// twice.
func checkCleanupResent(t *testing.T, b *bookingServer, pathFormat, keyFormat string, items int, doneBefore map[string]bool, requestsBefore map[string]int) {
	t.Helper()
	for i := range items {
		path, key := fmt.Sprintf(pathFormat, i), fmt.Sprintf(keyFormat, i)
		sent := b.requests[key]
		switch {
		case doneBefore[path]:
			if sent != 1 {
				t.Errorf("%s completed before the kill but was sent %d times", path, sent)
			}
		case requestsBefore[key] == 0 && sent != 1:
			t.Errorf("%s not started before the kill: sent %d times", path, sent)
		case sent > 2:
			t.Errorf("%s in flight at the kill was sent %d times", path, sent)
		}
	}
}

// connectInMemory connects a client to srv over in-memory transports and
// returns its session; both ends are closed at the test's end.
func connectInMemory(ctx context.Context, t *testing.T, srv *mcp.Server) *mcp.ClientSession {
	t.Helper()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mediator-test", Version: "1"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	cs, err := client.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return cs
}
