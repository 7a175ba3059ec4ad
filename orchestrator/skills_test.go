package orchestrator_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

var pdfSkill = hostile.SkillSpec{
	Path:        "pdf-processing",
	Description: "Extract, fill, and assemble PDF documents",
	Body:        "Skill body.\n",
	Files:       map[string]string{"references/FORMS.md": "Supporting content.\n"},
}

type skillAuditLine struct {
	Server     string   `json:"server"`
	Tool       string   `json:"tool"`
	Method     string   `json:"method"`
	CallID     string   `json:"call_id"`
	Outcome    string   `json:"outcome"`
	ErrorClass string   `json:"error_class"`
	Error      string   `json:"error"`
	Sources    []string `json:"sources"`
}

func readSkillAudit(t *testing.T, path string) []skillAuditLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []skillAuditLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l skillAuditLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// Same-name skills on two servers are both listed, each loaded from its
// own server, with that server's provenance.
func TestSkillsOfTwoServersNeverShadow(t *testing.T) {
	ctx := testContext(t)
	alpha := pdfSkill
	beta := pdfSkill
	beta.Description = "Beta's PDF skill"
	sa, sb := hostile.NewSkillServer(0, alpha), hostile.NewSkillServer(0, beta)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{
		inProcessServer("alpha", sa.Server), inProcessServer("beta", sb.Server),
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	o.Connect(ctx)
	infos, err := o.Skills(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Server != "alpha" || infos[1].Server != "beta" || infos[0].Entry.URI != infos[1].Entry.URI {
		t.Fatalf("skills %+v; want pdf-processing of alpha and of beta", infos)
	}
	if sa.TotalReads()+sb.TotalReads() != 0 {
		t.Fatal("listing read skill files")
	}
	sk, err := o.LoadSkill(ctx, "beta", "pdf-processing", orchestrator.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sk.Content) != hostile.SkillMD(beta) || sk.Server != "beta" {
		t.Errorf("loaded %q from %q", sk.Content, sk.Server)
	}
	if !sk.Provenance.Has("beta") || sk.Provenance.Has("alpha") {
		t.Errorf("provenance %v", sk.Provenance.Servers())
	}
	if sa.TotalReads() != 0 || sb.Reads()[hostile.SkillURI("pdf-processing")] != 1 || sb.TotalReads() != 1 {
		t.Errorf("reads alpha %v beta %v; want beta's SKILL.md once", sa.Reads(), sb.Reads())
	}
	// By URI: skills/get.
	if sk, err = o.LoadSkill(ctx, "alpha", hostile.SkillURI("pdf-processing"), orchestrator.Provenance{}); err != nil || sk.Entry.Description() != alpha.Description {
		t.Errorf("load by URI: %v, %v", sk, err)
	}
	syncAudit(t, o)
	lines := readSkillAudit(t, auditPath)
	if len(lines) != 4 {
		t.Fatalf("audit %+v; want skills/get and resources/read per load", lines)
	}
	want := []skillAuditLine{
		{Server: "beta", Tool: "pdf-processing", Method: "skills/get", Outcome: orchestrator.OutcomeOK},
		{Server: "beta", Tool: hostile.SkillURI("pdf-processing"), Method: "resources/read", Outcome: orchestrator.OutcomeOK},
		{Server: "alpha", Tool: hostile.SkillURI("pdf-processing"), Method: "skills/get", Outcome: orchestrator.OutcomeOK},
		{Server: "alpha", Tool: hostile.SkillURI("pdf-processing"), Method: "resources/read", Outcome: orchestrator.OutcomeOK},
	}
	for i, w := range want {
		l := lines[i]
		if l.Server != w.Server || l.Tool != w.Tool || l.Method != w.Method || l.Outcome != w.Outcome {
			t.Errorf("audit[%d] = %+v, want %+v", i, l, w)
		}
	}
	if lines[0].CallID != lines[1].CallID {
		t.Errorf("one load's records have call IDs %q and %q", lines[0].CallID, lines[1].CallID)
	}
}

func TestLoadSkillRefusesTamperedAndAuditsIt(t *testing.T) {
	for _, tamper := range []hostile.Tamper{hostile.TamperDigest, hostile.TamperSize, hostile.TamperFrontmatter} {
		t.Run(string(tamper), func(t *testing.T) {
			ctx := testContext(t)
			sp := pdfSkill
			sp.Tamper = tamper
			srv := hostile.NewSkillServer(0, sp)
			auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
			o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{inProcessServer("docs", srv.Server)}})
			sk, err := o.LoadSkill(ctx, "docs", "pdf-processing", orchestrator.Provenance{})
			if sk != nil {
				t.Fatalf("tampered skill loaded: %q", sk.Content)
			}
			oe := asError(t, err, orchestrator.KindSkillRejected)
			if oe.Usage() || !strings.Contains(err.Error(), `server "docs": skill skill://pdf-processing/SKILL.md: file skill://pdf-processing/SKILL.md:`) {
				t.Errorf("error %q", err)
			}
			if reads := srv.Reads(); len(reads) != 1 {
				t.Errorf("reads %v; FORMS.md must never be read", reads)
			}
			syncAudit(t, o)
			lines := readSkillAudit(t, auditPath)
			if len(lines) != 2 || lines[1].Method != "resources/read" || lines[1].Outcome != orchestrator.OutcomeError || lines[1].ErrorClass != "skill-rejected" {
				t.Errorf("audit %+v", lines)
			}
		})
	}
}

func TestLoadSkillUnknownOrAmbiguousName(t *testing.T) {
	ctx := testContext(t)
	srv := hostile.NewSkillServer(0,
		hostile.SkillSpec{Path: "a/pdf", Description: "one"}, hostile.SkillSpec{Path: "b/pdf", Description: "two"},
		hostile.SkillSpec{Path: "spreadsheet", Description: "three"})
	o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
		inProcessServer("docs", srv.Server),
		inProcessServer("weather", newTestServer(serverOpts{name: "weather"}).Server),
	}})
	_, err := o.LoadSkill(ctx, "docs", "pdf", orchestrator.Provenance{})
	if oe := asError(t, err, orchestrator.KindUnknownSkill); !oe.Usage() || !strings.Contains(err.Error(), "skill://a/pdf/SKILL.md, skill://b/pdf/SKILL.md") {
		t.Errorf("ambiguous name: %q", err)
	}
	_, err = o.LoadSkill(ctx, "docs", "spreadsheat", orchestrator.Provenance{})
	if oe := asError(t, err, orchestrator.KindUnknownSkill); len(oe.Suggestions) != 1 || oe.Suggestions[0] != "spreadsheet" {
		t.Errorf("unknown name: %q, suggestions %v", err, oe.Suggestions)
	}
	_, err = o.LoadSkill(ctx, "weather", "pdf", orchestrator.Provenance{})
	if asError(t, err, orchestrator.KindUnknownSkill); !strings.Contains(err.Error(), "does not offer skills") {
		t.Errorf("server without skills: %q", err)
	}
	if _, err := o.Skills(ctx, "weather"); err == nil {
		t.Error("listing a server without skills succeeded")
	}
	if srv.TotalReads() != 0 {
		t.Errorf("reads %v", srv.Reads())
	}
}

// Fail closed: when the audit log cannot be written, nothing is asked.
func TestLoadSkillRefusedWithoutAudit(t *testing.T) {
	ctx := testContext(t)
	srv := hostile.NewSkillServer(0, pdfSkill)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.Mkdir(auditPath, 0o700); err != nil {
		t.Fatal(err)
	}
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{inProcessServer("docs", srv.Server)}})
	_, err := o.LoadSkill(ctx, "docs", "pdf-processing", orchestrator.Provenance{})
	asError(t, err, orchestrator.KindAudit)
	if srv.SkillRequests() != 0 || srv.TotalReads() != 0 {
		t.Errorf("%d skills requests and %d reads sent without an audit log", srv.SkillRequests(), srv.TotalReads())
	}
}

// A skill's other files are read one at a time, when asked for, and only
// if the entry lists them.
func TestReadSkillFile(t *testing.T) {
	ctx := testContext(t)
	sp := pdfSkill
	sp.Unlisted = map[string]string{"secret.md": "not listed"}
	srv := hostile.NewSkillServer(0, sp)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newOrchestrator(t, orchestrator.Options{AuditPath: auditPath, Servers: []orchestrator.ServerConfig{inProcessServer("docs", srv.Server)},
		Policy: orchestrator.Policy{Flows: []orchestrator.Flow{{From: "mail", To: "docs"}}}})
	forms := "skill://pdf-processing/references/FORMS.md"
	for _, file := range []string{"references/FORMS.md", forms} {
		sk, err := o.ReadSkillFile(ctx, "docs", "pdf-processing", file, orchestrator.ProvenanceOf("mail"))
		if err != nil {
			t.Fatal(err)
		}
		if sk.File != forms || string(sk.Content) != "Supporting content.\n" || !sk.Provenance.Has("docs") || !sk.Provenance.Has("mail") {
			t.Errorf("%s: file %q content %q provenance %v", file, sk.File, sk.Content, sk.Provenance.Servers())
		}
	}
	// A request carrying data from a server that may not flow here is not sent.
	if _, err := o.ReadSkillFile(ctx, "docs", "pdf-processing", "references/FORMS.md", orchestrator.ProvenanceOf("crm")); err == nil {
		t.Error("a read carrying crm's data reached docs without crm -> docs")
	} else {
		asError(t, err, orchestrator.KindFlowRefused)
	}
	_, err := o.ReadSkillFile(ctx, "docs", "pdf-processing", "secret.md", orchestrator.Provenance{})
	if oe := asError(t, err, orchestrator.KindUnknownSkill); !oe.Usage() || !strings.Contains(err.Error(), "lists no file skill://pdf-processing/secret.md, so it is not read") {
		t.Errorf("unlisted file: %q", err)
	}
	if reads := srv.Reads(); len(reads) != 1 || reads[forms] != 2 {
		t.Errorf("reads %v; want FORMS.md twice and nothing else", reads)
	}
	syncAudit(t, o)
	lines := readSkillAudit(t, auditPath)
	if len(lines) != 7 || lines[1].Tool != forms || lines[1].Method != "resources/read" || lines[4].ErrorClass != "flow-refused" || lines[6].Outcome != orchestrator.OutcomeRefused {
		t.Errorf("audit %+v", lines)
	}
}
