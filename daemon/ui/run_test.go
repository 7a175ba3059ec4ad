package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
)

// A run's steps: for_each items counted under their step, a step inside a
// for_each group's items counted under its static path with a status
// summed up from them, a nested for_each's items under it, attempts the
// most a call took, durations from the calls' times.
func TestStepsOfARun(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	info := &daemon.RunInfo{Status: workflows.RunFailed, Steps: map[string]string{
		"remind": "succeeded", "remind[0]": "succeeded", "remind[1]": "skipped", "remind[2]": "succeeded",
		"batch": "failed", "batch[0]": "succeeded", "batch[1]": "failed",
		"batch[0]/upload": "succeeded", "batch[1]/upload": "failed",
		"batch[0]/tag": "succeeded", "batch[0]/tag[0]": "succeeded", "batch[0]/tag[1]": "succeeded",
	}, Calls: []daemon.CallInfo{
		{Path: "batch[0]/upload", Step: "batch/upload", State: "succeeded", Attempt: 1, StartedAt: t0, FinishedAt: t0.Add(time.Second)},
		{Path: "batch[1]/upload", Step: "batch/upload", State: "failed", Attempt: 3, ErrorClass: workflows.ClassTransport, Error: "dial tcp: refused",
			StartedAt: t0.Add(500 * time.Millisecond), FinishedAt: t0.Add(2 * time.Second)},
	}}
	u := &UI{opts: Options{}}
	got := map[string]string{}
	for _, s := range u.steps(info, nil) {
		got[s.Path] = fmt.Sprintf("%s %d %v %d %s %s", s.Status, s.ItemsAll, s.Items, s.Attempts, s.Duration, s.Class)
	}
	want := map[string]string{
		"remind":       "succeeded 3 [{skipped 1} {succeeded 2}] 0  ",
		"batch":        "failed 2 [{failed 1} {succeeded 1}] 0  ",
		"batch/upload": "failed 2 [{failed 1} {succeeded 1}] 3 2s transport",
		"batch/tag":    "succeeded 2 [{succeeded 2}] 0  ",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("steps: %v", got)
	}
}
