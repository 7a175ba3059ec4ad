package flow

import (
	"bytes"
	"encoding/xml"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// svgElem is a parsed SVG element, enough to check a drawing's structure.
type svgElem struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []svgElem  `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (e *svgElem) attr(name string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (e *svgElem) hasClass(c string) bool {
	v, _ := e.attr("class")
	for _, x := range strings.Fields(v) {
		if x == c {
			return true
		}
	}
	return false
}

// walk calls fn for e and every element under it.
func (e *svgElem) walk(fn func(*svgElem)) {
	fn(e)
	for i := range e.Children {
		e.Children[i].walk(fn)
	}
}

// text is all the character data under e.
func (e *svgElem) text() string {
	var b strings.Builder
	e.walk(func(x *svgElem) { b.WriteString(x.Text) })
	return b.String()
}

// parseSVG parses out strictly, as an XML document with one svg root.
func parseSVG(t *testing.T, out []byte) *svgElem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(out))
	d.Strict = true
	var root svgElem
	if err := d.Decode(&root); err != nil {
		t.Fatalf("not valid XML: %v\n%s", err, out)
	}
	if root.XMLName.Space != "http://www.w3.org/2000/svg" || root.XMLName.Local != "svg" {
		t.Fatalf("root %v", root.XMLName)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || strings.TrimSpace(string(cd)) != "" {
			t.Fatalf("content after the svg element: %v %v", tok, err)
		}
	}
	return &root
}

// stepNodes are the drawing's step nodes by data-step.
func stepNodes(root *svgElem) map[string]*svgElem {
	nodes := map[string]*svgElem{}
	root.walk(func(e *svgElem) {
		if e.XMLName.Local == "g" && e.hasClass("step") {
			id, _ := e.attr("data-step")
			nodes[id] = e
		}
	})
	return nodes
}

func writeSVG(t *testing.T, g *Graph, opts SVGOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := g.WriteSVG(&b, opts); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	_ = g.WriteSVG(&again, opts)
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Fatal("two drawings of the same graph differ")
	}
	return b.Bytes()
}

// checkSteps checks that every step of f has exactly one node.
func checkSteps(t *testing.T, f *Flow, root *svgElem) map[string]*svgElem {
	t.Helper()
	nodes := stepNodes(root)
	count := 0
	root.walk(func(e *svgElem) {
		if e.hasClass("step") {
			count++
		}
	})
	want := len(f.AllSteps())
	if count != want || len(nodes) != want {
		t.Errorf("%d step nodes (%d distinct), want %d", count, len(nodes), want)
	}
	for _, s := range f.AllSteps() {
		if nodes[s.Path] == nil {
			t.Errorf("no node for step %s", s.Path)
		}
	}
	return nodes
}

func TestGraphSVG(t *testing.T) {
	for _, file := range []string{"rain-reminders", "team-digest", "cleanup"} {
		f, err := Load(filepath.Join("testdata", "format", file+".flow.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		out := writeSVG(t, BuildGraph(f), SVGOptions{})
		root := parseSVG(t, out)
		for _, n := range checkSteps(t, f, root) {
			if _, ok := n.attr("data-status"); ok {
				t.Errorf("a status without SVGOptions.Status: %v", n.Attrs)
			}
		}
		golden(t, file+".svg", out)
	}
}

// TestGraphSVGRun draws a run's state: colours, status words and glyphs,
// item counts, details, links, and a legend naming every status.
func TestGraphSVGRun(t *testing.T) {
	f, err := Load("testdata/format/team-digest.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := BuildGraph(f)
	status, items := g.StatusOfRun(map[string]string{
		"roster":               "succeeded",
		"per_member":           "failed",
		"per_member[0]":        "succeeded",
		"per_member[1]":        "failed",
		"per_member[2]":        "skipped",
		"per_member[0]/gather": "succeeded",
		"per_member[1]/gather": "failed",
		"per_member[0]/gather/issues/open_issues": "succeeded",
		"per_member[1]/gather/issues/open_issues": "failed",
		"per_member[0]/gather/notes/recent_notes": "succeeded",
		"per_member[1]/gather/notes/recent_notes": "running",
		"nowhere[0]/x": "failed",
	})
	want := map[string]string{"roster": "succeeded", "per_member": "failed", "per_member/gather": "failed",
		"per_member/gather/issues/open_issues": "failed", "per_member/gather/notes/recent_notes": "running"}
	if len(status) != len(want) {
		t.Errorf("status %v", status)
	}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("status[%s] = %q, want %q", k, status[k], v)
		}
	}
	if c := items["per_member"]; len(items) != 1 || c["succeeded"] != 1 || c["failed"] != 1 || c["skipped"] != 1 {
		t.Errorf("items %v", items)
	}
	status["post"] = "interrupted"
	out := writeSVG(t, g, SVGOptions{
		Status: status, Items: items,
		Detail: map[string]string{"roster": "1.2s", "per_member": "tool_error"},
		Href:   func(id string) string { return "#step-" + id },
	})
	root := parseSVG(t, out)
	nodes := checkSteps(t, f, root)
	for id, st := range map[string]string{"roster": "succeeded", "per_member": "failed", "post": "interrupted"} {
		n := nodes[id]
		if got, _ := n.attr("data-status"); got != st || !n.hasClass("status-"+st) || !strings.Contains(n.text(), st) {
			t.Errorf("node %s: status %q, class %v, text %q; want %s as attribute, class and text", id, got, n.Attrs, n.text(), st)
		}
	}
	if !strings.Contains(nodes["per_member"].text(), "3 items: 1 ✓ 1 ✗ 1 ↷") ||
		!strings.Contains(nodes["per_member"].text(), "3 items: 1 succeeded, 1 failed, 1 skipped") {
		t.Errorf("item counts: %q", nodes["per_member"].text())
	}
	if !strings.Contains(nodes["roster"].text(), "✓ succeeded · 1.2s") {
		t.Errorf("detail: %q", nodes["roster"].text())
	}
	links := 0
	root.walk(func(e *svgElem) {
		if e.XMLName.Local == "a" {
			links++
			if h, _ := e.attr("href"); !strings.HasPrefix(h, "#step-") {
				t.Errorf("link %q", h)
			}
		}
	})
	if links != len(f.AllSteps()) {
		t.Errorf("%d links, want one per step", links)
	}
	var legend string
	root.walk(func(e *svgElem) {
		if e.hasClass("legend") {
			legend = e.text()
		}
	})
	for _, s := range []string{"succeeded", "failed", "running", "skipped", "interrupted", "pending", "data between servers"} {
		if !strings.Contains(legend, s) {
			t.Errorf("legend lacks %q: %q", s, legend)
		}
	}
	if title := root.Children[0]; title.XMLName.Local != "title" || !strings.Contains(title.Text, "team-digest: 6 steps") || !strings.Contains(title.Text, "1 succeeded, 3 failed, 1 running, 1 interrupted") {
		t.Errorf("title %+v", title)
	}
	golden(t, "team-digest-run.svg", out)
}

// TestGraphSVGUses: a sub-flow is a lane of its own, titled as Mermaid
// titles its cluster, its calls naming their servers.
func TestGraphSVGUses(t *testing.T) {
	f := checkRemindMain(t, `finally:
  - id: tell
    call: {server: chat, tool: post}
`)
	out := writeSVG(t, BuildGraph(f), SVGOptions{Status: map[string]string{"fc": "succeeded", "sync": "running", "sync.uses/add": "running"}})
	root := parseSVG(t, out)
	nodes := stepNodes(root)
	for _, id := range []string{"fc", "sync", "sync.uses/add", "sync.uses/ping", "finally/tell"} {
		if nodes[id] == nil {
			t.Errorf("no node %s", id)
		}
	}
	if st, _ := nodes["sync.uses/ping"].attr("data-status"); st != "pending" {
		t.Errorf("a step without a status is %q, want pending", st)
	}
	var lanes []string
	root.walk(func(e *svgElem) {
		if e.hasClass("lane") || e.hasClass("finally") {
			lanes = append(lanes, e.text())
		}
	})
	want := []string{finallyLaneLabel, "steps without a server", "server: weather", "server: chat",
		"sub-flow lib/remind.flow.yaml (remind), used by step sync"}
	if strings.Join(lanes, "|") != strings.Join(want, "|") {
		t.Errorf("lanes %q, want %q", lanes, want)
	}
	if !strings.Contains(nodes["sync.uses/add"].text(), "calendar.create_event") {
		t.Errorf("sub-flow call %q", nodes["sync.uses/add"].text())
	}
	golden(t, "uses.svg", out)
}

// TestGraphSVGHostile: names from a flow file are text, never markup.
func TestGraphSVGHostile(t *testing.T) {
	const evil = `x<y>&"z']]><script>alert(1)</script>`
	f, err := Parse("f.flow.yaml", []byte(`version: 1
name: t
steps:
  - id: a
    call: {server: '`+strings.ReplaceAll(evil, "'", "''")+`', tool: '<b>]]>&amp;'}
  - id: b
    call: {server: plain, tool: t}
    with:
      '`+strings.ReplaceAll(evil, "'", "''")+`': ${ .steps.a.result["k<&\"]]>"] }
`))
	if err != nil {
		t.Fatal(err)
	}
	g := BuildGraph(f)
	g.Name = evil // names are checked when parsed; the graph is drawn as given
	out := writeSVG(t, g, SVGOptions{
		Status: map[string]string{"a": evil},
		Detail: map[string]string{"a": evil},
		Items:  map[string]ItemCounts{"b": {evil: 2}},
		Href:   func(string) string { return `"><script>` },
	})
	root := parseSVG(t, out)
	checkSteps(t, f, root)
	root.walk(func(e *svgElem) {
		if e.XMLName.Local == "script" || e.XMLName.Local == "b" {
			t.Errorf("markup from the flow became an element: %v", e.XMLName)
		}
	})
	s := string(out)
	if strings.Contains(s, "<script") || strings.Contains(s, "]]>") || strings.Contains(s, "<b>") {
		t.Errorf("unescaped:\n%s", s)
	}
	if n := stepNodes(root)["a"]; !n.hasClass("status-other") || !strings.Contains(n.text(), evil) {
		t.Errorf("an unknown status is drawn as other and named as given: %v %q", n.Attrs, n.text())
	}
	if !strings.Contains(root.text(), "x<y>&\"z']]><script>alert(1)</script>") {
		t.Errorf("the names do not round-trip as text: %q", root.text())
	}
}

// TestGraphSVGCycle: a flow that does not validate (steps reading each
// other) is still drawn, each step once.
func TestGraphSVGCycle(t *testing.T) {
	f, err := Parse("f.flow.yaml", []byte(header+`steps:
  - id: a
    call: {server: s, tool: t}
    with: {x: '${ .steps.b.result }'}
  - id: b
    call: {server: s, tool: t}
    with: {x: '${ .steps.a.result }'}
`))
	if err != nil {
		t.Fatal(err)
	}
	checkSteps(t, f, parseSVG(t, writeSVG(t, BuildGraph(f), SVGOptions{})))
}
