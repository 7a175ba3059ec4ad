package commands_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// skillsServer serves srv over loopback streamable HTTP.
func skillsServer(t *testing.T, srv *hostile.SkillServer) string {
	t.Helper()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv.Server }, nil))
	t.Cleanup(hs.Close)
	return hs.URL
}

var cliSkill = hostile.SkillSpec{
	Path:        "pdf-processing",
	Description: "Extract, fill, and assemble PDF documents",
	Body:        "# PDF\nUse \x1b]52;c;ZXZpbA==\x07the forms.\n",
	Files:       map[string]string{"references/FORMS.md": "Supporting content.\n"},
}

func TestSkillsListAndLoad(t *testing.T) {
	e := newTestEnv(t)
	good := hostile.NewSkillServer(0, cliSkill)
	other := cliSkill
	other.Description = "Other PDF skill"
	dyn := hostile.SkillSpec{Path: "live", Description: "Changes all the time", Dynamic: true}
	second := hostile.NewSkillServer(0, other, dyn)
	e.writeConfig("servers:\n  docs:\n    url: " + skillsServer(t, good) + "\n  more:\n    url: " + skillsServer(t, second) + "\n")

	r := e.mustRun("", "skills")
	for _, want := range []string{
		"SERVER  SKILL           FILES    DESCRIPTION",
		"docs    pdf-processing  2        Extract, fill, and assemble PDF documents",
		"more    pdf-processing  2        Other PDF skill",
		"more    live            refused  " + `its resources are "dynamic": the files carry no size or digest`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("skills lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.mustRun("", "skills", "more", "--json")
	var rows []struct {
		Server, Name, URI string
		Loadable          bool
		Files             []struct{ URI, Digest string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 || rows[0].Server != "more" || !rows[0].Loadable || len(rows[0].Files) != 2 || rows[1].Loadable {
		t.Errorf("skills --json: %v\n%s", err, r.stdout)
	}
	if good.TotalReads()+second.TotalReads() != 0 {
		t.Fatalf("listing read files: %v %v", good.Reads(), second.Reads())
	}

	r = e.mustRun("", "skill", "docs", "pdf-processing")
	if r.stdout != "---\nname: pdf-processing\ndescription: Extract, fill, and assemble PDF documents\n---\n# PDF\nUse the forms.\n" {
		t.Errorf("skill printed %q; want SKILL.md without the escape sequence", r.stdout)
	}
	if !strings.Contains(r.stderr, `skill skill://pdf-processing/SKILL.md of server "docs": SKILL.md matches its listing`) {
		t.Errorf("stderr %q", r.stderr)
	}
	r = e.mustRun("", "skill", "docs", "pdf-processing", "--json")
	var loaded struct {
		Server, URI, Content string
		Files                []struct{ URI string }
		Provenance           []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &loaded); err != nil || loaded.Content != hostile.SkillMD(cliSkill) || len(loaded.Files) != 2 || loaded.Provenance[0] != "docs" {
		t.Errorf("skill --json: %v\n%s", err, r.stdout)
	}
	if reads := good.Reads(); len(reads) != 1 {
		t.Errorf("reads %v; only SKILL.md may be read", reads)
	}

	r = e.mustRun("", "skill", "docs", "pdf-processing", "--file", "references/FORMS.md")
	if r.stdout != "Supporting content.\n" {
		t.Errorf("--file printed %q", r.stdout)
	}
	r = e.run("", "skill", "docs", "pdf-processing", "--file", "references/FORM.md")
	expectCode(t, r, 2, "unlisted file")
	if !strings.Contains(r.stderr, `did you mean "references/FORMS.md"?`) {
		t.Errorf("unlisted file: %s", r.stderr)
	}

	r = e.run("", "skill", "docs", "pdf-procesing")
	expectCode(t, r, 2, "unknown skill")
	if !strings.Contains(r.stderr, `did you mean "pdf-processing"?`) {
		t.Errorf("unknown skill: %s", r.stderr)
	}
	r = e.run("", "skill", "more", "live")
	expectCode(t, r, 3, "dynamic skill")
}

func TestSkillTamperedIsRefused(t *testing.T) {
	for _, tamper := range []hostile.Tamper{hostile.TamperDigest, hostile.TamperSize, hostile.TamperFrontmatter} {
		t.Run(string(tamper), func(t *testing.T) {
			e := newTestEnv(t)
			sp := cliSkill
			sp.Body = "Skill body, a canary: " + canaryKey + "\n"
			sp.Tamper = tamper
			srv := hostile.NewSkillServer(0, sp)
			e.writeConfig("servers:\n  docs:\n    url: " + skillsServer(t, srv) + "\n")
			r := e.run("", "skill", "docs", "pdf-processing")
			expectCode(t, r, 3, "tampered skill")
			if r.stdout != "" || !strings.Contains(r.stderr, "skill skill://pdf-processing/SKILL.md: file skill://pdf-processing/SKILL.md:") {
				t.Errorf("stdout %q\nstderr %q", r.stdout, r.stderr)
			}
			if len(srv.Reads()) != 1 {
				t.Errorf("reads %v", srv.Reads())
			}
		})
	}
}
