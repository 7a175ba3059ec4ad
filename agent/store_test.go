package agent_test

import (
	"context"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

func entries() []agent.Entry {
	return []agent.Entry{
		{Message: agent.Message{Role: agent.RoleUser, Text: "Weather in\nLisbon?"}},
		{Message: agent.Message{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "c1", Name: "weather__get_forecast", Args: `{"city":"Lisbon"}`}}}},
		{Message: agent.Message{Role: agent.RoleTool, Result: &agent.ToolResult{CallID: "c1", Name: "weather__get_forecast", Text: "sunny"}}, Provenance: orchestrator.ProvenanceOf("weather")},
		{Message: agent.Message{Role: agent.RoleAssistant, Text: "Sunny."}, Provenance: orchestrator.ProvenanceOf("weather")},
	}
}

// A session file reopens with the transcript it was synced to, each
// entry's provenance included; files are the user's alone; Sync appends
// only what is new.
func TestStoreSyncAndOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chat")
	st := agent.Store{Dir: dir}
	l, err := st.Create("openai/fake", []string{"calendar", "weather"})
	if err != nil {
		t.Fatal(err)
	}
	es := entries()
	if err := l.Sync(es[:2]); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(es); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(es); err != nil { // nothing new
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 1+len(es) {
		t.Errorf("file has %d lines, want a header and %d entries:\n%s", n, len(es), data)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, l.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}

	back, err := st.Open(l.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Entries(), es) {
		t.Errorf("reopened entries:\n%+v\nwant\n%+v", back.Entries(), es)
	}
	info := back.Info()
	if info.Model != "openai/fake" || info.Messages != 4 || info.First != "Weather in Lisbon?" ||
		!reflect.DeepEqual(info.Context, []string{"weather"}) || !reflect.DeepEqual(info.Servers, []string{"calendar", "weather"}) {
		t.Errorf("info = %+v", info)
	}
	sess, err := agent.NewSession(agent.Options{Model: nilModel{}, Orchestrator: &orchestrator.Orchestrator{}, Transcript: back.Entries()})
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Provenance().Has("weather") {
		t.Errorf("a session continued from the file does not hold weather: %v", sess.Provenance().Servers())
	}
}

// A cleared transcript is saved as a clear marker, so the file reopens
// with what the conversation holds now, and its provenance is gone.
func TestStoreSyncAfterClear(t *testing.T) {
	st := agent.Store{Dir: t.TempDir()}
	l, err := st.Create("m", nil)
	if err != nil {
		t.Fatal(err)
	}
	es := entries()
	if err := l.Sync(es); err != nil {
		t.Fatal(err)
	}
	// Cleared, then a new message longer than nothing but different.
	now := []agent.Entry{{Message: agent.Message{Role: agent.RoleUser, Text: "new topic"}}}
	if err := l.Sync(now); err != nil {
		t.Fatal(err)
	}
	back, err := st.Open(l.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Entries(), now) {
		t.Errorf("after a clear the file holds %+v, want %+v", back.Entries(), now)
	}
	if in := back.Info(); len(in.Context) != 0 || in.First != "new topic" {
		t.Errorf("info after a clear: %+v", in)
	}
	// A reopened log goes on appending.
	if err := back.Sync(append(now, es[1:]...)); err != nil {
		t.Fatal(err)
	}
	again, err := st.Open(l.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Entries()) != 4 {
		t.Errorf("reopened and appended: %d entries, want 4", len(again.Entries()))
	}
}

// Latest is the session written last; an unknown ID names the closest,
// and an ID that is a path is refused as unknown.
func TestStoreLatestAndUnknown(t *testing.T) {
	st := agent.Store{Dir: t.TempDir()}
	if _, err := st.Latest(); err == nil || !strings.Contains(err.Error(), "no saved chat session") {
		t.Errorf("Latest of an empty store: %v", err)
	}
	a, _ := st.Create("m", nil)
	b, _ := st.Create("m", nil)
	if err := a.Sync(entries()); err != nil {
		t.Fatal(err)
	}
	// a was written last.
	later := a.Info().Updated.Add(1e9)
	if err := os.Chtimes(a.Path(), later, later); err != nil {
		t.Fatal(err)
	}
	l, err := st.Latest()
	if err != nil || l.ID() != a.ID() {
		t.Errorf("Latest = %v, %v; want %s", l, err, a.ID())
	}
	list, err := st.List()
	if err != nil || len(list) != 2 || list[0].ID != a.ID() || list[1].ID != b.ID() {
		t.Errorf("List = %+v, %v", list, err)
	}
	typo := a.ID()[:len(a.ID())-1] + "x"
	if _, err := st.Open(typo); err == nil || !strings.Contains(err.Error(), a.ID()) {
		t.Errorf("Open(%q) = %v, want the closest named", typo, err)
	}
	if _, err := st.Open("../../etc/passwd"); err == nil || !strings.Contains(err.Error(), "no saved chat session") {
		t.Errorf("Open of a path: %v", err)
	}
}

// nilModel is a Model that is never asked: the test only reopens a
// transcript.
type nilModel struct{}

func (nilModel) Stream(context.Context, agent.Request) iter.Seq2[agent.Event, error] {
	return func(func(agent.Event, error) bool) {}
}
func (nilModel) Name() string { return "none/none" }

// With a Redactor the store masks a secret wherever it is in an entry,
// the user's own text included.
func TestStoreRedacts(t *testing.T) {
	const secret = "sk-typed-by-the-user-8Jd3"
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(secret))
	st := agent.Store{Dir: t.TempDir(), Redactor: red}
	l, err := st.Create("m", nil)
	if err != nil {
		t.Fatal(err)
	}
	es := []agent.Entry{
		{Message: agent.Message{Role: agent.RoleUser, Text: "my key is " + secret}},
		{Message: agent.Message{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "c1", Name: "a__b", Args: `{"k":"` + secret + `"}`}}}},
		{Message: agent.Message{Role: agent.RoleTool, Result: &agent.ToolResult{CallID: "c1", Name: "a__b", Text: "echo " + secret}}},
	}
	if err := l.Sync(es); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(es); err != nil { // stable: nothing rewritten
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secret) || strings.Contains(string(data), `"clear"`) || !strings.Contains(string(data), "my key is") {
		t.Errorf("file:\n%s", data)
	}
	if es[0].Text != "my key is "+secret {
		t.Error("Sync changed the caller's entries")
	}
}
