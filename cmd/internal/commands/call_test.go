package commands_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// callEnv configures "weather" on a live loopback server that requires
// canaryKey, stores that key in the file keyring, and adds "down", whose
// server is gone.
func callEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	srv, _ := startServer(t, canaryKey)
	e.writeConfig("servers:\n" +
		"  weather:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n" +
		"  down:\n    url: " + downURL(t) + "\n    timeout: 10s\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	return e
}

func TestCallExitCodes(t *testing.T) {
	e := callEnv(t)

	r := e.run("", "call", "weather", "echo", "-a", "text=hello")
	expectCode(t, r, 0, "success")
	if r.stdout != "{\n  \"echo\": \"hello\"\n}\n" {
		t.Errorf("structured result printed as:\n%s", r.stdout)
	}

	// echo's text is a string, so digits stay the text typed; add's a
	// and b are integers, so the same digits are numbers.
	r = e.run("", "call", "weather", "echo", "-a", "text=01234", "-a", "text=12345")
	expectCode(t, r, 0, "digits for a string argument")
	if r.stdout != "{\n  \"echo\": \"12345\"\n}\n" {
		t.Errorf("digits for a string argument printed as:\n%s", r.stdout)
	}

	r = e.run("", "call", "weather", "say", "--args", `{"text": "hi"}`)
	expectCode(t, r, 0, "text result")
	if r.stdout != "you said: hi\n" {
		t.Errorf("text result printed as %q", r.stdout)
	}

	r = e.run("", "call", "weather", "add", "-a", "a=2", "-a", "b=40", "--json")
	expectCode(t, r, 0, "--json")
	var raw struct {
		Content           []map[string]any `json:"content"`
		StructuredContent map[string]any   `json:"structuredContent"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
	}
	if raw.StructuredContent["sum"] != float64(42) || len(raw.Content) != 1 || raw.Content[0]["type"] != "text" {
		t.Errorf("--json result: %s", r.stdout)
	}

	r = e.run("", "call", "weather", "fail")
	expectCode(t, r, 1, "tool returned isError")
	if !strings.Contains(r.stderr, "the weather is unavailable") || !strings.Contains(r.stderr, "error: weather.fail returned an error") {
		t.Errorf("isError stderr: %s", r.stderr)
	}

	r = e.run("", "call", "weather", "ech", "-a", "text=x")
	expectCode(t, r, 2, "unknown tool")
	if !strings.Contains(r.stderr, `did you mean "echo"`) {
		t.Errorf("unknown tool: no did-you-mean in %s", r.stderr)
	}

	r = e.run("", "call", "wether", "echo")
	expectCode(t, r, 2, "unknown server")
	if !strings.Contains(r.stderr, `unknown server "wether" (did you mean "weather"?)`) {
		t.Errorf("unknown server: %s", r.stderr)
	}

	r = e.run("", "call", "weather", "add", "-a", "a=two", "-a", "b=1")
	expectCode(t, r, 2, "arguments not matching the input schema")
	if !strings.Contains(r.stderr, "a") {
		t.Errorf("invalid args: %s", r.stderr)
	}

	r = e.run("", "call", "weather", "echo", "--args", "[1]")
	expectCode(t, r, 2, "--args not an object")
	if !strings.Contains(r.stderr, "--args: tool arguments must be a JSON object") {
		t.Errorf("--args array: %s", r.stderr)
	}

	r = e.run("", "call", "down", "echo")
	expectCode(t, r, 3, "server down")

	// The wrong key: the server rejects it, mediator says so and exits 3.
	e.mustRun("wrong-key-value", "secret", "set", "weather", "api-key")
	r = e.run("", "call", "weather", "echo", "-a", "text=x")
	expectCode(t, r, 3, "wrong key")

	// A missing key is an authentication failure too, named by the item.
	e.mustRun("", "secret", "rm", "weather", "api-key")
	r = e.run("", "call", "weather", "echo", "-a", "text=x")
	expectCode(t, r, 3, "missing key")
	if !strings.Contains(r.stderr, "api-key") {
		t.Errorf("missing key: %s", r.stderr)
	}
}

func TestCallArgsFromFileAndStdin(t *testing.T) {
	e := callEnv(t)
	p := filepath.Join(e.dir, "args.json")
	if err := os.WriteFile(p, []byte(`{"a": 1, "b": 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun("", "call", "weather", "add", "--args", "@"+p, "-a", "b=5")
	if !strings.Contains(r.stdout, `"sum": 6`) {
		t.Errorf("@file merged with -a: %s", r.stdout)
	}
	r = e.mustRun(`{"text": "from stdin"}`, "call", "weather", "echo", "--args", "-")
	if !strings.Contains(r.stdout, "from stdin") {
		t.Errorf("--args -: %s", r.stdout)
	}
}

func TestServersAndTools(t *testing.T) {
	e := callEnv(t)

	r := e.run("", "servers")
	expectCode(t, r, 3, "one server down")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "down") || !strings.HasPrefix(lines[2], "weather") {
		t.Fatalf("servers table:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[2]); len(f) != 6 || f[1] != "streamable-http" || f[3] != "-" || f[4] != "ready" || f[5] != "4" {
		t.Errorf("weather row: %s", lines[2])
	}
	if strings.Contains(lines[1], "ready") {
		t.Errorf("down row: %s", lines[1])
	}
	if !strings.Contains(r.stderr, "1 of 2 servers are not ready") {
		t.Errorf("stderr: %s", r.stderr)
	}

	r = e.run("", "servers", "--json")
	var rows []struct {
		Name, State, Error string
		Tools              int
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err, r.stdout)
	}
	if len(rows) != 2 || rows[1].State != "ready" || rows[1].Tools != 4 || rows[0].Error == "" {
		t.Errorf("servers --json: %+v", rows)
	}

	r = e.mustRun("", "tools", "weather")
	want := []string{"TOOL", "weather.add", "weather.echo", "weather.fail", "weather.say"}
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tools:\n%s", r.stdout)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("tools line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	if !strings.Contains(r.stdout, "Echo the text back.") || strings.Contains(r.stdout, "Second line") {
		t.Errorf("descriptions should be one line:\n%s", r.stdout)
	}

	r = e.mustRun("", "tools", "weather", "--json")
	var tools []struct {
		Qualified    string
		Allowed      bool
		Pin          string
		OutputSchema map[string]any `json:"output_schema"`
		Annotations  map[string]any `json:"annotations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tools); err != nil {
		t.Fatal(err)
	}
	if len(tools) != 4 || tools[1].Qualified != "weather.echo" || !tools[1].Allowed {
		t.Errorf("tools --json: %+v", tools)
	}
	// The retry rules decide by annotations, and flows read results by
	// outputSchema: a script needs both.
	if len(tools) == 4 && (tools[1].Annotations["readOnlyHint"] != true || tools[1].OutputSchema["type"] != "object") {
		t.Errorf("tools --json lacks echo's annotations or outputSchema:\n%s", r.stdout)
	}

	r = e.run("", "tools")
	expectCode(t, r, 3, "tools of all servers, one down")
	if !strings.Contains(r.stdout, "weather.echo") || !strings.Contains(r.stderr, "down") {
		t.Errorf("tools (all):\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}

	r = e.run("", "tools", "wether")
	expectCode(t, r, 2, "tools of an unknown server")

	r = e.mustRun("", "tools", "accept", "weather")
	_ = r
}

func TestAuditVerifyAfterCalls(t *testing.T) {
	e := callEnv(t)
	// The echo tool sends the key back: the redactor keeps it off stdout
	// (run checks), and the audit log records no values by default.
	r := e.mustRun("", "call", "weather", "echo", "-a", "text="+canaryKey)
	if !strings.Contains(r.stdout, "[REDACTED]") {
		t.Errorf("echoed key: %s", r.stdout)
	}
	e.run("", "call", "weather", "fail")
	r = e.mustRun("", "audit", "verify")
	if !strings.HasPrefix(r.stdout, "OK: 2 records") {
		t.Errorf("audit verify: %s", r.stdout)
	}
	audit := filepath.Join(e.dir, "state", "mediator", "audit.jsonl")
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), canaryKey) {
		t.Errorf("the audit log holds the secret value")
	}
	// Tampering shows.
	tampered := strings.Replace(string(b), `"echo"`, `"ech0"`, 1)
	if err := os.WriteFile(audit, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "audit", "verify", "--file", audit)
	expectCode(t, r, 2, "tampered audit log")
	if !strings.Contains(r.stderr, "line 1") {
		t.Errorf("tampered: %s", r.stderr)
	}
}

// The call's audit record is written behind it; a record that cannot be
// written is this command's error, after the server's answer, which
// arrived and is shown.
func TestCallReportsLostAuditRecord(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /dev/full, whose writes fail with ENOSPC")
	}
	e := newTestEnv(t)
	srv, _ := startServer(t, canaryKey)
	// A log whose writes fail, in a directory where its head can be made.
	full := filepath.Join(e.dir, "full.jsonl")
	if err := os.Symlink("/dev/full", full); err != nil {
		t.Fatal(err)
	}
	e.writeConfig("audit: {path: " + full + "}\nservers:\n" +
		"  weather:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n    timeout: 10s\n")
	e.mustRun(canaryKey, "secret", "set", "weather", "api-key")
	r := e.run("", "call", "weather", "echo", "-a", "text=hello")
	expectCode(t, r, 2, "a lost audit record")
	if !strings.Contains(r.stdout, "hello") {
		t.Errorf("the server's answer is not shown: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "1 audit record(s) could not be written to "+full) {
		t.Errorf("stderr does not report the lost record:\n%s", r.stderr)
	}
}
