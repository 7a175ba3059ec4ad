package runs

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/workflows"
)

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute,
		"1w3d": 10 * 24 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour, "0s": 0,
	} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "30", "d", "-1d", "30x", "1y"} {
		if _, err := ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q) accepted", in)
		}
	}
}

// newFactory is a Factory over an isolated state directory.
func newFactory(t *testing.T) (*cmdutil.Factory, string) {
	dir := t.TempDir()
	vars := map[string]string{"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "config"), "XDG_STATE_HOME": filepath.Join(dir, "state")}
	ios, _, _, _ := iostreams.Test()
	return cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := vars[k]; return v, ok }), filepath.Join(dir, "state", "mediator", workflows.JournalFile)
}

func TestNewCmdPruneParsesFlags(t *testing.T) {
	f, _ := newFactory(t)
	for _, tc := range []struct {
		args     []string
		age      time.Duration
		statuses []string
		dry, yes bool
	}{
		{nil, 0, defaultPrune, false, false},
		{[]string{"--older-than", "30d", "--status", "failed,cancelled", "--status", "interrupted", "--dry-run"}, 30 * 24 * time.Hour, []string{"failed", "cancelled", "interrupted"}, true, false},
		{[]string{"-y", "--status", "succeeded"}, 0, []string{"succeeded"}, false, true},
	} {
		var got *PruneOptions
		cmd := NewCmdPrune(f, func(_ context.Context, o *PruneOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got.OlderThan != tc.age || !slices.Equal(got.Statuses, tc.statuses) || got.DryRun != tc.dry || got.Yes != tc.yes {
			t.Errorf("%v: parsed %+v", tc.args, got)
		}
	}
}

// --older-than counts from the start of each run, and a run whose process
// died counts as interrupted, pruned only when asked; a live one never.
func TestPruneSelectsByAgeAndStatus(t *testing.T) {
	f, path := newFactory(t)
	j, err := workflows.OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, r := range []*workflows.RunRecord{
		{ID: "old-ok", Status: workflows.RunSucceeded, StartedAt: now.AddDate(0, 0, -40), PID: 1},
		{ID: "old-dead", Status: workflows.RunRunning, StartedAt: now.AddDate(0, 0, -40), PID: 2},
		{ID: "old-live", Status: workflows.RunRunning, StartedAt: now.AddDate(0, 0, -40), PID: 3},
		{ID: "new-ok", Status: workflows.RunSucceeded, StartedAt: now.AddDate(0, 0, -1), PID: 4},
	} {
		r.FlowName, r.FlowPath, r.UpdatedAt = "f", "/f.flow.yaml", r.StartedAt
		if err := j.CreateRun(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	prune := func(args ...string) []string {
		t.Helper()
		cmd := NewCmdPrune(f, func(ctx context.Context, o *PruneOptions) error {
			o.Now = func() time.Time { return now }
			o.Alive = func(pid int) bool { return pid == 3 }
			return pruneRun(ctx, o)
		})
		cmd.SetArgs(append(args, "--yes"))
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		j, err := workflows.OpenJournal(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		runs, err := j.Runs(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := prune("--older-than", "30d"); strings.Join(got, " ") != "new-ok old-dead old-live" {
		t.Errorf("after --older-than 30d: %v", got)
	}
	if got := prune("--status", "interrupted"); strings.Join(got, " ") != "new-ok old-live" {
		t.Errorf("after --status interrupted: %v", got)
	}
	if got := prune("--status", "succeeded,interrupted,failed"); strings.Join(got, " ") != "old-live" {
		t.Errorf("a live run was pruned or a finished one kept: %v", got)
	}
}
