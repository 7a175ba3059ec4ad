package workflows

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// journalWithRuns opens a journal holding n runs, one a second from a
// fixed time, inserted in one transaction.
func journalWithRuns(tb testing.TB, n int) (*Journal, []string) {
	tb.Helper()
	j, err := OpenJournal(filepath.Join(tb.TempDir(), JournalFile), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { j.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	tx, err := j.db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	for i := range ids {
		at := t0.Add(time.Duration(i) * time.Second)
		ids[i] = fmt.Sprintf("%s-%06x", at.Format("20060102T150405"), i)
		if _, err := tx.Exec(`INSERT INTO runs (id, flow_name, flow_path, flow_digest, inputs, status, started_at, updated_at) VALUES (?, 'f', '/f.flow.yaml', 'd', '{}', ?, ?, ?)`,
			ids[i], RunSucceeded, at.UnixNano(), at.UnixNano()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return j, ids
}

// Looking one run up reads it through the primary key's index, by its id
// or a prefix of it, never a scan of every run: its cost does not grow
// with the journal (BenchmarkJournalRunLookup gives the figures).
func TestJournalRunLookupUsesIndex(t *testing.T) {
	j, ids := journalWithRuns(t, 2000)
	for _, q := range []string{runByIDSQL, runsFromSQL} {
		rows, err := j.db.Query(`EXPLAIN QUERY PLAN `+q, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, "SEARCH runs USING INDEX") || strings.Contains(p, "SCAN") {
			t.Errorf("the plan of %q is %q: not a search of the id index", q, p)
		}
	}

	ctx := context.Background()
	last := ids[len(ids)-1]
	for _, id := range []string{ids[0], ids[1234], last, last[:len(last)-1]} {
		r, err := j.Run(ctx, id)
		if err != nil || !strings.HasPrefix(r.ID, id) {
			t.Errorf("Run(%q) = %v, %v", id, r, err)
		}
	}
	if r, err := j.RunByID(ctx, ids[1234]); err != nil || r.ID != ids[1234] {
		t.Errorf("RunByID = %v, %v", r, err)
	}
	if _, err := j.RunByID(ctx, last[:len(last)-1]); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("RunByID of a prefix: %v, want not found", err)
	}
	// Runs 0x000-0x00f of the first 16 seconds share "20260101T0000".
	if _, err := j.Run(ctx, "20260101T0000"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("an ambiguous prefix: %v", err)
	}
	for _, id := range []string{"20260101T0000000", "zzz", "0"} {
		if _, err := j.Run(ctx, id); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("Run(%q): %v, want not found", id, err)
		}
	}
}

// oldRunSQL is the lookup Run made before it used the index: its OR on
// a substring scans every run. Kept to measure against.
const oldRunSQL = `SELECT ` + runColumns + ` FROM runs WHERE id = ? OR substr(id, 1, ?) = ? ORDER BY id LIMIT 3`

// go test ./workflows -run '^$' -bench JournalRunLookup
func BenchmarkJournalRunLookup(b *testing.B) {
	for _, n := range []int{200, 20000} {
		j, ids := journalWithRuns(b, n)
		id := ids[n/2]
		b.Run(fmt.Sprintf("runs=%d/RunByID", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := j.RunByID(context.Background(), id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("runs=%d/Run-prefix", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := j.Run(context.Background(), id[:len(id)-1]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("runs=%d/old-scan", n), func(b *testing.B) {
			for b.Loop() {
				rows, err := j.db.Query(oldRunSQL, id, len(id), id)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
			}
		})
	}
}
