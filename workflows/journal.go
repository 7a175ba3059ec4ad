package workflows

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/internal/sqlitefile"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Run states.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
	// RunTimedOut is a run whose flow's timeout passed; resume refuses it
	// unless given more time (--extend).
	RunTimedOut = "timed_out"
	// RunBlocked is a resume that stopped before calling anything because
	// an in-flight call's outcome is unknown and re-running it is not safe;
	// the operator settles it with --rerun or --mark-done.
	RunBlocked = "blocked"
)

// Attempt states. An attempt is journalled as started before its call is
// sent and updated when the call ends.
const (
	AttemptStarted   = "started"
	AttemptSucceeded = "succeeded"
	AttemptFailed    = "failed"
	AttemptCancelled = "cancelled"
	// AttemptMarkedDone is an operator's `resume --mark-done`: the call's
	// effect is accepted as done, its result is unknown (null).
	AttemptMarkedDone = "marked-done"
)

// JournalFile is the journal's file name under the state directory.
const JournalFile = "runs.db"

// RunRecord is one run of a flow file.
type RunRecord struct {
	ID         string         `json:"id"`
	FlowName   string         `json:"flow_name"`
	FlowPath   string         `json:"flow_path"`
	FlowDigest string         `json:"flow_digest"`
	Inputs     map[string]any `json:"inputs"`
	Status     string         `json:"status"`
	Error      string         `json:"error,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	StartedAt  time.Time      `json:"started_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	// Resumes counts `mediator resume` invocations of this run.
	Resumes int `json:"resumes"`
	// PID is the process running (or that last ran) the run, so a listing
	// can tell a live run from one whose process died.
	PID int `json:"pid"`
	// Timeout is the time the run had when it last started or resumed:
	// the flow's timeout:, or what resume --extend gave it; 0 is none.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Extended sums the time every resume --extend gave the run.
	Extended time.Duration `json:"extended,omitempty"`
	// Finally is how the flow's finally steps ended, beside Status:
	// "" (the flow has none, or they have not run), FinallyRunning, or a
	// step status (succeeded, failed, cancelled). FinallyError says why
	// they failed.
	Finally      string `json:"finally,omitempty"`
	FinallyError string `json:"finally_error,omitempty"`
}

// MarshalJSON writes the record with Timeout and Extended as durations
// the way a flow file writes them ("30m"; time.ParseDuration reads them),
// as `runs show --json` and `runs list --json` print it, not as
// nanoseconds.
func (r RunRecord) MarshalJSON() ([]byte, error) {
	type plain RunRecord
	out := struct {
		plain
		Timeout  string `json:"timeout,omitempty"`
		Extended string `json:"extended,omitempty"`
	}{plain: plain(r)}
	if r.Timeout > 0 {
		out.Timeout = flow.FormatDuration(r.Timeout)
	}
	if r.Extended > 0 {
		out.Extended = flow.FormatDuration(r.Extended)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// AttemptRecord is one attempt of one call.
type AttemptRecord struct {
	RunID string `json:"run_id"`
	// Path is the call's address in the run: the step path plus an index
	// per enclosing for_each item, e.g. "remind[3]" or "batch[2]/upload".
	Path    string `json:"path"`
	Attempt int    `json:"attempt"`
	// Step is the static step path (Step.Path), the same for every item.
	Step   string `json:"step"`
	Server string `json:"server"`
	Tool   string `json:"tool"`
	State  string `json:"state"`
	// ArgsDigest is the hex SHA-256 of the arguments' canonical JSON; the
	// arguments themselves are not stored.
	ArgsDigest     string `json:"args_digest"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// TaskID is the server's task of a call that runs as a task (MCP
	// tasks), recorded as soon as the server created it, so that a resume
	// attaches to the task instead of calling again.
	TaskID string `json:"task_id,omitempty"`
	// Result is the redacted CallToolResult as JSON.
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	ErrorClass string          `json:"error_class,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
}

// Journal is the run journal: an SQLite database (pure Go, WAL mode) under
// the state directory. WAL lets `mediator runs list` read while a run
// writes, and several runs write to one file in turn. Commits are durable
// against a crash or kill of the process (synchronous=NORMAL); the last
// transactions before a power loss may be lost.
//
// Writes go through one goroutine that commits everything queued in a
// single transaction (group commit), so many concurrent for_each items cost
// one commit rather than one each.
type Journal struct {
	db       *sql.DB
	redactor Redactor
	// wconn is the writer goroutine's own connection.
	wconn         *sql.Conn
	insertAttempt *sql.Stmt

	ops      chan journalOp
	stop     chan struct{}
	stopped  chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	writeErr error // first failed commit; guarded by errMu
	errMu    sync.Mutex
}

type journalOp struct {
	exec func(tx *sql.Tx) error
	done chan error // nil for fire-and-forget writes
}

// Redactor scrubs known secret values from text; *credentials.Redactor
// satisfies it.
type Redactor interface {
	Redact(text string) string
}

// OpenJournal opens (creating if needed) the journal at path. redactor, if
// not nil, scrubs known secret values from everything stored.
//
// The journal holds run results, so its files are its owner's alone
// (sqlitefile.Open).
func OpenJournal(path string, redactor Redactor) (*Journal, error) {
	db, err := sqlitefile.Open(path, "foreign_keys(ON)")
	if err != nil {
		return nil, fmt.Errorf("open run journal: %w", err)
	}
	if _, err := db.Exec(journalSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open run journal %s: create tables: %w", path, err)
	}
	if err := sqlitefile.AddColumns(db, journalColumns); err != nil {
		db.Close()
		return nil, fmt.Errorf("open run journal %s: %w", path, err)
	}
	j := &Journal{
		db:       db,
		redactor: redactor,
		ops:      make(chan journalOp, 1024),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	// The writer keeps one connection with the attempt insert prepared on
	// it: every call writes two attempt rows, and parsing the statement
	// each time would cost more than executing it.
	if j.wconn, err = db.Conn(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open run journal %s: %w", path, err)
	}
	if j.insertAttempt, err = j.wconn.PrepareContext(context.Background(), insertAttemptSQL); err != nil {
		j.wconn.Close()
		db.Close()
		return nil, fmt.Errorf("open run journal %s: %w", path, err)
	}
	go j.writer()
	return j, nil
}

const journalSchema = `
CREATE TABLE IF NOT EXISTS runs (
	id          TEXT PRIMARY KEY,
	flow_name   TEXT NOT NULL,
	flow_path   TEXT NOT NULL,
	flow_digest TEXT NOT NULL,
	inputs      TEXT NOT NULL,
	status      TEXT NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	outputs     TEXT NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL DEFAULT 0,
	resumes     INTEGER NOT NULL DEFAULT 0,
	pid         INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS attempts (
	run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	path            TEXT NOT NULL,
	attempt         INTEGER NOT NULL,
	step            TEXT NOT NULL,
	server          TEXT NOT NULL,
	tool            TEXT NOT NULL,
	state           TEXT NOT NULL,
	args_digest     TEXT NOT NULL,
	idempotency_key TEXT NOT NULL DEFAULT '',
	result          TEXT NOT NULL DEFAULT '',
	error           TEXT NOT NULL DEFAULT '',
	error_class     TEXT NOT NULL DEFAULT '',
	started_at      INTEGER NOT NULL,
	finished_at     INTEGER NOT NULL DEFAULT 0,
	task_id         TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, path, attempt)
);
`

// journalColumns are the columns added to the schema since its first
// version: a journal an earlier version made gets them when it is opened.
var journalColumns = []sqlitefile.Column{
	{Table: "attempts", Name: "task_id", Def: "TEXT NOT NULL DEFAULT ''"},
	{Table: "runs", Name: "timeout", Def: "INTEGER NOT NULL DEFAULT 0"},
	{Table: "runs", Name: "extended", Def: "INTEGER NOT NULL DEFAULT 0"},
	{Table: "runs", Name: "finally", Def: "TEXT NOT NULL DEFAULT ''"},
	{Table: "runs", Name: "finally_error", Def: "TEXT NOT NULL DEFAULT ''"},
}

// writer commits queued operations in batches until Close.
func (j *Journal) writer() {
	defer close(j.stopped)
	for {
		var first journalOp
		select {
		case first = <-j.ops:
		case <-j.stop:
			// Drain what was queued before Close.
			for {
				select {
				case op := <-j.ops:
					j.commit([]journalOp{op})
				default:
					return
				}
			}
		}
		batch := []journalOp{first}
	drain:
		for len(batch) < 512 {
			select {
			case op := <-j.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		j.commit(batch)
	}
}

func (j *Journal) commit(batch []journalOp) {
	err := j.commitTx(batch)
	if err != nil {
		err = fmt.Errorf("write run journal: %w", err)
		j.errMu.Lock()
		if j.writeErr == nil {
			j.writeErr = err
		}
		j.errMu.Unlock()
	}
	for _, op := range batch {
		if op.done != nil {
			op.done <- err
		}
	}
}

func (j *Journal) commitTx(batch []journalOp) error {
	tx, err := j.wconn.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	for _, op := range batch {
		if err := op.exec(tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// write queues exec; with wait it returns once exec is committed.
func (j *Journal) write(wait bool, exec func(tx *sql.Tx) error) error {
	j.closeMu.RLock()
	if j.closed {
		j.closeMu.RUnlock()
		return errors.New("write run journal: journal is closed")
	}
	op := journalOp{exec: exec}
	if wait {
		op.done = make(chan error, 1)
	}
	// Holding closeMu while enqueueing keeps Close from stopping the writer
	// between the check and the send.
	j.ops <- op
	j.closeMu.RUnlock()
	if !wait {
		return nil
	}
	return <-op.done
}

// Err returns the first failure of a fire-and-forget write, if any.
func (j *Journal) Err() error {
	j.errMu.Lock()
	defer j.errMu.Unlock()
	return j.writeErr
}

// Close commits everything queued and closes the database.
func (j *Journal) Close() error {
	j.closeMu.Lock()
	if j.closed {
		j.closeMu.Unlock()
		return nil
	}
	j.closed = true
	close(j.stop)
	j.closeMu.Unlock()
	<-j.stopped
	return errors.Join(j.Err(), j.insertAttempt.Close(), j.wconn.Close(), j.db.Close())
}

func (j *Journal) redact(s string) string {
	if isNil(j.redactor) || s == "" {
		return s
	}
	return j.redactor.Redact(s)
}

func (j *Journal) redactJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return j.redact(string(b))
}

// NewRunID returns a fresh run id: UTC start time (so ids sort by age) and
// random bits (so concurrent runs never collide).
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// CreateRun stores a new run record.
func (j *Journal) CreateRun(r *RunRecord) error {
	inputs := j.redactJSON(r.Inputs)
	return j.write(true, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO runs (id, flow_name, flow_path, flow_digest, inputs, status, error, outputs, started_at, updated_at, finished_at, resumes, pid, timeout)
			VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, 0, ?, ?, ?)`,
			r.ID, r.FlowName, r.FlowPath, r.FlowDigest, inputs, r.Status, j.redact(r.Error),
			r.StartedAt.UnixNano(), r.UpdatedAt.UnixNano(), r.Resumes, r.PID, int64(r.Timeout))
		if err != nil {
			return fmt.Errorf("create run %s: %w", r.ID, err)
		}
		return nil
	})
}

// UpdateRun stores a run's status, error, outputs, times, resume count,
// process id, time budget and how its finally steps ended.
func (j *Journal) UpdateRun(r *RunRecord) error {
	outputs := j.redactJSON(r.Outputs)
	var finished int64
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt.UnixNano()
	}
	return j.write(true, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET status = ?, error = ?, outputs = ?, updated_at = ?, finished_at = ?, resumes = ?, pid = ?,
			timeout = ?, extended = ?, finally = ?, finally_error = ? WHERE id = ?`,
			r.Status, j.redact(r.Error), outputs, r.UpdatedAt.UnixNano(), finished, r.Resumes, r.PID,
			int64(r.Timeout), int64(r.Extended), r.Finally, j.redact(r.FinallyError), r.ID)
		if err != nil {
			return fmt.Errorf("update run %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("update run %s: %w", r.ID, ErrRunNotFound)
		}
		return nil
	})
}

// RunHeldError is a claim refused because another live process, or
// another claim in this one, holds the run.
type RunHeldError struct {
	RunID string
	// PID is the process holding the run.
	PID int
}

func (e *RunHeldError) Error() string {
	if e.PID == os.Getpid() {
		return fmt.Sprintf("run %s is already running in this process (pid %d); a run is run by one engine at a time", e.RunID, e.PID)
	}
	return fmt.Sprintf("run %s is running in process %d, which is still alive; a run is run by one process at a time: wait for it to finish, or stop it (kill %d) and resume again", e.RunID, e.PID, e.PID)
}

// ClaimRun makes process pid the one running run id: in one write
// transaction it reads the run and, unless it succeeded already (its
// finally steps, if any, too) or is marked running, or running its
// finally steps, by a process that is alive (ProcessAlive; this one
// included), marks it running in pid. Of any number of claims of one run
// at once, from any processes, exactly one succeeds; the others get a
// *RunHeldError naming the holder. The claim lasts until the holder
// records another status (UpdateRun) or its process dies. It returns the
// run as it was before the claim, for the caller to put back (UpdateRun)
// if it gives up without running.
func (j *Journal) ClaimRun(ctx context.Context, id string, pid int, now time.Time) (*RunRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var prev *RunRecord
	var refused error
	// A refusal is not an error of the write: that would roll back the
	// other writes committed in the same batch.
	err := j.write(true, func(tx *sql.Tx) error {
		r, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			refused = fmt.Errorf("claim run %q: %w", id, ErrRunNotFound)
			return nil
		case err != nil:
			return fmt.Errorf("claim run %s: %w", id, err)
		case r.Status == RunSucceeded && r.finallyDone():
			refused = fmt.Errorf("run %s already succeeded; there is nothing to resume", id)
			return nil
		case (r.Status == RunRunning || r.Finally == FinallyRunning) && ProcessAlive(r.PID):
			refused = &RunHeldError{RunID: id, PID: r.PID}
			return nil
		}
		if _, err := tx.Exec(`UPDATE runs SET status = ?, error = '', updated_at = ?, finished_at = 0, pid = ? WHERE id = ?`,
			RunRunning, now.UnixNano(), pid, id); err != nil {
			return fmt.Errorf("claim run %s: %w", id, err)
		}
		prev = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return prev, nil
}

// RecordAttempt inserts or replaces one attempt. With wait it returns once
// the record is committed, which the engine asks for when a crash right
// after must not lose it (a started record of a call that is unsafe to
// repeat, a finished record of a call with effects).
func (j *Journal) RecordAttempt(a *AttemptRecord, wait bool) error {
	key := j.redact(a.IdempotencyKey)
	// A server chooses its task ids; one that holds a secret is stored
	// redacted, and a resume then finds no such task.
	taskID := j.redact(a.TaskID)
	result := ""
	if len(a.Result) > 0 {
		result = j.redact(string(a.Result))
	}
	errText := j.redact(a.Error)
	var finished int64
	if !a.FinishedAt.IsZero() {
		finished = a.FinishedAt.UnixNano()
	}
	rec := *a
	return j.write(wait, func(tx *sql.Tx) error {
		_, err := tx.Stmt(j.insertAttempt).Exec(
			rec.RunID, rec.Path, rec.Attempt, rec.Step, rec.Server, rec.Tool, rec.State, rec.ArgsDigest, key, result, errText, rec.ErrorClass,
			rec.StartedAt.UnixNano(), finished, taskID)
		if err != nil {
			return fmt.Errorf("record attempt %s #%d of run %s: %w", rec.Path, rec.Attempt, rec.RunID, err)
		}
		return nil
	})
}

const insertAttemptSQL = `INSERT OR REPLACE INTO attempts (run_id, path, attempt, step, server, tool, state, args_digest, idempotency_key, result, error, error_class, started_at, finished_at, task_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Flush waits until every write queued so far is committed.
func (j *Journal) Flush() error {
	return j.write(true, func(*sql.Tx) error { return nil })
}

// ErrRunNotFound is returned for an unknown run id.
var ErrRunNotFound = errors.New("no such run")

const runColumns = `id, flow_name, flow_path, flow_digest, inputs, status, error, outputs, started_at, updated_at, finished_at, resumes, pid,
	timeout, extended, finally, finally_error`

func scanRun(row interface{ Scan(...any) error }) (*RunRecord, error) {
	var (
		r                          RunRecord
		inputs, outputs            string
		started, updated, finished int64
		timeout, extended          int64
	)
	if err := row.Scan(&r.ID, &r.FlowName, &r.FlowPath, &r.FlowDigest, &inputs, &r.Status, &r.Error, &outputs,
		&started, &updated, &finished, &r.Resumes, &r.PID, &timeout, &extended, &r.Finally, &r.FinallyError); err != nil {
		return nil, err
	}
	r.Timeout, r.Extended = time.Duration(timeout), time.Duration(extended)
	if inputs != "" {
		if err := json.Unmarshal([]byte(inputs), &r.Inputs); err != nil {
			return nil, fmt.Errorf("run %s: stored inputs: %w", r.ID, err)
		}
	}
	if outputs != "" {
		if err := json.Unmarshal([]byte(outputs), &r.Outputs); err != nil {
			return nil, fmt.Errorf("run %s: stored outputs: %w", r.ID, err)
		}
	}
	r.StartedAt = time.Unix(0, started)
	r.UpdatedAt = time.Unix(0, updated)
	if finished != 0 {
		r.FinishedAt = time.Unix(0, finished)
	}
	return &r, nil
}

// Runs lists runs, newest first; limit <= 0 means all.
func (j *Journal) Runs(ctx context.Context, limit int) ([]*RunRecord, error) {
	q := `SELECT ` + runColumns + ` FROM runs ORDER BY started_at DESC, id DESC`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := j.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []*RunRecord
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// runByIDSQL reads one run by its primary key.
const runByIDSQL = `SELECT ` + runColumns + ` FROM runs WHERE id = ?`

// runsFromSQL reads the first runs whose id is at least the one given, in
// id order: a range of the primary key's index, so a lookup reads a few
// rows whatever the journal holds (a prefix's matches come first).
const runsFromSQL = `SELECT ` + runColumns + ` FROM runs WHERE id >= ? ORDER BY id LIMIT 3`

// RunByID returns the run whose id is id exactly, an error wrapping
// ErrRunNotFound when there is none.
func (j *Journal) RunByID(ctx context.Context, id string) (*RunRecord, error) {
	r, err := scanRun(j.db.QueryRowContext(ctx, runByIDSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %q: %w (see `mediator runs list`)", id, ErrRunNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	return r, nil
}

// Run returns one run; a unique prefix of its id is enough.
func (j *Journal) Run(ctx context.Context, id string) (*RunRecord, error) {
	if id == "" {
		return nil, fmt.Errorf("run id is empty: %w", ErrRunNotFound)
	}
	rows, err := j.db.QueryContext(ctx, runsFromSQL, id)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	defer rows.Close()
	var found []*RunRecord
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", id, err)
		}
		if r.ID == id {
			return r, nil
		}
		if !strings.HasPrefix(r.ID, id) {
			break
		}
		found = append(found, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("run %q: %w (see `mediator runs list`)", id, ErrRunNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("run id prefix %q is ambiguous: it matches %s, %s and maybe more; give more of the id", id, found[0].ID, found[1].ID)
}

// Pruned is what Prune deleted.
type Pruned struct {
	// Runs are the ids of the runs deleted, Attempts how many call
	// attempts went with them.
	Runs     []string
	Attempts int
}

// Prune deletes runs with their attempts, each only if it is still as
// listed (the same status and updated_at): a run a resume has taken up
// since is kept. It then compacts the database (VACUUM, and a checkpoint
// that empties the write-ahead log), so the space goes back to the file
// system; a compaction that fails (another process holds the journal) is
// reported after the deletions, which stand.
func (j *Journal) Prune(ctx context.Context, runs []*RunRecord) (Pruned, error) {
	var p Pruned
	err := j.write(true, func(tx *sql.Tx) error {
		p = Pruned{}
		for _, r := range runs {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM attempts WHERE run_id = ?`, r.ID).Scan(&n); err != nil {
				return fmt.Errorf("prune run %s: %w", r.ID, err)
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ? AND status = ? AND updated_at = ?`, r.ID, r.Status, r.UpdatedAt.UnixNano())
			if err != nil {
				return fmt.Errorf("prune run %s: %w", r.ID, err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				p.Runs = append(p.Runs, r.ID)
				p.Attempts += n
			}
		}
		return nil
	})
	if err != nil {
		return Pruned{}, err
	}
	if len(p.Runs) == 0 {
		return p, nil
	}
	if _, err := j.db.ExecContext(ctx, `VACUUM`); err != nil {
		return p, fmt.Errorf("compact run journal: %w", err)
	}
	if _, err := j.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return p, fmt.Errorf("compact run journal: %w", err)
	}
	return p, nil
}

const attemptColumns = `run_id, path, attempt, step, server, tool, state, args_digest, idempotency_key, result, error, error_class, started_at, finished_at, task_id`

func scanAttempt(row interface{ Scan(...any) error }, withResult bool) (*AttemptRecord, error) {
	var (
		a                 AttemptRecord
		result            string
		started, finished int64
	)
	if err := row.Scan(&a.RunID, &a.Path, &a.Attempt, &a.Step, &a.Server, &a.Tool, &a.State, &a.ArgsDigest,
		&a.IdempotencyKey, &result, &a.Error, &a.ErrorClass, &started, &finished, &a.TaskID); err != nil {
		return nil, err
	}
	if withResult && result != "" {
		a.Result = json.RawMessage(result)
	}
	a.StartedAt = time.Unix(0, started)
	if finished != 0 {
		a.FinishedAt = time.Unix(0, finished)
	}
	return &a, nil
}

// Attempts returns every attempt of a run in the order they started,
// results included.
func (j *Journal) Attempts(ctx context.Context, runID string) ([]*AttemptRecord, error) {
	return j.attempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE run_id = ? ORDER BY started_at, path, attempt`, true, runID)
}

// LastAttempts returns the latest attempt of every call path of a run,
// without results (they are fetched one by one with Attempt), so resuming a
// large run does not load every result at once.
func (j *Journal) LastAttempts(ctx context.Context, runID string) (map[string]*AttemptRecord, error) {
	list, err := j.attempts(ctx, `SELECT `+attemptColumns+` FROM attempts a WHERE run_id = ? AND attempt = (SELECT MAX(attempt) FROM attempts b WHERE b.run_id = a.run_id AND b.path = a.path)`, false, runID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*AttemptRecord, len(list))
	for _, a := range list {
		out[a.Path] = a
	}
	return out, nil
}

// Attempt returns one attempt with its result.
func (j *Journal) Attempt(ctx context.Context, runID, path string, attempt int) (*AttemptRecord, error) {
	list, err := j.attempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE run_id = ? AND path = ? AND attempt = ?`, true, runID, path, attempt)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("run %s has no attempt %d of %s", runID, attempt, path)
	}
	return list[0], nil
}

func (j *Journal) attempts(ctx context.Context, q string, withResult bool, args ...any) ([]*AttemptRecord, error) {
	rows, err := j.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	var out []*AttemptRecord
	for rows.Next() {
		a, err := scanAttempt(rows, withResult)
		if err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}

// ArgsDigest is the hex SHA-256 of v's JSON (map keys sorted, so equal
// arguments give equal digests).
func ArgsDigest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// isNil reports whether an interface holds nothing or a nil pointer, so a
// caller may pass a nil *credentials.Redactor.
func isNil(r Redactor) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
