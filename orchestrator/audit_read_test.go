package orchestrator_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/orchestrator"
)

// ReadAuditFile hands over each record as it verifies, with every field
// the writer wrote; with Growing, a last line still being written is left
// out and reported, not a failure; a record that fails ends the records
// handed over before it.
func TestReadAuditFile(t *testing.T) {
	path, keyring := keyedLog(t, 3)
	key := auditKey(t, testKeyring(t, keyring))
	var got []orchestrator.AuditRecord
	rep, err := orchestrator.ReadAuditFile(path, orchestrator.AuditReadOptions{Key: key, Each: func(r orchestrator.AuditRecord) error {
		got = append(got, r)
		return nil
	}})
	if err != nil || rep.Records != 3 || len(got) != 3 || rep.Head != orchestrator.HeadMatched {
		t.Fatalf("report %+v, %d records, err %v", rep, len(got), err)
	}
	for i, r := range got {
		if r.Seq != uint64(i+1) || r.Server != "weather" || r.Tool != "get_forecast" || r.Outcome != orchestrator.OutcomeOK ||
			r.ArgsDigest == "" || r.Time == "" || r.CallID == "" || (i > 0 && r.Prev == "") {
			t.Errorf("record %d: %+v", i, r)
		}
	}

	stop := errors.New("enough")
	n := 0
	if _, err := orchestrator.ReadAuditFile(path, orchestrator.AuditReadOptions{Each: func(orchestrator.AuditRecord) error {
		n++
		return stop
	}}); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an error from Each: %v after %d records", err, n)
	}

	// A record being appended: its first half is on disk.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, `{"seq":4,"time":"2026-`...), 0o600); err != nil {
		t.Fatal(err)
	}
	got = nil
	rep, err = orchestrator.ReadAuditFile(path, orchestrator.AuditReadOptions{Key: key, Growing: true, Each: func(r orchestrator.AuditRecord) error {
		got = append(got, r)
		return nil
	}})
	if err != nil || !rep.Writing || rep.Records != 3 || len(got) != 3 {
		t.Errorf("growing: report %+v, %d records, err %v", rep, len(got), err)
	}
	var ve *orchestrator.AuditVerifyError
	if _, err := orchestrator.VerifyAuditFile(path, key); !errors.As(err, &ve) || ve.Line != 4 {
		t.Errorf("verify of a cut last line: %v", err)
	}

	// An edited record: the ones before it are handed over, not it.
	edited := []byte(strings.Replace(string(data), `"seq":2,`, `"seq":2 ,`, 1))
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	got = nil
	rep, err = orchestrator.ReadAuditFile(path, orchestrator.AuditReadOptions{Key: key, Growing: true, Each: func(r orchestrator.AuditRecord) error {
		got = append(got, r)
		return nil
	}})
	if !errors.As(err, &ve) || ve.Line != 2 || rep.Records != 1 || len(got) != 1 {
		t.Errorf("edited: report %+v, %d records, err %v", rep, len(got), err)
	}
}

// ReadAudit reads the orchestrator's own log after writing what it holds,
// with its keyring's audit key; without auditing it reads nothing.
func TestReadAudit(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/audit.jsonl"
	keys := testKeyring(t, dir+"/keyring")
	o, _ := auditedOrchestrator(t, path, false, nil, keys)
	if _, err := o.Call(testContext(t), "weather", "get_forecast", map[string]any{"city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	r, err := o.ReadAudit(t.Context(), func(orchestrator.AuditRecord) error { n++; return nil })
	if err != nil || r.Path != path || n != 1 || !r.Report.KeyChecked || r.Report.Keyed != 1 || r.KeyErr != nil || r.SyncErr != nil {
		t.Errorf("ReadAudit = %+v, %v; %d records", r, err, n)
	}
	off, _ := auditedOrchestrator(t, "", false, nil, nil)
	if r, err := off.ReadAudit(t.Context(), nil); err != nil || r.Path != "" {
		t.Errorf("without auditing: %+v, %v", r, err)
	}
}
