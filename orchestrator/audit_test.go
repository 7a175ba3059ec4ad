package orchestrator_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

type auditLine struct {
	Seq        uint64          `json:"seq"`
	Time       string          `json:"time"`
	CallID     string          `json:"call_id"`
	Server     string          `json:"server"`
	Tool       string          `json:"tool"`
	ArgsDigest string          `json:"args_digest"`
	Args       json.RawMessage `json:"args"`
	DurationMS float64         `json:"duration_ms"`
	Outcome    string          `json:"outcome"`
	ErrorClass string          `json:"error_class"`
	Error      string          `json:"error"`
	Prev       string          `json:"prev"`
	Hash       string          `json:"hash"`
}

func readAudit(t *testing.T, path string) ([]auditLine, [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []auditLine
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r auditLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	return recs, lines
}

// syncAudit waits until each orchestrator's records are on disk: they are
// written behind the calls.
func syncAudit(t *testing.T, orchs ...*orchestrator.Orchestrator) {
	t.Helper()
	for _, o := range orchs {
		if err := o.SyncAudit(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// auditedOrchestrator audits to auditPath, keyed with the audit key of keys
// unless keys is nil.
func auditedOrchestrator(t *testing.T, auditPath string, includeValues bool, red *credentials.Redactor, keys *credentials.Store) (*orchestrator.Orchestrator, *testServer) {
	srv := newTestServer(serverOpts{name: "weather"})
	opts := orchestrator.Options{
		AuditPath: auditPath, AuditIncludeValues: includeValues, Redactor: red,
		Servers: []orchestrator.ServerConfig{inProcessServer("weather", srv.Server)},
	}
	if keys != nil {
		opts.AuditKeys = keys
	}
	return newOrchestrator(t, opts), srv
}

const testPassphrase = "audit-test-passphrase-4Kq9"

// testKeyring opens the real file keyring at dir with a passphrase, as a
// mediator process would: the audit key lives there. Two stores opened on
// one dir stand for two processes.
func testKeyring(t testing.TB, dir string) *credentials.Store {
	t.Helper()
	s, err := credentials.Open(t.Context(), credentials.Options{
		Backend: credentials.BackendFile, FileDir: dir,
		Passphrase: func(string) (string, error) { return testPassphrase, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// auditKey is keys' audit key, which must exist.
func auditKey(t testing.TB, keys *credentials.Store) *credentials.AuditKey {
	t.Helper()
	k, err := keys.AuditKey(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// verifyAudit verifies the log at path, with keys' audit key unless keys
// is nil, and fails the test unless it is intact with want records.
func verifyAudit(t testing.TB, path string, keys *credentials.Store, want int) orchestrator.AuditReport {
	t.Helper()
	var key *credentials.AuditKey
	if keys != nil {
		key = auditKey(t, keys)
	}
	rep, err := orchestrator.VerifyAuditFile(path, key)
	if err != nil || rep.Records != want {
		t.Fatalf("VerifyAuditFile = %+v, %v; want %d intact records", rep, err, want)
	}
	return rep
}

func TestAuditRecordsEveryCall(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "audit", "audit.jsonl")
	keyring := filepath.Join(dir, "keyring")
	o, _ := auditedOrchestrator(t, path, false, nil, testKeyring(t, keyring))

	if _, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Oslo", "days": 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Call(ctx, "weather", "fail", map[string]any{"text": "x"}); err != nil {
		t.Fatal(err)
	}
	o.Call(ctx, "weather", "get_forecast", map[string]any{"days": 2}) // invalid: refused
	o.Call(ctx, "wether", "get_forecast", nil)                        // unknown server: refused
	syncAudit(t, o)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("audit dir mode %v, want 0700", di.Mode().Perm())
	}
	if hi, err := os.Stat(orchestrator.AuditHeadPath(path)); err != nil || hi.Mode().Perm() != 0o600 {
		t.Errorf("audit head: %v, %v; want mode 0600", hi, err)
	}

	recs, _ := readAudit(t, path)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	want := []struct{ server, tool, outcome, class string }{
		{"weather", "get_forecast", "ok", ""},
		{"weather", "fail", "tool-error", ""},
		{"weather", "get_forecast", "refused", "invalid-arguments"},
		{"wether", "get_forecast", "refused", "unknown-server"},
	}
	argsJSON, _ := json.Marshal(map[string]any{"days": 2, "city": "Oslo"})
	sum := sha256.Sum256(argsJSON)
	for i, r := range recs {
		w := want[i]
		if r.Seq != uint64(i+1) || r.Server != w.server || r.Tool != w.tool || r.Outcome != w.outcome || r.ErrorClass != w.class {
			t.Errorf("record %d = %+v, want %+v", i+1, r, w)
		}
		if r.CallID == "" || r.Time == "" || !strings.HasSuffix(r.Time, "Z") || r.DurationMS < 0 || !strings.HasPrefix(r.Hash, "hmac-sha256:") {
			t.Errorf("record %d lacks fields: %+v", i+1, r)
		}
		if r.Args != nil {
			t.Errorf("record %d holds argument values without AuditIncludeValues: %s", i+1, r.Args)
		}
		if (i == 0) != (r.Prev == "") {
			t.Errorf("record %d prev %q", i+1, r.Prev)
		}
	}
	if recs[0].ArgsDigest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("args digest %s is not sha256 of the canonical JSON %s", recs[0].ArgsDigest, argsJSON)
	}
	if strings.Contains(recs[2].Error, "Oslo") || !strings.Contains(recs[2].Error, "city") {
		t.Errorf("refusal error %q", recs[2].Error)
	}
	keys := testKeyring(t, keyring)
	if rep := verifyAudit(t, path, keys, 4); rep.Keyed != 4 || rep.Unkeyed != 0 || rep.Head != orchestrator.HeadMatched || rep.HeadSeq != 4 || !rep.KeyChecked {
		t.Errorf("report %+v, want 4 keyed records and the head matched at seq 4", rep)
	}

	// A new process resumes the chain where the file ends.
	o2, _ := auditedOrchestrator(t, path, false, nil, testKeyring(t, keyring))
	if _, err := o2.Call(ctx, "weather", "echo", map[string]any{"text": "again"}); err != nil {
		t.Fatal(err)
	}
	syncAudit(t, o2)
	if rep := verifyAudit(t, path, keys, 5); rep.Head != orchestrator.HeadMatched || rep.HeadSeq != 5 {
		t.Errorf("after resuming: report %+v", rep)
	}
}

// Two orchestrators on one file and one keyring stand for two mediator
// processes; they start without an audit key and make one between them.
func TestAuditConcurrentWritersKeepOneChain(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	keyring := filepath.Join(dir, "keyring")
	a, _ := auditedOrchestrator(t, path, false, nil, testKeyring(t, keyring))
	b, _ := auditedOrchestrator(t, path, false, nil, testKeyring(t, keyring))
	var wg sync.WaitGroup
	for i := range 8 {
		o := a
		if i%2 == 1 {
			o = b
		}
		wg.Go(func() {
			for range 5 {
				if _, err := o.Call(ctx, "weather", "echo", map[string]any{"text": "x"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	syncAudit(t, a, b)
	if rep := verifyAudit(t, path, testKeyring(t, keyring), 40); rep.Keyed != 40 || rep.Head != orchestrator.HeadMatched {
		t.Errorf("report %+v, want 40 keyed records and the head matched", rep)
	}
}

// An unkeyed log (the format from before the audit key) still shows
// tampering that does not recompute the chain.
func TestVerifyAuditFileDetectsTampering(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	o, _ := auditedOrchestrator(t, path, false, nil, nil)
	for _, city := range []string{"Oslo", "Rome", "Lima", "Kyiv"} {
		if _, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": city}); err != nil {
			t.Fatal(err)
		}
	}
	syncAudit(t, o)
	_, lines := readAudit(t, path)

	rehash := func(line []byte) []byte {
		i := bytes.LastIndex(line, []byte(`,"hash":"`))
		body := append(append([]byte(nil), line[:i]...), '}')
		sum := sha256.Sum256(body)
		return append(append(line[:i:i], `,"hash":"sha256:`...), hex.EncodeToString(sum[:])+`"}`...)
	}
	edit := func(line []byte) []byte {
		return bytes.Replace(line, []byte(`"outcome":"ok"`), []byte(`"outcome":"refused"`), 1)
	}

	cases := []struct {
		name  string
		lines [][]byte
		raw   string // used instead of lines when set
		line  int
		why   string
	}{
		{"edited", [][]byte{lines[0], edit(lines[1]), lines[2], lines[3]}, "", 2, "was edited"},
		{"edited and re-hashed", [][]byte{lines[0], rehash(edit(lines[1])), lines[2], lines[3]}, "", 3, "does not chain"},
		{"deleted", [][]byte{lines[0], lines[2], lines[3]}, "", 2, "record seq 2 was deleted"},
		{"first deleted", [][]byte{lines[1], lines[2], lines[3]}, "", 1, "record seq 1 was deleted"},
		{"reordered", [][]byte{lines[0], lines[2], lines[1], lines[3]}, "", 2, "reordered (seq 2 is at line 3)"},
		{"duplicated", [][]byte{lines[0], lines[1], lines[1], lines[2]}, "", 3, "reordered or duplicated"},
		{"bad JSON", [][]byte{lines[0], []byte(`{"seq":2,`), lines[2]}, "", 2, "not a JSON record"},
		{"inserted", [][]byte{lines[0], lines[1], []byte(`{"seq":3,"prev":"x"}`), lines[2]}, "", 3, "was edited"},
		{"cut off", nil, string(bytes.Join(lines, []byte("\n"))) + "\n" + `{"seq":5,"ti`, 5, "incomplete last record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".jsonl")
			data := c.raw
			if data == "" {
				data = string(bytes.Join(c.lines, []byte("\n"))) + "\n"
			}
			if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := orchestrator.VerifyAuditFile(p, nil)
			var ve *orchestrator.AuditVerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyAuditFile = %+v, %v; want an *AuditVerifyError", rep, err)
			}
			if ve.Line != c.line || !strings.Contains(ve.Reason, c.why) {
				t.Errorf("got line %d %q, want line %d containing %q", ve.Line, ve.Reason, c.line, c.why)
			}
			if rep.Records != c.line-1 {
				t.Errorf("intact records = %d, want %d", rep.Records, c.line-1)
			}
		})
	}

	// A file that ends mid-record refuses further appends instead of
	// chaining onto garbage.
	broken := filepath.Join(dir, "cut_off.jsonl")
	o2, srv := auditedOrchestrator(t, broken, false, nil, nil)
	for range 2 {
		_, err := o2.Call(ctx, "weather", "echo", map[string]any{"text": "x"})
		asError(t, err, orchestrator.KindAudit)
		if !strings.Contains(err.Error(), "incomplete record") {
			t.Errorf("message %q", err)
		}
	}
	if srv.calls.Load() != 0 {
		t.Errorf("a call went out although it could not be audited")
	}
}

func TestAuditCanaryNeverWritten(t *testing.T) {
	const canary = "canary-7f3a9c1e-SECRET"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(canary))
	if red.Redact(canary) == canary {
		t.Fatal("credentials.Redactor does not mask registered values")
	}
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o, _ := auditedOrchestrator(t, path, true, red, nil)

	// In a value, in a key, inside a longer string, in an echoed result, in
	// a refused call whose error quotes the value, and in a nested object.
	calls := []struct {
		tool string
		args map[string]any
	}{
		{"echo", map[string]any{"text": canary}},
		{"echo", map[string]any{"text": "prefix " + canary + " suffix <&>"}},
		{"get_forecast", map[string]any{"city": "Oslo", "unit": canary}},
		{"get_forecast", map[string]any{"city": "Oslo", canary: 1}},
		{"create_event", map[string]any{"title": "t", "where": map[string]any{"room": canary}}},
	}
	for _, c := range calls {
		_, err := o.Call(ctx, "weather", c.tool, c.args)
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Errorf("error %q contains the secret", err)
		}
		var oe *orchestrator.Error
		if errors.As(err, &oe) && strings.Contains(oe.Field, canary) {
			t.Errorf("error field %q contains the secret", oe.Field)
		}
	}
	syncAudit(t, o)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(canary)) {
		t.Fatalf("the audit file contains the secret:\n%s", data)
	}
	recs, _ := readAudit(t, path)
	if len(recs) != len(calls) {
		t.Fatalf("%d records, want %d", len(recs), len(calls))
	}
	// Values are recorded, with the secret masked.
	if !strings.Contains(string(recs[0].Args), "[REDACTED]") || !strings.Contains(string(recs[2].Args), `"city":"Oslo"`) {
		t.Errorf("args recorded as %s and %s", recs[0].Args, recs[2].Args)
	}
	if recs[2].Outcome != "refused" || recs[2].Error == "" {
		t.Errorf("refused call record %+v", recs[2])
	}
	verifyAudit(t, path, nil, len(calls))
}

// strictServer has one tool whose schema has the rules a refusal can quote
// a value under, and one raw tool that fails with a JSON-RPC error echoing
// its arguments, as servers do.
func strictServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "clinic", Version: "test"}, nil)
	s.AddTool(&mcp.Tool{Name: "book", InputSchema: json.RawMessage(`{"type":"object",
		"properties":{
			"kind":{"type":"string","enum":["checkup","vaccination"]},
			"days":{"type":"integer","maximum":7},
			"note":{"type":"string","minLength":64},
			"code":{"type":"string","pattern":"^[0-9]+$"}},
		"additionalProperties":false}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	s.AddTool(&mcp.Tool{Name: "lookup", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, fmt.Errorf("no record for %s", req.Params.Arguments)
		})
	return s
}

// Argument values stay out of the audit log unless include_values is on,
// even where a refusal or the server's error would quote them; the caller
// still gets the value in its error, which is what helps it fix the call.
func TestAuditErrorsQuoteNoArgumentValues(t *testing.T) {
	const canary = "PRIVATE-DIAGNOSIS-HIV"
	const canaryNumber = 987654321
	calls := []struct {
		tool  string
		args  map[string]any
		audit string // what the record's error says with values left out
	}{
		{"book", map[string]any{"kind": canary}, `argument "kind": enum`},
		{"book", map[string]any{"days": canaryNumber}, `argument "days": maximum`},
		{"book", map[string]any{"note": canary}, `argument "note": minLength`},
		{"book", map[string]any{"code": canary}, `argument "code": pattern`},
		{"book", map[string]any{canary: 1, "kind": "checkup"}, `the arguments: additionalProperties (1 unknown argument)`},
		{"lookup", map[string]any{"q": canary}, `the server answered with a JSON-RPC error (code 0)`},
	}
	for _, includeValues := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_values=%v", includeValues), func(t *testing.T) {
			ctx := testContext(t)
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			o := newOrchestrator(t, orchestrator.Options{
				AuditPath: path, AuditIncludeValues: includeValues,
				Servers: []orchestrator.ServerConfig{inProcessServer("clinic", strictServer())},
			})
			for _, c := range calls {
				_, err := o.Call(ctx, "clinic", c.tool, c.args)
				if err == nil {
					t.Fatalf("%s(%v): no error", c.tool, c.args)
				}
				if c.tool == "book" && !strings.Contains(err.Error(), canary) && !strings.Contains(err.Error(), "987654321") {
					t.Errorf("the caller's error %q does not show the offending value", err)
				}
			}
			syncAudit(t, o)
			recs, _ := readAudit(t, path)
			if len(recs) != len(calls) {
				t.Fatalf("%d records, want %d", len(recs), len(calls))
			}
			for i, r := range recs {
				if r.Error == "" {
					t.Errorf("record %d has no error", i+1)
				}
				if includeValues {
					continue
				}
				if strings.Contains(r.Error, canary) || strings.Contains(r.Error, "987654321") {
					t.Errorf("record %d error quotes a value: %q", i+1, r.Error)
				}
				if !strings.Contains(r.Error, calls[i].audit) {
					t.Errorf("record %d error %q, want it to contain %q", i+1, r.Error, calls[i].audit)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if leaked := bytes.Contains(data, []byte(canary)); leaked != includeValues {
				t.Errorf("audit file contains the value: %v, want %v", leaked, includeValues)
			}
			if includeValues && !strings.Contains(recs[1].Error, "(got 987654321)") {
				t.Errorf("with values included, the refusal keeps its detail: %q", recs[1].Error)
			}
		})
	}
}

// A call made for a workflow step is on record with the run and the step;
// other calls carry neither field.
func TestAuditRecordsCallOrigin(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o, _ := auditedOrchestrator(t, path, false, nil, nil)
	stepCtx := orchestrator.WithCallOrigin(ctx, orchestrator.CallOrigin{Run: "20261126-ab12", Step: "remind[3]"})
	if _, err := o.Call(stepCtx, "weather", "get_forecast", map[string]any{"city": "Oslo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Call(ctx, "weather", "get_forecast", map[string]any{"city": "Rome"}); err != nil {
		t.Fatal(err)
	}
	syncAudit(t, o)
	_, lines := readAudit(t, path)
	if len(lines) != 2 || !bytes.Contains(lines[0], []byte(`"tool":"get_forecast","run":"20261126-ab12","step":"remind[3]","args_digest"`)) ||
		bytes.Contains(lines[1], []byte(`"run"`)) || bytes.Contains(lines[1], []byte(`"step"`)) {
		t.Errorf("records:\n%s", bytes.Join(lines, []byte("\n")))
	}
	verifyAudit(t, path, nil, 2)
}
