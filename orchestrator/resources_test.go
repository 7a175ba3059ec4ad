package orchestrator_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
)

// docServer offers resources docs://readme and secret://key and prompts
// greet and internal, and counts the reads and gets that reach it.
type docServer struct {
	*mcp.Server
	reads, gets atomic.Int64
}

func newDocServer() *docServer {
	d := &docServer{Server: mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, nil)}
	for _, uri := range []string{"docs://readme", "secret://key"} {
		d.AddResource(&mcp.Resource{Name: uri, URI: uri}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			d.reads.Add(1)
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, Text: "text of " + uri}}}, nil
		})
	}
	d.AddResourceTemplate(&mcp.ResourceTemplate{Name: "page", URITemplate: "docs://page/{n}"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			d.reads.Add(1)
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "page"}}}, nil
		})
	for _, name := range []string{"greet", "internal"} {
		d.AddPrompt(&mcp.Prompt{Name: name, Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			d.gets.Add(1)
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello " + req.Params.Arguments["who"]}}}}, nil
		})
	}
	return d
}

type requestLine struct {
	Server     string          `json:"server"`
	Tool       string          `json:"tool"`
	Method     string          `json:"method"`
	ArgsDigest string          `json:"args_digest"`
	Args       json.RawMessage `json:"args"`
	Outcome    string          `json:"outcome"`
	ErrorClass string          `json:"error_class"`
	Error      string          `json:"error"`
}

func readRequests(t *testing.T, path string) []requestLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []requestLine
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var r requestLine
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// Reads and prompt gets go through the server's filters (a refused one is
// never sent), are audited with their method and never with a value
// (unless values are included), and carry the server's provenance joined
// with the request's.
func TestResourcesAndPromptsFilteredAndAudited(t *testing.T) {
	ctx := testContext(t)
	d := newDocServer()
	cfg := inProcessServer("docs", d.Server)
	cfg.Resources = orchestrator.ToolFilter{Deny: []string{"secret://**"}}
	cfg.Prompts = orchestrator.ToolFilter{Allow: []string{"gre*"}}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{cfg},
		Policy: orchestrator.Policy{Flows: []orchestrator.Flow{{From: "mail", To: "docs"}}}})

	rs, ts, err := o.Resources(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, r := range rs {
		allowed[r.Resource.URI] = r.Allowed
	}
	if len(rs) != 2 || !allowed["docs://readme"] || allowed["secret://key"] {
		t.Errorf("resources %+v", allowed)
	}
	if len(ts) != 1 || ts[0].Template.URITemplate != "docs://page/{n}" || ts[0].Server != "docs" {
		t.Errorf("templates %+v", ts)
	}
	ps, err := o.Prompts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || slices.IndexFunc(ps, func(p orchestrator.PromptInfo) bool { return p.Prompt.Name == "internal" && !p.Allowed }) < 0 {
		t.Errorf("prompts %+v", ps)
	}

	from := orchestrator.ProvenanceOf("mail")
	rc, err := o.ReadResource(ctx, "docs", "docs://readme", from)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Contents[0].Text != "text of docs://readme" || !slices.Equal(rc.Provenance.Servers(), []string{"docs", "mail"}) || rc.CallID == "" {
		t.Errorf("read %+v, provenance %v", rc.Contents[0], rc.Provenance.Servers())
	}
	// A URI built from a server's output that may not flow here is not sent.
	_, err = o.ReadResource(ctx, "docs", "docs://readme", orchestrator.ProvenanceOf("crm"))
	if oe := asError(t, err, orchestrator.KindFlowRefused); !strings.Contains(oe.Error(), `policy.flows: ["crm -> docs"]`) {
		t.Errorf("refusal: %v", err)
	}
	_, err = o.ReadResource(ctx, "docs", "secret://key", orchestrator.Provenance{})
	oe := asError(t, err, orchestrator.KindNotAllowed)
	if !strings.Contains(oe.Error(), `deny pattern "secret://**"`) || !strings.Contains(oe.Error(), "secret://key") {
		t.Errorf("refusal: %v", err)
	}
	pm, err := o.GetPrompt(ctx, "docs", "greet", map[string]string{"who": "Ada"}, orchestrator.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	if tc := pm.Messages[0].Content.(*mcp.TextContent); tc.Text != "hello Ada" || !slices.Equal(pm.Provenance.Servers(), []string{"docs"}) {
		t.Errorf("prompt %q, provenance %v", tc.Text, pm.Provenance.Servers())
	}
	_, err = o.GetPrompt(ctx, "docs", "internal", nil, orchestrator.Provenance{})
	if oe := asError(t, err, orchestrator.KindNotAllowed); !strings.Contains(oe.Error(), `allow: "gre*"`) {
		t.Errorf("refusal: %v", err)
	}
	if d.reads.Load() != 1 || d.gets.Load() != 1 {
		t.Errorf("%d reads and %d gets reached the server, want 1 each: a refused one was sent", d.reads.Load(), d.gets.Load())
	}

	syncAudit(t, o)
	recs := readRequests(t, auditPath)
	want := []struct{ method, tool, outcome string }{
		{"resources/read", "", "ok"}, {"resources/read", "", "refused"}, {"resources/read", "", "refused"},
		{"prompts/get", "greet", "ok"}, {"prompts/get", "internal", "refused"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Method != w.method || r.Tool != w.tool || r.Outcome != w.outcome || r.Server != "docs" || r.ArgsDigest == "" {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
		line, _ := json.Marshal(r)
		for _, value := range []string{"readme", "secret://key", "Ada"} {
			if strings.Contains(string(line), value) {
				t.Errorf("record %d holds the value %q: %s", i, value, line)
			}
		}
	}
}

// With an audit log that cannot be continued, a read or a prompt get is
// refused before anything is sent.
func TestResourceReadFailsClosed(t *testing.T) {
	ctx := testContext(t)
	d := newDocServer()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(auditPath, []byte(`{"seq":1,"time":`), 0o600); err != nil {
		t.Fatal(err)
	}
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{inProcessServer("docs", d.Server)}})
	_, err := o.ReadResource(ctx, "docs", "docs://readme", orchestrator.Provenance{})
	asError(t, err, orchestrator.KindAudit)
	_, err = o.GetPrompt(ctx, "docs", "greet", nil, orchestrator.Provenance{})
	asError(t, err, orchestrator.KindAudit)
	if d.reads.Load() != 0 || d.gets.Load() != 0 {
		t.Error("a request went out although it could not be audited")
	}
}

// A malformed pattern in a resources or prompts filter is a config error
// naming the filter.
func TestResourceFilterPatternsChecked(t *testing.T) {
	for _, tc := range []struct {
		f    func(*orchestrator.ServerConfig)
		want string
	}{
		{func(c *orchestrator.ServerConfig) { c.Resources.Allow = []string{"docs://[x"} }, `resources: pattern "docs://[x"`},
		{func(c *orchestrator.ServerConfig) { c.Resources.Deny = []string{"a/**/b"} }, `may only end a pattern`},
		{func(c *orchestrator.ServerConfig) { c.Prompts.Deny = []string{"[z"} }, `prompts: pattern "[z"`},
	} {
		cfg := inProcessServer("docs", newDocServer().Server)
		tc.f(&cfg)
		_, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{cfg}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to say %q", err, tc.want)
		}
	}
}
