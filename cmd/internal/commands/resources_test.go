package commands_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/testenv"
)

// resources, read, prompts and prompt against the reference server over
// stdio, as a user would run them, without a terminal.
func TestResourcesAndPromptsCommands(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	e := newTestEnv(t)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = `"` + a + `"`
	}
	e.writeConfig("servers:\n  everything:\n    command: " + command + "\n    args: [" + strings.Join(quoted, ", ") + "]\n" +
		"    resources: {deny: [\"demo://resource/dynamic/blob/9**\"]}\n    prompts: {deny: [resource-*]}\n    timeout: 20s\n")

	r := e.mustRun("", "resources", "everything")
	for _, want := range []string{"SERVER", "URI", "demo://resource/static/document/", "TEMPLATE", "demo://resource/dynamic/text/{resourceId}"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("resources: no %q in\n%s", want, r.stdout)
		}
	}
	r = e.mustRun("", "resources", "--json")
	var listing struct {
		Resources []struct {
			URI     string `json:"uri"`
			Allowed bool   `json:"allowed"`
		} `json:"resources"`
		Templates []struct {
			URITemplate string `json:"uri_template"`
		} `json:"templates"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listing); err != nil || len(listing.Resources) == 0 || len(listing.Templates) != 2 {
		t.Errorf("resources --json: %v\n%s", err, r.stdout)
	}

	r = e.mustRun("", "read", "everything", "demo://resource/dynamic/text/1")
	if !strings.Contains(r.stdout, "Resource 1") {
		t.Errorf("read text: %q", r.stdout)
	}
	r = e.run("", "read", "everything", "demo://resource/dynamic/blob/1")
	expectCode(t, r, 2, "a blob without -o")
	if !strings.Contains(r.stderr, "holds binary contents") || !strings.Contains(r.stderr, "-o FILE") {
		t.Errorf("a blob without -o: %s", r.stderr)
	}
	out := filepath.Join(e.dir, "blob.bin")
	r = e.mustRun("", "read", "everything", "demo://resource/dynamic/blob/1", "-o", out)
	if data, err := os.ReadFile(out); err != nil || len(data) == 0 || !strings.Contains(r.stdout, "saved to "+out) {
		t.Errorf("read -o: %v, %d bytes, stdout %q", err, len(data), r.stdout)
	}
	r = e.run("", "read", "everything", "demo://resource/dynamic/blob/90")
	expectCode(t, r, 2, "a URI the filter denies")
	if !strings.Contains(r.stderr, `deny pattern "demo://resource/dynamic/blob/9**"`) {
		t.Errorf("denied read: %s", r.stderr)
	}
	r = e.run("", "read", "everything", "demo://no/such/resource")
	expectCode(t, r, 3, "an unknown resource")

	r = e.mustRun("", "prompts", "everything")
	if !strings.Contains(r.stdout, "args-prompt") || !strings.Contains(r.stdout, "city*, state") {
		t.Errorf("prompts:\n%s", r.stdout)
	}
	r = e.mustRun("", "prompt", "everything", "args-prompt", "-a", "city=Oslo")
	if r.stdout != "user:\nWhat's weather in Oslo?\n" {
		t.Errorf("prompt: %q", r.stdout)
	}
	r = e.mustRun("", "prompt", "everything", "args-prompt", "-a", "city=Oslo", "--json")
	var got mcp.GetPromptResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got.Messages) != 1 {
		t.Errorf("prompt --json: %v\n%s", err, r.stdout)
	}
	r = e.run("", "prompt", "everything", "args-prompt")
	expectCode(t, r, 2, "a missing required argument")
	if !strings.Contains(r.stderr, "requires city") {
		t.Errorf("missing argument: %s", r.stderr)
	}
	r = e.run("", "prompt", "everything", "args-prompt", "-a", "city=Oslo", "-a", "country=NO")
	expectCode(t, r, 2, "an unknown argument")
	if !strings.Contains(r.stderr, `takes no argument "country"; its arguments: city, state`) {
		t.Errorf("unknown argument: %s", r.stderr)
	}
	r = e.run("", "prompt", "everything", "resource-prompt", "-a", "resourceType=Text", "-a", "resourceId=1")
	expectCode(t, r, 2, "a prompt the filter denies")
}

// What a server puts in a resource or a prompt reaches the terminal
// without escape sequences, and a credential it echoes is masked in text
// and never saved from a blob.
func TestReadAndPromptOutputIsSafe(t *testing.T) {
	e := newTestEnv(t)
	srv, s := startServer(t, canaryKey)
	s.AddResource(&mcp.Resource{Name: "evil", URI: "test://evil"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://evil", Text: "before\x1b]0;pwned\x07after key=" + canaryKey}}}, nil
	})
	s.AddResource(&mcp.Resource{Name: "leak", URI: "test://leak"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://leak", MIMEType: "application/octet-stream", Blob: []byte("bin " + canaryKey)}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "evil"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "\x1b[2Jcleared " + canaryKey}}}}, nil
	})
	e.writeConfig("servers:\n  test:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n")
	e.mustRun(canaryKey, "secret", "set", "test", "api-key")

	r := e.mustRun("", "read", "test", "test://evil")
	if strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, "before") || !strings.Contains(r.stdout, "after") {
		t.Errorf("read: %q", r.stdout)
	}
	r = e.mustRun("", "read", "test", "test://evil", "--json")
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("read --json: %q", r.stdout)
	}
	r = e.run("", "read", "test", "test://leak", "-o", filepath.Join(e.dir, "leak.bin"))
	expectCode(t, r, 2, "a blob holding a secret")
	if _, err := os.Stat(filepath.Join(e.dir, "leak.bin")); err == nil {
		t.Error("a blob holding a secret was saved")
	}
	r = e.mustRun("", "prompt", "test", "evil")
	if strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, "cleared") {
		t.Errorf("prompt: %q", r.stdout)
	}
}
