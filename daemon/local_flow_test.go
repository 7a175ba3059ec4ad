package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
)

// postFlow sends body to a flow path and returns the status and the
// answer's lines.
func postFlow(t *testing.T, c *http.Client, id Identity, path string, body any) (int, []FlowAnswer) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://daemon"+path, bytes.NewReader(b))
	id.SetHeaders(req.Header)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []FlowAnswer
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a FlowAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return resp.StatusCode, out
}

// The flow requests: a call with its run and step audited, the result
// masked; a tool's description; requests the daemon does not take.
func TestLocalFlowCall(t *testing.T) {
	dir := t.TempDir()
	o := localOrch(t, dir)
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(localSecret))
	c, id, _ := serveLocal(t, o, red)

	code, ans := postFlow(t, c, id, LocalPathFlowCall, &FlowCallRequest{Server: "notes", Tool: "echo",
		Arguments: json.RawMessage(`{"text": "key ` + localSecret + `"}`), Run: "r1", Step: "say[0]"})
	if code != http.StatusOK || len(ans) != 1 || !ans[0].Done || ans[0].Error != nil || ans[0].Result == nil {
		t.Fatalf("flow call: %d %+v", code, ans)
	}
	if b, _ := json.Marshal(ans[0].Result); strings.Contains(string(b), localSecret) || !strings.Contains(string(b), "echo: key ") {
		t.Errorf("the result is not masked: %s", b)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "audit.jsonl")); err != nil || !bytes.Contains(data, []byte(`"run":"r1","step":"say[0]"`)) {
		t.Errorf("the call's record has not its run and step:\n%s", data)
	}

	code, ans = postFlow(t, c, id, LocalPathFlowTool, &FlowToolRequest{Server: "notes", Tool: "nosuch"})
	if code != http.StatusOK || len(ans) != 1 || ans[0].Error == nil || ans[0].Error.Class != workflows.ClassRefused ||
		!strings.Contains(ans[0].Error.Cause.Message, `has no tool "nosuch"`) {
		t.Errorf("an unknown tool: %d %+v", code, ans)
	}

	code, _ = postFlow(t, c, id, LocalPathFlowCall, map[string]any{"server": "notes", "tool": "echo", "arguments": []int{1}})
	if code != http.StatusBadRequest {
		t.Errorf("arguments that are not an object: %d, want 400", code)
	}
	other := id
	other.ConfigSHA256 = strings.Repeat("0", 64)
	if code, _ = postFlow(t, c, other, LocalPathFlowCall, &FlowCallRequest{Server: "notes", Tool: "echo"}); code != http.StatusConflict {
		t.Errorf("another config's flow call: %d, want 409", code)
	}
}

// WireFlowError carries what the engine classifies by: the class, the
// flow refusal, the orchestrator's kind, a task the server does not know.
func TestWireFlowErrorRoundTrip(t *testing.T) {
	oe := &orchestrator.Error{Kind: orchestrator.KindFlowRefused, Server: "b", Tool: "put",
		Flows: []orchestrator.Flow{{From: "a", To: "b"}}, Msg: "data from a may not go to b"}
	err := &workflows.CallError{Class: workflows.ClassRefused, Err: &workflows.FlowRefusedError{From: []string{"a"}, To: "b", Err: oe}}
	b, _ := json.Marshal(wireFlowError(err, credentials.NewRedactor()))
	var w WireFlowError
	if e := json.Unmarshal(b, &w); e != nil {
		t.Fatal(e)
	}
	got := w.Err()
	var ce *workflows.CallError
	var fr *workflows.FlowRefusedError
	var goe *orchestrator.Error
	if got.Error() != err.Error() || !errors.As(got, &ce) || ce.Class != workflows.ClassRefused ||
		!errors.As(got, &fr) || fr.To != "b" || len(fr.From) != 1 || fr.From[0] != "a" ||
		!errors.As(got, &goe) || goe.Kind != orchestrator.KindFlowRefused || len(goe.Flows) != 1 {
		t.Errorf("rebuilt %#v from %s", got, b)
	}

	lost := &workflows.CallError{Class: workflows.ClassTransport, Err: fmt.Errorf("attach to task-9: %w", connectors.ErrTaskNotFound)}
	got = wireFlowError(lost, credentials.NewRedactor()).Err()
	if !errors.Is(got, connectors.ErrTaskNotFound) || got.Error() != lost.Error() || workflows.ErrorClass(got) != workflows.ClassTransport {
		t.Errorf("a task not found rebuilt as %q (not found: %v, class %q)", got, errors.Is(got, connectors.ErrTaskNotFound), workflows.ErrorClass(got))
	}
	if (*WireFlowError)(nil).Err() != nil {
		t.Error("no error rebuilt as one")
	}
}
