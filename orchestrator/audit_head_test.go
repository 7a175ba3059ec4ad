package orchestrator

import (
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// lockTestEntry is a finished call's entry, for tests that write records
// without an orchestrator.
func lockTestEntry(id string) auditEntry {
	return auditEntry{start: time.Now(), callID: id, server: "s", tool: "t", argsJSON: []byte(`{}`), outcome: OutcomeOK}
}

// The head always has the same size, so one write at offset 0 replaces
// the last one whole, and it reads back as written.
func TestAuditHeadFixedSize(t *testing.T) {
	seal := newAuditSealer(make([]byte, 32))
	for _, seq := range []uint64{0, 1, math.MaxUint64} {
		hash := algHMAC + strings.Repeat("f", hashHexLen)
		if seq == 0 {
			hash = ""
		}
		b := appendHead(nil, seal, seq, hash)
		if len(b) != headSize || b[len(b)-1] != '\n' {
			t.Fatalf("seq %d: head of %d bytes, want %d ending in a newline", seq, len(b), headSize)
		}
		h, err := parseHead(b)
		if err != nil || h.Seq != seq || h.Hash != hash || seal.checkHead(h) != "" {
			t.Errorf("seq %d: read back %+v, %v", seq, h, err)
		}
	}
}

// A head anchored at a record from before the key (the first keyed
// process anchors the log's end before writing anything) admits only
// keyed records after it, with or without the key to check them.
func TestAuditOnlyKeyedRecordsFollowAHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w := newAuditLog(Options{AuditPath: path, Redactor: credentials.NewRedactor()}, nil)
	for _, id := range []string{"1", "2", "3"} {
		if err := w.record(lockTestEntry(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	key := credentials.AuditKey{Secret: credentials.NewSecret(strings.Repeat("ab", 32)), Created: time.Now().Add(time.Hour)}
	raw, _ := key.Bytes()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	second := strings.Split(string(data), "\n")[1]
	_, alg, sum, _ := sealedLine([]byte(second))
	if err := os.WriteFile(AuditHeadPath(path), appendHead(nil, newAuditSealer(raw), 2, alg+sum), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*credentials.AuditKey{nil, &key} {
		rep, err := VerifyAuditFile(path, k)
		var ve *AuditVerifyError
		if !errors.As(err, &ve) || ve.Line != 3 || !strings.Contains(ve.Reason, "only keyed records follow a head") || rep.Records != 2 {
			t.Errorf("key given: %v: VerifyAuditFile = %+v, %v", k != nil, rep, err)
		}
	}
	if hex.EncodeToString(raw) != key.Secret.Reveal() {
		t.Fatal("AuditKey.Bytes does not decode the key")
	}
}
