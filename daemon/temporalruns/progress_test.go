package temporalruns_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
)

// A server's progress report on a call in flight reaches the run's event
// stream, as a local run's does, under the last event's id (a client that
// reconnects does not get it again); the call is let go only once the
// report was seen.
func TestProgressOverEvents(t *testing.T) {
	rg := newRig(t, nil)
	id, _ := rg.submit(t, "report", nil, http.StatusCreated)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rg.url+"/v1/runs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var (
		lastID, curID, typ string
		sawProgress        bool
	)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			curID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var ev daemon.Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case string(workflows.EventProgress):
				if ev.Server != "work" || ev.Progress != 1 || ev.Total != 4 || ev.Message != "one of four" || curID != lastID {
					t.Fatalf("progress event %+v (id %s after %s)", ev, curID, lastID)
				}
				sawProgress = true
				rg.work.open()
			case daemon.EventRunFinished:
				if !sawProgress {
					t.Fatal("the run finished before its progress report was streamed")
				}
				if ev.Status != workflows.RunSucceeded {
					t.Fatalf("run-finished %+v", ev)
				}
				return
			}
			lastID = curID
		}
	}
	t.Fatalf("the stream ended without run-finished (progress seen: %v): %v", sawProgress, sc.Err())
}
