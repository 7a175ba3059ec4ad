package daemon

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mediatorhq/mediator/internal/sqlitefile"
)

// StoreFile is the daemon's table of submitted runs, beside the run
// journal in the state directory.
const StoreFile = "daemon.db"

// store records every run submitted to the daemon, before it starts: the
// run journal has a run only once the engine starts it, and a run queued
// behind MaxConcurrentRuns must survive a restart, as must the
// Idempotency-Key that names it.
type store struct {
	db *sql.DB
}

// submission is one row of the store.
type submission struct {
	ID       string
	Workflow string
	// FlowPath is the workflow file's absolute path; FlowName and
	// FlowDigest are the flow's name and run digest (flow.Flow.RunDigest)
	// as submitted, which the journal records for the run ("" in a store
	// an earlier version made).
	FlowPath   string
	FlowName   string
	FlowDigest string
	// KeyHash is the SHA-256 of the Idempotency-Key, "" for none; the key
	// itself is not stored.
	KeyHash string
	// InputsDigest identifies the inputs as given, to refuse a retried
	// key with other inputs.
	InputsDigest string
	// Inputs are the prepared inputs (redacted as the journal redacts).
	Inputs      map[string]any
	SubmittedAt time.Time
	// Interrupted is set when a shutdown stopped the run: it resumes when
	// the daemon starts again (ResumeInterrupted).
	Interrupted bool
	// Steps are the step and item states of the run's last execution
	// in the daemon, by runtime path.
	Steps map[string]string
	// LastSeq is the Seq of the last event of the run's last execution:
	// the next execution numbers its events after it, so that an event
	// stream's Last-Event-ID stays valid across a resume.
	LastSeq int64
}

const storeSchema = `
CREATE TABLE IF NOT EXISTS submissions (
	id            TEXT PRIMARY KEY,
	workflow      TEXT NOT NULL,
	flow_path     TEXT NOT NULL,
	key_hash      TEXT,
	inputs_digest TEXT NOT NULL,
	inputs        TEXT NOT NULL,
	submitted_at  INTEGER NOT NULL,
	interrupted   INTEGER NOT NULL DEFAULT 0,
	steps         TEXT NOT NULL DEFAULT '{}',
	last_seq      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (workflow, key_hash)
);
CREATE INDEX IF NOT EXISTS submissions_order ON submissions (submitted_at DESC, id DESC);
`

// storeColumns are the columns added to the schema since its first
// version: a store an earlier version made gets them when it is opened.
var storeColumns = []sqlitefile.Column{
	{Table: "submissions", Name: "last_seq", Def: "INTEGER NOT NULL DEFAULT 0"},
	{Table: "submissions", Name: "flow_name", Def: "TEXT NOT NULL DEFAULT ''"},
	{Table: "submissions", Name: "flow_digest", Def: "TEXT NOT NULL DEFAULT ''"},
}

// openStore opens the store at path: a file its owner alone can read
// (sqlitefile.Open).
func openStore(path string) (*store, error) {
	db, err := sqlitefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := db.Exec(storeSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: create tables: %w", path, err)
	}
	if err := sqlitefile.AddColumns(db, storeColumns); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// keyHash is the stored form of an Idempotency-Key.
func keyHash(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// errDuplicateKey is an insert refused because the workflow's key names
// another run already.
var errDuplicateKey = errors.New("idempotency key in use")

func (s *store) insert(ctx context.Context, sub *submission) error {
	inputs, err := json.Marshal(sub.Inputs)
	if err != nil {
		return fmt.Errorf("store run %s: inputs: %w", sub.ID, err)
	}
	var key any
	if sub.KeyHash != "" {
		key = sub.KeyHash
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO submissions (id, workflow, flow_path, key_hash, inputs_digest, inputs, submitted_at, flow_name, flow_digest)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sub.ID, sub.Workflow, sub.FlowPath, key, sub.InputsDigest, string(inputs), sub.SubmittedAt.UnixNano(), sub.FlowName, sub.FlowDigest)
	if err != nil {
		if sub.KeyHash != "" {
			if old, _ := s.byKey(ctx, sub.Workflow, sub.KeyHash); old != nil {
				return errDuplicateKey
			}
		}
		return fmt.Errorf("store run %s: %w", sub.ID, err)
	}
	return nil
}

const subColumns = `id, workflow, flow_path, COALESCE(key_hash, ''), inputs_digest, inputs, submitted_at, interrupted, steps, last_seq, flow_name, flow_digest`

func scanSubmission(row interface{ Scan(...any) error }) (*submission, error) {
	var (
		sub       submission
		inputs    string
		steps     string
		submitted int64
	)
	if err := row.Scan(&sub.ID, &sub.Workflow, &sub.FlowPath, &sub.KeyHash, &sub.InputsDigest, &inputs, &submitted, &sub.Interrupted, &steps, &sub.LastSeq, &sub.FlowName, &sub.FlowDigest); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(steps), &sub.Steps); err != nil {
		return nil, fmt.Errorf("stored run %s: steps: %w", sub.ID, err)
	}
	sub.SubmittedAt = time.Unix(0, submitted)
	if err := json.Unmarshal([]byte(inputs), &sub.Inputs); err != nil {
		return nil, fmt.Errorf("stored run %s: inputs: %w", sub.ID, err)
	}
	return &sub, nil
}

// byKey returns the workflow's run of this key, nil for none.
func (s *store) byKey(ctx context.Context, workflow, hash string) (*submission, error) {
	sub, err := scanSubmission(s.db.QueryRowContext(ctx, `SELECT `+subColumns+` FROM submissions WHERE workflow = ? AND key_hash = ?`, workflow, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return sub, err
}

// get returns one run, nil for none.
func (s *store) get(ctx context.Context, id string) (*submission, error) {
	sub, err := scanSubmission(s.db.QueryRowContext(ctx, `SELECT `+subColumns+` FROM submissions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return sub, err
}

// page lists runs newest first, after the cursor position (submitted_at,
// id) when given, of one workflow when given.
func (s *store) page(ctx context.Context, workflow string, afterAt int64, afterID string, limit int) ([]*submission, error) {
	q := `SELECT ` + subColumns + ` FROM submissions WHERE (? = '' OR workflow = ?)`
	args := []any{workflow, workflow}
	if afterID != "" {
		q += ` AND (submitted_at < ? OR (submitted_at = ? AND id < ?))`
		args = append(args, afterAt, afterAt, afterID)
	}
	q += ` ORDER BY submitted_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	return s.query(ctx, q, args...)
}

// all lists every run, oldest first.
func (s *store) all(ctx context.Context) ([]*submission, error) {
	return s.query(ctx, `SELECT `+subColumns+` FROM submissions ORDER BY submitted_at, id`)
}

func (s *store) query(ctx context.Context, q string, args ...any) ([]*submission, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list submitted runs: %w", err)
	}
	defer rows.Close()
	var out []*submission
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, fmt.Errorf("list submitted runs: %w", err)
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

func (s *store) setInterrupted(ctx context.Context, id string, v bool) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE submissions SET interrupted = ? WHERE id = ?`, v, id); err != nil {
		return fmt.Errorf("mark run %s interrupted: %w", id, err)
	}
	return nil
}

// setEnded records how an execution of the run left it: its step states
// (unless it ran none), whether a shutdown interrupted it, and the Seq of
// its last event.
func (s *store) setEnded(ctx context.Context, id string, steps map[string]string, interrupted bool, lastSeq int64) error {
	if len(steps) == 0 {
		// It stopped before any step (a blocked resume): the last
		// execution's states stand.
		if _, err := s.db.ExecContext(ctx, `UPDATE submissions SET interrupted = ?, last_seq = ? WHERE id = ?`, interrupted, lastSeq, id); err != nil {
			return fmt.Errorf("record run %s: %w", id, err)
		}
		return nil
	}
	data, err := json.Marshal(steps)
	if err != nil {
		return fmt.Errorf("record run %s: %w", id, err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE submissions SET steps = ?, interrupted = ?, last_seq = ? WHERE id = ?`, string(data), interrupted, lastSeq, id); err != nil {
		return fmt.Errorf("record run %s: %w", id, err)
	}
	return nil
}
