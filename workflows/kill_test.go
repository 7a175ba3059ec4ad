package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The SIGKILL test re-executes this test binary as the flow runner: with
// these variables set, TestMain runs one flow and exits instead of testing.
const (
	envRunner  = "MEDIATOR_WORKFLOWS_TEST_RUNNER"
	envURL     = "MEDIATOR_WORKFLOWS_TEST_URL"
	envFlow    = "MEDIATOR_WORKFLOWS_TEST_FLOW"
	envJournal = "MEDIATOR_WORKFLOWS_TEST_JOURNAL"
	envRunID   = "MEDIATOR_WORKFLOWS_TEST_RUN_ID"
	// envMarkDone lists the calls a resume runner settles as done.
	envMarkDone = "MEDIATOR_WORKFLOWS_TEST_MARK_DONE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRunner) {
	case "1":
		os.Exit(runnerMain())
	case "resume":
		os.Exit(resumeRunnerMain())
	case envTasksRunner:
		os.Exit(tasksRunnerMain())
	}
	os.Exit(m.Run())
}

// runnerMain runs the flow named in the environment against the HTTP
// server named there, journalling to the given file. It is killed midway.
func runnerMain() int {
	ctx := context.Background()
	f, err := Load(os.Getenv(envFlow))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	caller, closeFn, err := httpCaller(ctx, os.Getenv(envURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer closeFn()
	j, err := OpenJournal(os.Getenv(envJournal), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer j.Close()
	_, err = Run(ctx, f, RunOptions{Runtime: NewLocalRuntime(caller), Journal: j, RunID: os.Getenv(envRunID), TrustAnnotations: trustAll})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func httpCaller(ctx context.Context, url string) (*SessionCaller, func(), error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "mediator-test", Version: "1"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		return nil, nil, err
	}
	return &SessionCaller{Sessions: map[string]*mcp.ClientSession{"cal": cs}}, func() { cs.Close() }, nil
}

// bookingServer books events idempotently per _meta key and counts both
// the requests per key and the bookings actually made.
type bookingServer struct {
	mu       sync.Mutex
	requests map[string]int
	booked   map[string]string
	total    int
}

func (b *bookingServer) handler() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "cal", Version: "1"}, nil)
	// No annotations: the tool is neither read-only nor idempotent, so only
	// the idempotency key makes re-sending it safe.
	s.AddTool(&mcp.Tool{Name: "book", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		key, _ := req.Params.Meta[MetaIdempotencyKey].(string)
		if key == "" {
			return toolErr("no idempotency key"), nil
		}
		b.mu.Lock()
		b.requests[key]++
		id, ok := b.booked[key]
		if !ok {
			b.total++
			id = fmt.Sprintf("ev-%d", b.total)
			b.booked[key] = id
		}
		b.mu.Unlock()
		// Slow enough that the kill lands mid-loop with calls in flight.
		time.Sleep(15 * time.Millisecond)
		return structured(map[string]any{"event_id": id, "key": key}), nil
	})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
}

func (b *bookingServer) bookings() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.booked)
}

// TestSIGKILLThenResume kills the runner process with SIGKILL in the middle
// of a for_each over a real HTTP MCP server, then resumes the run from its
// journal: every item ends booked exactly once, no call whose success was
// journalled is sent again, only calls in flight at the kill are re-sent
// (with the same key, which the server recognises), and every result is in
// the outputs.
func TestSIGKILLThenResume(t *testing.T) {
	const items = 40
	srvState, srvURL := newBookingServer(t)

	flowPath, journalPath := writeRunnerFlow(t, "book.flow.yaml", fmt.Sprintf(`
version: 1
name: book-many
steps:
  - id: book
    for_each: ${ [range(%d)] }
    max_concurrency: 4
    call: {server: cal, tool: book}
    with: {n: ${ .item }}
    idempotency_key: ${ "booking-\(.item)" }
outputs:
  ids: ${ [.steps.book.items[].result.event_id] }
`, items))
	const runID = "kill-test-run"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Kill once a good part of the loop is done, while calls are in flight.
	killRunnerWhen(ctx, t, srvURL, flowPath, journalPath, runID, func() bool { return srvState.bookings() >= items/3 })
	if n := srvState.bookings(); n >= items {
		t.Fatalf("all %d items booked before the kill", n)
	}

	j := openTestJournal(t, journalPath)
	before := lastAttempts(ctx, t, j, runID)
	doneBefore, inFlight := map[string]bool{}, map[string]bool{}
	for path, a := range before {
		switch a.State {
		case AttemptSucceeded:
			doneBefore[path] = true
		case AttemptStarted:
			inFlight[path] = true
		}
	}
	if len(doneBefore) == 0 {
		t.Fatal("journal has no finished call from before the kill")
	}
	if len(inFlight) > 4 {
		t.Fatalf("%d calls in flight with max_concurrency 4", len(inFlight))
	}
	requestsBefore := srvState.requestCounts()

	f, err := Load(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resume(ctx, f, runID, httpRunOptions(ctx, t, srvURL, j), ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}

	srvState.mu.Lock()
	defer srvState.mu.Unlock()
	ids := checkBookedOnce(t, srvState, items, res.Outputs)
	resent := 0
	for i := range items {
		path, key := fmt.Sprintf("book[%d]", i), fmt.Sprintf("booking-%d", i)
		if ids[i] != srvState.booked[key] {
			t.Errorf("%s: output id %v, server booked %s", path, ids[i], srvState.booked[key])
		}
		sent := srvState.requests[key]
		switch {
		case doneBefore[path]:
			if sent != 1 || requestsBefore[key] != 1 {
				t.Errorf("%s succeeded before the kill but was sent %d times", path, sent)
			}
		case inFlight[path]:
			// In flight at the kill: outcome unknown, so it is sent again
			// with the same key; the server recognised it.
			if sent > 2 {
				t.Errorf("%s in flight at the kill was sent %d times", path, sent)
			}
			if sent == 2 {
				resent++
			}
		default:
			if sent != 1 || requestsBefore[key] != 0 {
				t.Errorf("%s not started before the kill: sent %d times (%d before)", path, sent, requestsBefore[key])
			}
		}
	}
	t.Logf("killed after %d journalled successes with %d calls in flight; resume re-sent %d keyed calls, booked the rest once", len(doneBefore), len(inFlight), resent)
	var payload []byte
	payload, _ = json.Marshal(res.Outputs)
	if len(payload) == 0 {
		t.Fatal("no outputs")
	}
}
