package serve

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The servers' skills pass through with URIs that name their server;
// listing reads no file, SKILL.md and listed files are verified before
// the host gets them, and what the host read counts in its provenance.
func TestSkillsPassedThrough(t *testing.T) {
	good := hostile.SkillSpec{Path: "pdf-processing", Description: "Extracts text from PDFs.", Body: "See references/FORMS.md.\n",
		Files: map[string]string{"references/FORMS.md": "the forms"}, Unlisted: map[string]string{"secret.md": "not listed"}}
	bad := hostile.SkillSpec{Path: "tampered", Description: "Served changed.", Body: "body\n", Tamper: hostile.TamperDigest}
	kb := hostile.NewSkillServer(0, good, bad)
	r := newRig(t, Options{Gateway: true}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("kb", kb.Server), inProcess("mail", mailServer(nil))}})
	h := r.connect(t, nil, func(c *mcp.Client) {
		_ = mcp.AddSendingCustomMethod[*skillListParams, *skillListResult](c, "skills/list")
		_ = mcp.AddSendingCustomMethod[*skillGetParams, *skillGetResult](c, "skills/get")
	})
	ctx := context.Background()
	if _, ok := h.cs.InitializeResult().Capabilities.Extensions[connectors.SkillsExtension]; !ok {
		t.Fatal("the skills extension is not declared")
	}
	list, err := mcp.CallCustomMethod[*skillListParams, *skillListResult](ctx, h.cs, "skills/list", &skillListParams{})
	if err != nil {
		t.Fatalf("skills/list: %v", err)
	}
	var uris []string
	for _, raw := range list.Skills {
		var e connectors.Skill
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Check(); err != nil {
			t.Fatalf("an offered entry does not check out: %v", err)
		}
		files, _ := e.Check()
		for _, f := range files {
			if !strings.HasPrefix(f.URI, "skill://kb/") {
				t.Fatalf("file URI %q does not name its server", f.URI)
			}
		}
		uris = append(uris, e.URI)
	}
	if strings.Join(uris, " ") != "skill://kb/pdf-processing/SKILL.md skill://kb/tampered/SKILL.md" {
		t.Fatalf("skills = %v", uris)
	}
	if n := kb.TotalReads(); n != 0 {
		t.Fatalf("listing read %d files", n)
	}
	got, err := mcp.CallCustomMethod[*skillGetParams, *skillGetResult](ctx, h.cs, "skills/get", &skillGetParams{URI: "skill://kb/pdf-processing/SKILL.md"})
	if err != nil || !strings.Contains(string(got.Skill), `"skill://kb/pdf-processing/SKILL.md"`) {
		t.Fatalf("skills/get: %v %v", got, err)
	}
	read := func(uri string) (string, error) {
		res, err := h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil {
			return "", err
		}
		return res.Contents[0].Text, nil
	}
	if text, err := read("skill://kb/pdf-processing/SKILL.md"); err != nil || text != hostile.SkillMD(good) {
		t.Fatalf("SKILL.md: %q %v", text, err)
	}
	if text, err := read("skill://kb/pdf-processing/references/FORMS.md"); err != nil || text != "the forms" {
		t.Fatalf("FORMS.md: %q %v", text, err)
	}
	for _, uri := range []string{"skill://kb/pdf-processing/secret.md", "skill://kb/tampered/SKILL.md", "skill://mail/pdf-processing/SKILL.md", "skill://pdf-processing/SKILL.md"} {
		if text, err := read(uri); err == nil {
			t.Errorf("%s was read: %q", uri, text)
		}
	}
	if res := h.call(t, "mail__send", nil); !res.IsError || !strings.Contains(text(res), `"kb -> mail"`) {
		t.Fatalf("mail__send after a skill was read: %s", text(res))
	}
}
