package flow

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "format", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestGraphRender(t *testing.T) {
	for _, file := range []string{"rain-reminders", "team-digest"} {
		f, err := Load(filepath.Join("testdata", "format", file+".flow.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		g := BuildGraph(f)
		var m, d bytes.Buffer
		if err := g.WriteMermaid(&m); err != nil {
			t.Fatal(err)
		}
		if err := g.WriteDOT(&d); err != nil {
			t.Fatal(err)
		}
		golden(t, file+".mmd", m.Bytes())
		golden(t, file+".dot", d.Bytes())
	}
}

func TestGraphModel(t *testing.T) {
	f, err := Load("testdata/format/rain-reminders.flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := BuildGraph(f)
	if strings.Join(g.Servers, ",") != "weather,calendar" {
		t.Errorf("servers %v", g.Servers)
	}
	var e *GraphEdge
	for _, x := range g.Edges {
		if x.From == "forecast" && x.To == "remind" {
			e = x
		}
	}
	if e == nil || !e.CrossServer() || strings.Join(e.FromServers, ",") != "weather" || e.ToServer != "calendar" {
		t.Fatalf("forecast -> remind edge %+v", e)
	}
	want := map[FieldFlow]bool{
		{From: "location", To: "title"}: true, {From: "date", To: "start"}: true,
		{From: "location", To: "idempotency_key"}: true, {From: "date", To: "idempotency_key"}: true,
		{From: "precipitation_probability", To: "if"}: true, {From: "items", To: "for_each"}: true,
	}
	for _, ff := range e.Fields {
		if !want[ff] {
			t.Errorf("unexpected field flow %v", ff)
		}
		delete(want, ff)
	}
	for ff := range want {
		t.Errorf("missing field flow %v", ff)
	}
	if got := e.label(", "); got != "location → title, date → start, date, location → idempotency_key" {
		t.Errorf("label %q", got)
	}
}

func TestGraphEscapesNames(t *testing.T) {
	f, err := Parse("f.flow.yaml", []byte(header+`steps:
  - id: end
    call: {server: 'we"ird', tool: 'a<b>'}
`))
	if err != nil {
		t.Fatal(err)
	}
	var m, d bytes.Buffer
	g := BuildGraph(f)
	_ = g.WriteMermaid(&m)
	_ = g.WriteDOT(&d)
	if strings.Contains(m.String(), "\n  end[") || strings.Contains(m.String(), `we"ird`) || strings.Contains(m.String(), "a<b>") {
		t.Errorf("mermaid not escaped:\n%s", m.String())
	}
	if !strings.Contains(d.String(), `label="server: we\"ird"`) {
		t.Errorf("dot not escaped:\n%s", d.String())
	}
}
