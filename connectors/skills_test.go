package connectors

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
)

var pdfSkill = hostile.SkillSpec{
	Path:        "pdf-processing",
	Description: "Extract, fill, and assemble PDF documents",
	Body:        "Skill body.\n",
	Files:       map[string]string{"references/FORMS.md": "Supporting content.\n"},
}

// skillConnector connects to srv in process.
func skillConnector(t *testing.T, srv *hostile.SkillServer) *Connector {
	t.Helper()
	c := mustNew(t, Options{Config: Config{Name: "skills"}, NewTransport: inProcess(t, srv.Server)})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// listOne lists the server's skills and returns the one at uri.
func listOne(t *testing.T, c *Connector, uri string) *Skill {
	t.Helper()
	skills, err := c.ListSkills(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skills {
		if s.URI == uri {
			return s
		}
	}
	t.Fatalf("skill %s not listed among %d", uri, len(skills))
	return nil
}

func TestLoadSkillVerifiesAndReadsOnlySkillMD(t *testing.T) {
	srv := hostile.NewSkillServer(0, pdfSkill)
	c := skillConnector(t, srv)
	ctx := testCtx(t)
	s := listOne(t, c, hostile.SkillURI("pdf-processing"))
	if n := srv.TotalReads(); n != 0 {
		t.Fatalf("connect and list read %d files; skills must not be prefetched", n)
	}
	if s.Name() != "pdf-processing" || s.Description() != pdfSkill.Description {
		t.Errorf("entry name %q description %q", s.Name(), s.Description())
	}
	loaded, err := c.LoadSkill(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if string(loaded.Content) != hostile.SkillMD(pdfSkill) {
		t.Errorf("content %q", loaded.Content)
	}
	if len(loaded.Files) != 2 {
		t.Errorf("files %v", loaded.Files)
	}
	reads := srv.Reads()
	if reads[s.URI] != 1 || srv.TotalReads() != 1 {
		t.Errorf("loading read %v; want SKILL.md once and nothing else", reads)
	}
	forms := "skill://pdf-processing/references/FORMS.md"
	data, err := c.ReadSkillFile(ctx, s, forms)
	if err != nil || string(data) != "Supporting content.\n" {
		t.Errorf("ReadSkillFile = %q, %v", data, err)
	}
}

func TestLoadSkillRefusesTampering(t *testing.T) {
	for _, tc := range []struct {
		tamper hostile.Tamper
		want   []string
	}{
		{hostile.TamperDigest, []string{"digest mismatch", "the listing says sha256:", "content with sha256:"}},
		{hostile.TamperSize, []string{"size mismatch", "the listing says", "bytes, the server sent"}},
		{hostile.TamperFrontmatter, []string{`field "description" differs`, hostile.TamperedDescription, pdfSkill.Description}},
	} {
		t.Run(string(tc.tamper), func(t *testing.T) {
			sp := pdfSkill
			sp.Tamper = tc.tamper
			srv := hostile.NewSkillServer(0, sp)
			c := skillConnector(t, srv)
			s := listOne(t, c, hostile.SkillURI("pdf-processing"))
			loaded, err := c.LoadSkill(testCtx(t), s)
			if loaded != nil {
				t.Fatalf("tampered skill loaded: %q", loaded.Content)
			}
			var se *SkillError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want a *SkillError", err, err)
			}
			if se.Server != "skills" || se.Skill != s.URI || se.File != s.URI {
				t.Errorf("error names server %q skill %q file %q", se.Server, se.Skill, se.File)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "Skill body") {
				t.Errorf("error quotes the refused file: %q", err)
			}
			if reads := srv.Reads(); len(reads) != 1 || reads[s.URI] != 1 {
				t.Errorf("reads %v; want SKILL.md once, and never the other files", reads)
			}
		})
	}
}

func TestSkillEntryRefusedBeforeReading(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec hostile.SkillSpec
		want string
	}{
		{"too many files", hostile.SkillSpec{Path: "big", Description: "d", ExtraFiles: MaxSkillFiles}, "more than the 512 a skill may have"},
		{"too many bytes", hostile.SkillSpec{Path: "big", Description: "d", ExtraFiles: 2, ExtraSize: MaxSkillBytes / 2}, "more than 16777216 bytes"},
		{"dynamic", hostile.SkillSpec{Path: "dyn", Description: "d", Dynamic: true}, `"dynamic"`},
		{"name not the last segment", hostile.SkillSpec{Path: "acme/tool", Name: "other", Description: "d"}, `differs from the last segment "tool"`},
		{"bad name", hostile.SkillSpec{Path: "Bad--Name", Name: "Bad--Name", Description: "d"}, "is not valid"},
		{"empty description", hostile.SkillSpec{Path: "nodesc"}, "1 to 1024 characters"},
		{"long description", hostile.SkillSpec{Path: "longdesc", Description: strings.Repeat("x", 1025)}, "1 to 1024 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := hostile.NewSkillServer(0, tc.spec)
			c := skillConnector(t, srv)
			s := listOne(t, c, hostile.SkillURI(tc.spec.Path))
			_, err := c.LoadSkill(testCtx(t), s)
			var se *SkillError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a *SkillError saying %q", err, tc.want)
			}
			if n := srv.TotalReads(); n != 0 {
				t.Errorf("%d files read of a refused skill", n)
			}
		})
	}
}

func TestReadSkillFileRefusesUnlisted(t *testing.T) {
	sp := pdfSkill
	sp.Unlisted = map[string]string{"secret.md": "not in the listing"}
	srv := hostile.NewSkillServer(0, sp)
	c := skillConnector(t, srv)
	s := listOne(t, c, hostile.SkillURI("pdf-processing"))
	for _, uri := range []string{"skill://pdf-processing/secret.md", "skill://pdf-processing/../other/SKILL.md", "file:///etc/passwd"} {
		data, err := c.ReadSkillFile(testCtx(t), s, uri)
		if data != nil || err == nil || !strings.Contains(err.Error(), "does not list this file") {
			t.Errorf("%s: %q, %v; want a refusal", uri, data, err)
		}
	}
	if n := srv.TotalReads(); n != 0 {
		t.Errorf("%d reads; unlisted files must never be read", n)
	}
}

func TestListSkillsPaginatesAndKeepsSameNames(t *testing.T) {
	specs := []hostile.SkillSpec{
		{Path: "a/pdf", Description: "one"}, {Path: "b/pdf", Description: "two"}, {Path: "c", Description: "three"},
	}
	srv := hostile.NewSkillServer(1, specs...)
	c := skillConnector(t, srv)
	skills, err := c.ListSkills(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(skills) != 3 || skills[0].Name() != "pdf" || skills[1].Name() != "pdf" {
		t.Fatalf("got %d skills over pages of 1: %v", len(skills), skills)
	}
	got, err := c.GetSkill(testCtx(t), hostile.SkillURI("b/pdf"))
	if err != nil || got.Description() != "two" {
		t.Errorf("GetSkill = %v, %v", got, err)
	}
	if _, err := c.GetSkill(testCtx(t), hostile.SkillURI("nope")); kindOf(t, err) != KindProtocol {
		t.Errorf("unknown skill: %v", err)
	}
	if srv.TotalReads() != 0 {
		t.Errorf("listing read files")
	}
}

func TestListSkillsWithoutExtension(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "plain", Version: "1"}, nil)
	c := mustNew(t, Options{Config: Config{Name: "plain"}, NewTransport: inProcess(t, s)})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.OffersSkills(testCtx(t)); ok || err != nil {
		t.Errorf("OffersSkills = %v, %v", ok, err)
	}
	if _, err := c.ListSkills(testCtx(t)); !errors.Is(err, ErrNoSkills) {
		t.Errorf("ListSkills: %v, want ErrNoSkills", err)
	}
}

func TestParseFrontmatter(t *testing.T) {
	entry := map[string]any{"name": "x", "license": nil, "n": 1.0, "when": "2024-01-02", "tags": []any{"a", "b"}, "nested": map[string]any{"k": true}}
	md := "\ufeff---\r\nname: x\nn: 0x1\nwhen: 2024-01-02\ntags: [a, b]\nnested: {k: yes}\n--- \nbody\n"
	fm, err := parseFrontmatter([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	// "yes" is a string in YAML 1.2, so nested.k differs: and only it.
	if d := frontmatterDiff(fm, entry); d != `field "nested" differs: SKILL.md has {"k":"yes"}, the listing has {"k":true}` {
		t.Errorf("diff %q", d)
	}
	for _, bad := range []string{"no frontmatter\n", "---\nname: x\n", "---\n- a\n---\n", "---\na: &a [1]\nb: *a\na: 2\n---\n"} {
		if _, err := parseFrontmatter([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// A billion laughs stays within the node budget.
	var b strings.Builder
	b.WriteString("---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString(strings.Replace("aN: &aN [*aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP]\n", "N", string(rune('0'+i)), 2))
		s := b.String()
		b.Reset()
		b.WriteString(strings.ReplaceAll(s, "aP", "a"+string(rune('0'+i-1))))
	}
	b.WriteString("---\n")
	if _, err := parseFrontmatter([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("alias bomb: %v", err)
	}
}

// go-sdk caches reads for the ttlMs the server gives (protocol
// 2026-07-28) and cannot be told not to: a refused file is then replayed
// from the cache, and the refusal says so.
func TestSkillReadCacheReplayIsNamed(t *testing.T) {
	sp := pdfSkill
	sp.Tamper = hostile.TamperDigest
	srv := hostile.NewSkillServer(0, sp)
	srv.ReadTTLMs = 60000
	// Stateless: go-sdk serves protocol 2026-07-28 only so.
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv.Server }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(hs.Close)
	c := mustNew(t, Options{Config: Config{Name: "skills", URL: hs.URL, Transport: TransportStreamableHTTP}})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	s := listOne(t, c, hostile.SkillURI("pdf-processing"))
	for range 2 {
		_, err := c.LoadSkill(ctx, s)
		if err == nil || !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(err.Error(), "cached for 60000 ms") {
			t.Fatalf("error %v; want a digest mismatch that names the cache", err)
		}
	}
	if n := srv.Reads()[s.URI]; n != 1 {
		t.Errorf("the server saw %d reads; go-sdk was expected to replay the second from its cache", n)
	}
}

// A listing over mediator's bounds is refused whole, and no page after the
// bound is asked for.
func TestListSkillsRefusesTooMany(t *testing.T) {
	specs := make([]hostile.SkillSpec, maxSkills+1)
	for i := range specs {
		specs[i] = hostile.SkillSpec{Path: fmt.Sprintf("s%d", i), Description: "d"}
	}
	srv := hostile.NewSkillServer(100, specs...)
	c := skillConnector(t, srv)
	_, err := c.ListSkills(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "more than 1000 skills") {
		t.Fatalf("error %v", err)
	}
	if n := srv.SkillRequests(); n != maxSkills/100+1 {
		t.Errorf("%d pages asked for; want %d", n, maxSkills/100+1)
	}
}
