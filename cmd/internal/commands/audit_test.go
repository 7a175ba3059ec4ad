package commands_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// auditKeyValue reads the audit key mediator made in e's file keyring and
// adds it to e's canaries: no command may print it.
func (e *testEnv) auditKeyValue() string {
	e.t.Helper()
	store, err := credentials.Open(e.t.Context(), credentials.Options{Backend: credentials.BackendFile, FileDir: filepath.Join(e.dir, "keyring"),
		Passphrase: func(string) (string, error) { return canaryPassphrase, nil }})
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := store.AuditKey(e.t.Context(), false)
	if err != nil {
		e.t.Fatal(err)
	}
	e.canary = append(e.canary, k.Secret.Reveal())
	return k.Secret.Reveal()
}

// unkeyedChain re-encodes a log's records as a chain of plain SHA-256
// hashes, as anyone who can write the file can (and as mediator wrote logs
// before the audit key).
func unkeyedChain(t *testing.T, log []byte, keep func(i int, rec map[string]any) bool) []byte {
	t.Helper()
	var out []byte
	prev, seq := "", 1
	for i, line := range bytes.Split(bytes.TrimSpace(log), []byte("\n")) {
		// Field order does not matter to verification; only that the
		// hash field comes last.
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if !keep(i, rec) {
			continue
		}
		delete(rec, "hash")
		rec["seq"], rec["prev"] = seq, prev
		body, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		prev = "sha256:" + hex.EncodeToString(sum[:])
		out = append(out, body[:len(body)-1]...)
		out = append(out, `,"hash":"`+prev+`"}`+"\n"...)
		seq++
	}
	return out
}

// `mediator audit verify` says what it checked: keyed records and their
// MACs, the head; and fails a log rewritten from scratch or cut short.
func TestAuditVerifyKeyedLog(t *testing.T) {
	e := callEnv(t)
	e.mustRun("", "call", "weather", "echo", "-a", "text=one")
	e.mustRun("", "call", "weather", "add", "-a", "a=1", "-a", "b=2")
	e.mustRun("", "call", "weather", "echo", "-a", "text=three")
	key := e.auditKeyValue()
	audit := filepath.Join(e.dir, "state", "mediator", "audit.jsonl")

	r := e.mustRun("", "audit", "verify")
	for _, want := range []string{
		"OK: 3 records, chain intact (" + audit + ")",
		"keyed:   records 1-3, each MAC checked with the keyring's audit key",
		"head:    matched: it names the last record, seq 3 (" + audit + ".head)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit verify lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "unkeyed") {
		t.Errorf("audit verify reports unkeyed records:\n%s", r.stdout)
	}
	r = e.mustRun("", "audit", "verify", "--json")
	var rep struct {
		OK                      bool
		Records, Keyed, Unkeyed int
		KeyChecked              bool `json:"key_checked"`
		Head                    string
		HeadSeq                 int    `json:"head_seq"`
		KeyID                   string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err, r.stdout)
	}
	if !rep.OK || rep.Records != 3 || rep.Keyed != 3 || rep.Unkeyed != 0 || !rep.KeyChecked || rep.Head != "matched" || rep.HeadSeq != 3 || rep.KeyID == "" {
		t.Errorf("audit verify --json: %s", r.stdout)
	}

	// Without the keyring's passphrase the MACs cannot be checked: exit 3.
	delete(e.vars, "MEDIATOR_KEYRING_PASSPHRASE")
	r = e.run("", "audit", "verify")
	expectCode(t, r, 3, "verify without the key")
	if !strings.Contains(r.stdout, "NOT FULLY CHECKED: 3 records") || !strings.Contains(r.stdout, "MACs NOT checked") ||
		!strings.Contains(r.stderr, "the audit key could not be read") {
		t.Errorf("verify without the key:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	e.vars["MEDIATOR_KEYRING_PASSPHRASE"] = canaryPassphrase

	log, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	head, err := os.ReadFile(orchestrator.AuditHeadPath(audit))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(log, []byte(key)) || bytes.Contains(head, []byte(key)) {
		t.Fatal("the audit log or its head holds the audit key")
	}

	// Rewritten from scratch: the add deleted, an outcome edited, every
	// hash recomputed.
	forged := unkeyedChain(t, log, func(i int, rec map[string]any) bool {
		if i == 2 {
			rec["outcome"] = "refused"
		}
		return i != 1
	})
	if err := os.WriteFile(audit, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "audit", "verify")
	expectCode(t, r, 2, "a log rewritten from scratch")
	if !strings.Contains(r.stderr, "line 1: record seq 1 is unkeyed") {
		t.Errorf("rewritten log: %s", r.stderr)
	}
	// Cut short: the last record deleted.
	lines := bytes.SplitAfter(log, []byte("\n"))
	if err := os.WriteFile(audit, bytes.Join(lines[:2], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "audit", "verify")
	expectCode(t, r, 2, "a truncated log")
	if !strings.Contains(r.stderr, "the log ends at seq 2 but its head names seq 3: record seq 3 was cut off the end") {
		t.Errorf("truncated log: %s", r.stderr)
	}
	// And mediator will not chain onto it.
	r = e.run("", "call", "weather", "echo", "-a", "text=four")
	if r.code == 0 || !strings.Contains(r.stderr, "records were cut off the end") {
		t.Errorf("a call on a truncated log: exit %d\n%s", r.code, r.stderr)
	}
}

// A log from before the audit key verifies, reported as unkeyed; mediator
// continues it with keyed records, and the old ones stay reported as such.
func TestAuditVerifyOldLog(t *testing.T) {
	e := callEnv(t)
	audit := filepath.Join(e.dir, "state", "mediator", "audit.jsonl")
	var old []byte
	for _, tool := range []string{"echo", "add"} {
		old = append(old, `{"seq":0,"time":"2026-01-02T03:04:05.000000006Z","call_id":"0a1b2c3d4e5f-1","server":"weather","tool":"`+tool+
			`","args_digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","duration_ms":1.5,"outcome":"ok","prev":""}`+"\n"...)
	}
	if err := os.MkdirAll(filepath.Dir(audit), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(audit, unkeyedChain(t, old, func(int, map[string]any) bool { return true }), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun("", "audit", "verify")
	for _, want := range []string{"OK: 2 records, chain intact", "unkeyed: records 1-2, written before the audit key: only a hash chains them", "head:    none"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("old log: lacks %q:\n%s", want, r.stdout)
		}
	}

	e.mustRun("", "call", "weather", "echo", "-a", "text=three")
	e.auditKeyValue()
	r = e.mustRun("", "audit", "verify")
	for _, want := range []string{"OK: 3 records, chain intact", "unkeyed: records 1-2", "keyed:   record 3, each MAC checked", "head:    matched: it names the last record, seq 3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("old log continued: lacks %q:\n%s", want, r.stdout)
		}
	}
}

// A log that is gone is no clean log: verify finds what the calls left
// elsewhere (the head, the run journal, the audit key) and reports the
// records missing; only where nothing shows a call does "no log" pass.
func TestAuditVerifyMissingLog(t *testing.T) {
	e := callEnv(t)
	r := e.mustRun("", "audit", "--help")
	if !strings.Contains(r.stdout, "audit.path") || !strings.Contains(r.stdout, "~/.local/state/mediator/audit.jsonl") {
		t.Errorf("audit --help does not say where the log is:\n%s", r.stdout)
	}
	r = e.mustRun("", "audit", "verify")
	if !strings.Contains(r.stderr, "no call has been made") {
		t.Errorf("before any call: %s", r.stderr)
	}
	e.mustRun("", "call", "weather", "echo", "-a", "text=one")
	audit := filepath.Join(e.dir, "state", "mediator", "audit.jsonl")

	for _, tc := range []struct {
		name   string
		remove []string
		want   string
	}{
		{"log deleted", []string{audit}, "its head " + audit + ".head is there"},
		{"log and head deleted", []string{audit, audit + ".head"}, "the keyring holds the audit key, made at the first audited call"},
	} {
		for _, p := range tc.remove {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		r := e.run("", "audit", "verify")
		expectCode(t, r, 2, tc.name)
		if !strings.Contains(r.stderr, "no audit log at "+audit+", yet calls were audited") || !strings.Contains(r.stderr, tc.want) ||
			!strings.Contains(r.stderr, "its records are missing") {
			t.Errorf("%s: stderr:\n%s", tc.name, r.stderr)
		}
	}
}

// The run journal counts as a witness too: a run opens the audit log
// before its first call.
func TestAuditVerifyMissingLogWithRuns(t *testing.T) {
	e := callEnv(t)
	flow := filepath.Join(e.dir, "one.flow.yaml")
	if err := os.WriteFile(flow, []byte("version: 1\nname: one\nsteps:\n  - id: a\n    call: {server: weather, tool: echo}\n    with: {text: hi}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun("", "run", flow)
	audit := filepath.Join(e.dir, "state", "mediator", "audit.jsonl")
	for _, p := range []string{audit, audit + ".head"} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run("", "audit", "verify")
	expectCode(t, r, 2, "log gone, runs journalled")
	if !strings.Contains(r.stderr, "the run journal lists 1 workflow run(s)") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
