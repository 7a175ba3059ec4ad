package orchestrator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// keyedLog makes n calls audited to a keyed log and returns its path and
// keyring directory.
func keyedLog(t *testing.T, n int) (path, keyring string) {
	t.Helper()
	dir := t.TempDir()
	path, keyring = filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "keyring")
	appendCalls(t, path, testKeyring(t, keyring), n)
	return path, keyring
}

// appendCalls makes n calls audited to path, keyed with keys' audit key
// unless keys is nil, and closes the orchestrator.
func appendCalls(t *testing.T, path string, keys *credentials.Store, n int) {
	t.Helper()
	ctx := testContext(t)
	o, _ := auditedOrchestrator(t, path, false, nil, keys)
	for i := range n {
		if _, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Oslo", "days": i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}

// forgedRecord is a record as an attacker re-encodes it: every field, in
// the log's order, the hash left to be recomputed.
type forgedRecord struct {
	Seq        uint64          `json:"seq"`
	Time       string          `json:"time"`
	CallID     string          `json:"call_id"`
	Server     string          `json:"server"`
	Tool       string          `json:"tool"`
	ArgsDigest string          `json:"args_digest"`
	Args       json.RawMessage `json:"args,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Outcome    string          `json:"outcome"`
	ErrorClass string          `json:"error_class,omitempty"`
	Error      string          `json:"error,omitempty"`
	Prev       string          `json:"prev"`
}

func forgeable(recs []auditLine) []forgedRecord {
	out := make([]forgedRecord, len(recs))
	for i, r := range recs {
		out[i] = forgedRecord{r.Seq, r.Time, r.CallID, r.Server, r.Tool, r.ArgsDigest, r.Args, r.DurationMS, r.Outcome, r.ErrorClass, r.Error, r.Prev}
	}
	return out
}

// rehash seals recs as one chain of plain SHA-256 hashes, numbered from
// seq and chained to prev, exactly as mediator wrote logs before the
// audit key: what anyone who can write the file can compute.
func rehash(t *testing.T, recs []forgedRecord, seq uint64, prev string) [][]byte {
	t.Helper()
	var lines [][]byte
	for _, r := range recs {
		r.Seq, r.Prev = seq, prev
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		prev = "sha256:" + hex.EncodeToString(sum[:])
		lines = append(lines, append(body[:len(body)-1:len(body)-1], `,"hash":"`+prev+`"}`...))
		seq++
	}
	return lines
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	data := bytes.Join(lines, []byte("\n"))
	if len(lines) > 0 {
		data = append(data, '\n')
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantVerifyFail verifies path (with keys' audit key unless keys is nil)
// and wants it to fail for a reason containing why.
func wantVerifyFail(t *testing.T, path string, keys *credentials.Store, why string) {
	t.Helper()
	var key *credentials.AuditKey
	if keys != nil {
		key = auditKey(t, keys)
	}
	rep, err := orchestrator.VerifyAuditFile(path, key)
	var ve *orchestrator.AuditVerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("VerifyAuditFile (key given: %v) = %+v, %v; want an *AuditVerifyError containing %q", key != nil, rep, err, why)
	}
	if !strings.Contains(ve.Reason, why) {
		t.Errorf("VerifyAuditFile (key given: %v): %v; want a reason containing %q", key != nil, err, why)
	}
}

// Deleting records, editing an outcome and re-hashing the whole chain with
// plain SHA-256, which passed `audit verify` before the key, fails: the
// head names a record the forger cannot reproduce, and without the head
// the forged records are unkeyed but dated after the key was made.
func TestAuditRewriteFromScratchFails(t *testing.T) {
	for _, c := range []struct {
		name       string
		deleteHead bool
		withKey    string // the reason with the key
		withoutKey string // without it; "" means it passes, as an unkeyed log
	}{
		{"head kept", false, "not before the audit key was made", "was cut off the end"},
		{"head deleted", true, "not before the audit key was made", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, keyring := keyedLog(t, 5)
			keys := testKeyring(t, keyring)
			recs, _ := readAudit(t, path)
			forged := forgeable(recs)
			forged = append(forged[:1:1], forged[2:]...) // delete record 2
			forged[1].Outcome, forged[1].ErrorClass = "refused", "not-allowed"
			writeLines(t, path, rehash(t, forged, 1, ""))
			if c.deleteHead {
				if err := os.Remove(orchestrator.AuditHeadPath(path)); err != nil {
					t.Fatal(err)
				}
			}
			wantVerifyFail(t, path, keys, c.withKey)
			if c.withoutKey != "" {
				wantVerifyFail(t, path, nil, c.withoutKey)
				return
			}
			// Without the key and the head, a rewritten log is what a log
			// from before the key looks like: it verifies, as unkeyed.
			rep := verifyAudit(t, path, nil, 4)
			if rep.Keyed != 0 || rep.Unkeyed != 4 || rep.KeyChecked || rep.Head != orchestrator.HeadNone {
				t.Errorf("report %+v; want it to say: 4 unkeyed records, no key checked, no head", rep)
			}
		})
	}
	// The same edit without deleting a record: the head's record differs.
	t.Run("same length", func(t *testing.T) {
		path, keyring := keyedLog(t, 3)
		recs, _ := readAudit(t, path)
		forged := forgeable(recs)
		forged[2].Outcome = "tool-error"
		writeLines(t, path, rehash(t, forged, 1, ""))
		wantVerifyFail(t, path, testKeyring(t, keyring), "not before the audit key was made")
		wantVerifyFail(t, path, nil, "is not the one the head names")
	})
}

// Records cut off the end of a keyed log fail verification, with or
// without the key, and no mediator process chains onto the shorter log
// (which would move the head along and hide the cut).
func TestAuditTruncationFails(t *testing.T) {
	for _, cut := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("last %d", cut), func(t *testing.T) {
			path, keyring := keyedLog(t, 5)
			keys := testKeyring(t, keyring)
			_, lines := readAudit(t, path)
			writeLines(t, path, lines[:len(lines)-cut])
			wantVerifyFail(t, path, keys, "cut off the end")
			wantVerifyFail(t, path, nil, "cut off the end")

			o, srv := auditedOrchestrator(t, path, false, nil, keys)
			for range 2 {
				_, err := o.Call(testContext(t), "weather", "echo", map[string]any{"text": "x"})
				if oe := asError(t, err, orchestrator.KindAudit); !strings.Contains(oe.Error(), "records were cut off the end") {
					t.Errorf("message %q", oe)
				}
			}
			if n := srv.calls.Load(); n != 0 {
				t.Errorf("%d call(s) went out on a truncated log", n)
			}
		})
	}
	t.Run("head deleted too", func(t *testing.T) {
		path, keyring := keyedLog(t, 4)
		_, lines := readAudit(t, path)
		writeLines(t, path, lines[:2])
		if err := os.Remove(orchestrator.AuditHeadPath(path)); err != nil {
			t.Fatal(err)
		}
		wantVerifyFail(t, path, testKeyring(t, keyring), "is missing although the log holds keyed records")
		wantVerifyFail(t, path, nil, "is missing although the log holds keyed records")
		o, srv := auditedOrchestrator(t, path, false, nil, testKeyring(t, keyring))
		_, err := o.Call(testContext(t), "weather", "echo", map[string]any{"text": "x"})
		if oe := asError(t, err, orchestrator.KindAudit); !strings.Contains(oe.Error(), "is missing") || srv.calls.Load() != 0 {
			t.Errorf("message %q, %d call(s) sent", oe, srv.calls.Load())
		}
	})
}

// A log written before the key (unkeyed) verifies, reported as unkeyed,
// with the key in the keyring or without; once a keyed mediator continues
// it, the old records stay unkeyed and the new ones are keyed.
func TestAuditOldLogVerifiesAsUnkeyed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	appendCalls(t, path, nil, 3)
	keys := testKeyring(t, filepath.Join(dir, "keyring"))
	if _, err := keys.AuditKey(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*credentials.Store{keys, nil} {
		rep := verifyAudit(t, path, k, 3)
		if rep.Unkeyed != 3 || rep.Keyed != 0 || rep.Head != orchestrator.HeadNone || rep.KeyChecked != (k != nil) {
			t.Errorf("report %+v; want 3 unkeyed records and no head", rep)
		}
	}
	if _, err := os.Stat(orchestrator.AuditHeadPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("verifying wrote a head: %v", err)
	}

	appendCalls(t, path, keys, 2)
	rep := verifyAudit(t, path, keys, 5)
	if rep.Unkeyed != 3 || rep.Keyed != 2 || rep.Head != orchestrator.HeadMatched || rep.HeadSeq != 5 {
		t.Errorf("report %+v; want 3 unkeyed then 2 keyed records, the head matched at seq 5", rep)
	}
}

// Once a log is keyed, keyed records cannot be turned back into unkeyed
// ones, one or all, and a mediator without the key does not append to it.
func TestAuditDowngradeFails(t *testing.T) {
	// Two records from before the key, then two keyed ones.
	mixed := func(t *testing.T) (string, *credentials.Store, []auditLine) {
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.jsonl")
		appendCalls(t, path, nil, 2)
		keys := testKeyring(t, filepath.Join(dir, "keyring"))
		appendCalls(t, path, keys, 2)
		if rep := verifyAudit(t, path, keys, 4); rep.Unkeyed != 2 || rep.Keyed != 2 || rep.Head != orchestrator.HeadMatched {
			t.Fatalf("report %+v", rep)
		}
		recs, _ := readAudit(t, path)
		return path, keys, recs
	}
	t.Run("last record", func(t *testing.T) {
		path, keys, recs := mixed(t)
		_, lines := readAudit(t, path)
		writeLines(t, path, append(lines[:3:3], rehash(t, forgeable(recs[3:]), 4, recs[2].Hash)...))
		wantVerifyFail(t, path, keys, "keyed records come before it (from seq 3)")
		wantVerifyFail(t, path, nil, "keyed records come before it (from seq 3)")
	})
	t.Run("every keyed record", func(t *testing.T) {
		path, keys, recs := mixed(t)
		_, lines := readAudit(t, path)
		writeLines(t, path, append(lines[:2:2], rehash(t, forgeable(recs[2:]), 3, recs[1].Hash)...))
		wantVerifyFail(t, path, keys, "not before the audit key was made")
		wantVerifyFail(t, path, nil, "is not the one the head names")
	})
	t.Run("every record, head deleted", func(t *testing.T) {
		path, keys, recs := mixed(t)
		writeLines(t, path, rehash(t, forgeable(recs), 1, ""))
		if err := os.Remove(orchestrator.AuditHeadPath(path)); err != nil {
			t.Fatal(err)
		}
		wantVerifyFail(t, path, keys, "record seq 3 is unkeyed (a plain SHA-256), but it is dated")
	})
	t.Run("unkeyed writer", func(t *testing.T) {
		path, keys, _ := mixed(t)
		o, srv := auditedOrchestrator(t, path, false, nil, nil)
		_, err := o.Call(testContext(t), "weather", "echo", map[string]any{"text": "x"})
		if oe := asError(t, err, orchestrator.KindAudit); !strings.Contains(oe.Error(), "no audit key") || srv.calls.Load() != 0 {
			t.Errorf("message %q, %d call(s) sent", oe, srv.calls.Load())
		}
		verifyAudit(t, path, keys, 4)
	})
}

// A process stopped between writing a batch and updating the head leaves
// the head behind: the log verifies, saying so, and the next writer moves
// the head to the end. Records after the head that are not keyed fail.
func TestAuditHeadBehind(t *testing.T) {
	dir := t.TempDir()
	path, keyring := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "keyring")
	keys := testKeyring(t, keyring)
	appendCalls(t, path, keys, 2)
	old, err := os.ReadFile(orchestrator.AuditHeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	appendCalls(t, path, keys, 2)
	if err := os.WriteFile(orchestrator.AuditHeadPath(path), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := verifyAudit(t, path, keys, 4); rep.Head != orchestrator.HeadBehind || rep.HeadSeq != 2 {
		t.Errorf("report %+v; want the head behind, at seq 2", rep)
	}
	appendCalls(t, path, testKeyring(t, keyring), 1)
	if rep := verifyAudit(t, path, keys, 5); rep.Head != orchestrator.HeadMatched || rep.HeadSeq != 5 {
		t.Errorf("after another call: report %+v; want the head matched at seq 5", rep)
	}

	// Unkeyed records after the head's are forged, not left by a crash.
	recs, lines := readAudit(t, path)
	writeLines(t, path, append(lines[:2:2], rehash(t, forgeable(recs[2:]), 3, recs[1].Hash)...))
	if err := os.WriteFile(orchestrator.AuditHeadPath(path), old, 0o600); err != nil {
		t.Fatal(err)
	}
	wantVerifyFail(t, path, nil, "keyed records come before it")
	o, srv := auditedOrchestrator(t, path, false, nil, keys)
	_, err = o.Call(testContext(t), "weather", "echo", map[string]any{"text": "x"})
	if oe := asError(t, err, orchestrator.KindAudit); !strings.Contains(oe.Error(), "not sealed with the audit key") || srv.calls.Load() != 0 {
		t.Errorf("message %q, %d call(s) sent", oe, srv.calls.Load())
	}
}

// Another keyring's key does not verify the log, and the head says which
// key wrote it; an edited head fails.
func TestAuditOtherKeyAndEditedHead(t *testing.T) {
	path, keyring := keyedLog(t, 2)
	other := testKeyring(t, t.TempDir())
	if _, err := other.AuditKey(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	wantVerifyFail(t, path, other, "does not match its MAC")

	head, err := os.ReadFile(orchestrator.AuditHeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	// A head naming record 1 instead of 2, as a truncation would need.
	recs, _ := readAudit(t, path)
	forged := bytes.Replace(head, []byte(`"seq":2`), []byte(`"seq":1`), 1)
	forged = bytes.Replace(forged, []byte(recs[1].Hash), []byte(recs[0].Hash), 1)
	if err := os.WriteFile(orchestrator.AuditHeadPath(path), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	wantVerifyFail(t, path, testKeyring(t, keyring), "the head file was edited")
}

// The audit key appears nowhere mediator writes: not in the log, not in
// its head, not in the logs, not in records whose arguments carry it.
func TestAuditKeyNeverWritten(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	keys := testKeyring(t, filepath.Join(dir, "keyring"))
	var logs bytes.Buffer
	srv := newTestServer(serverOpts{name: "weather"})
	o := newOrchestrator(t, orchestrator.Options{
		AuditPath: path, AuditIncludeValues: true, AuditKeys: keys,
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Servers: []orchestrator.ServerConfig{inProcessServer("weather", srv.Server)},
	})
	if _, err := o.Call(ctx, "weather", "echo", map[string]any{"text": "x"}); err != nil {
		t.Fatal(err)
	}
	key := auditKey(t, keys).Secret.Reveal()
	raw, _ := hex.DecodeString(key)
	if _, err := o.Call(ctx, "weather", "echo", map[string]any{"text": key}); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// A refusal's message quotes the head and the log: no key there either.
	_, lines := readAudit(t, path)
	writeLines(t, path, lines[:1])
	o2, _ := auditedOrchestrator(t, path, false, nil, testKeyring(t, filepath.Join(dir, "keyring")))
	_, refusal := o2.Call(ctx, "weather", "echo", map[string]any{"text": "x"})
	if refusal == nil {
		t.Fatal("a call on a truncated log was not refused")
	}
	_, verr := orchestrator.VerifyAuditFile(path, auditKey(t, keys))

	head, err := os.ReadFile(orchestrator.AuditHeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(path)
	for what, data := range map[string]string{
		"audit log": string(written), "head": string(head), "logs": logs.String(),
		"refusal": refusal.Error(), "verify error": verr.Error(),
	} {
		if strings.Contains(data, key) || strings.Contains(strings.ToUpper(data), strings.ToUpper(key)) || bytes.Contains([]byte(data), raw) {
			t.Errorf("the %s holds the audit key:\n%s", what, data)
		}
	}
	if !bytes.Contains(lines[1], []byte(`"args":{"text":"[REDACTED]"}`)) {
		t.Errorf("arguments carrying the key are recorded as %s", lines[1])
	}
}

// The key is made once, at the first audited call, not before: commands
// that make no call never ask the keyring for it.
func TestAuditKeyMadeAtFirstCall(t *testing.T) {
	dir := t.TempDir()
	keys := testKeyring(t, filepath.Join(dir, "keyring"))
	o, _ := auditedOrchestrator(t, filepath.Join(dir, "audit.jsonl"), false, nil, keys)
	o.Connect(testContext(t))
	if _, err := keys.AuditKey(t.Context(), false); !errors.Is(err, credentials.ErrNotFound) {
		t.Fatalf("before any call: AuditKey = %v, want ErrNotFound", err)
	}
	if _, err := o.Call(testContext(t), "weather", "echo", map[string]any{"text": "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.AuditKey(context.Background(), false); err != nil {
		t.Fatalf("after a call: %v", err)
	}
}
