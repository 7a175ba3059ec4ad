package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// journalSize is the journal's size on disk, its write-ahead log included.
func journalSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return n
}

// Prune deletes the runs it is given with their attempts, keeps a run that
// changed since it was listed, and gives the space back to the file system.
func TestJournalPrune(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), JournalFile)
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	big, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", 1<<20)})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"old-1", "old-2", "new-1"} {
		r := &RunRecord{ID: id, FlowName: "f", FlowPath: "/f.flow.yaml", Status: RunSucceeded, StartedAt: start.Add(time.Duration(i) * time.Hour), UpdatedAt: start.Add(time.Duration(i) * time.Hour)}
		if err := j.CreateRun(r); err != nil {
			t.Fatal(err)
		}
		for k := range 2 {
			a := &AttemptRecord{RunID: id, Path: "s[" + string(rune('0'+k)) + "]", Attempt: 1, Step: "s", Server: "a", Tool: "t", State: AttemptSucceeded, Result: big, StartedAt: r.StartedAt}
			if err := j.RecordAttempt(a, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Measured with the write-ahead log checkpointed: deleting alone
	// leaves the database file its size, with free pages in it.
	if _, err := j.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	before := journalSize(t, path)
	runs, err := j.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var old []*RunRecord
	for _, r := range runs {
		if strings.HasPrefix(r.ID, "old-") {
			old = append(old, r)
		}
	}
	// old-2 is taken up again after it was listed: it stays.
	again := *old[0]
	if again.ID != "old-2" {
		t.Fatalf("listing order: %s", again.ID)
	}
	again.Status, again.UpdatedAt = RunRunning, again.UpdatedAt.Add(time.Minute)
	if err := j.UpdateRun(&again); err != nil {
		t.Fatal(err)
	}

	p, err := j.Prune(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Runs) != 1 || p.Runs[0] != "old-1" || p.Attempts != 2 {
		t.Fatalf("pruned %+v, want old-1 with its 2 attempts", p)
	}
	if _, err := j.Run(ctx, "old-1"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("old-1 after prune: %v", err)
	}
	if atts, err := j.Attempts(ctx, "old-1"); err != nil || len(atts) != 0 {
		t.Errorf("old-1's attempts after prune: %d, %v", len(atts), err)
	}
	for _, id := range []string{"old-2", "new-1"} {
		if atts, err := j.Attempts(ctx, id); err != nil || len(atts) != 2 {
			t.Errorf("%s lost attempts: %d, %v", id, len(atts), err)
		}
	}
	// Two of six 1 MiB results are gone: the file is at least a quarter
	// smaller (a ratio, not a size: the page layout is SQLite's).
	after := journalSize(t, path)
	if after*4 > before*3 {
		t.Errorf("journal went from %d to %d bytes: not compacted", before, after)
	}
}
