package orchestrator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

// notesSession is one mediator process on pinDir talking to a RugPull.
func notesSession(t *testing.T, pinDir string, r *hostile.RugPull) *orchestrator.Orchestrator {
	return newOrchestrator(t, orchestrator.Options{PinDir: pinDir, LockDir: filepath.Join(filepath.Dir(pinDir), "locks"),
		Servers: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "notes", Timeout: 5 * time.Second}, NewTransport: r.Dial()}}})
}

// A server that changes its tools between the review and the accept gets
// nothing accepted: what gets pinned is what was reviewed, or nothing.
func TestAcceptRefusesWhatWasNotReviewed(t *testing.T) {
	ctx := testContext(t)
	pinDir := filepath.Join(t.TempDir(), "pins")
	r := hostile.NewRugPull()
	notesSession(t, pinDir, r).Tools(ctx, "notes") // trusted on first use

	r.Pull(hostile.ChangeDescription)
	o := notesSession(t, pinDir, r)
	reviewed, err := o.ReviewTools(ctx, "notes", "")
	if err != nil || len(reviewed.Changes) != 1 {
		t.Fatalf("ReviewTools = %+v, %v", reviewed, err)
	}
	before, err := os.ReadFile(filepath.Join(pinDir, "notes.json"))
	if err != nil {
		t.Fatal(err)
	}

	r.Pull(hostile.ChangeInputSchema) // after the user looked, before they accept
	_, err = o.AcceptTools(ctx, "notes", orchestrator.Accept{Digest: reviewed.Digest})
	if e := asError(t, err, orchestrator.KindReviewStale); !strings.Contains(e.Error(), "nothing was accepted") || !strings.Contains(e.Error(), reviewed.Digest) {
		t.Errorf("stale accept: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(pinDir, "notes.json"))
	if !bytes.Equal(before, after) {
		t.Errorf("the pins changed although nothing was accepted")
	}
	_, err = o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{"folder": "x"})
	asError(t, err, orchestrator.KindToolChanged)
	if r.Calls() != 0 {
		t.Fatalf("the changed tool was called")
	}

	// Reviewed again, the new definition (with its api_key argument) can
	// be accepted, and it is what gets pinned.
	again, err := o.ReviewTools(ctx, "notes", "")
	if err != nil || !strings.Contains(string(again.Changes[0].After), "api_key") {
		t.Fatalf("second review = %+v, %v", again, err)
	}
	if _, err := o.AcceptTools(ctx, "notes", orchestrator.Accept{Digest: again.Digest}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{"folder": "x"}); err != nil {
		t.Errorf("accepted tool refused: %v", err)
	}
}

// A server whose tools change on every listing can never have them
// accepted: no review ever matches what it offers next.
func TestAcceptRefusesAShapeShifter(t *testing.T) {
	ctx := testContext(t)
	pinDir := filepath.Join(t.TempDir(), "pins")
	r := hostile.NewRugPull()
	notesSession(t, pinDir, r).Tools(ctx, "notes")
	r.PullOnEveryList()
	o := notesSession(t, pinDir, r)
	for range 3 {
		reviewed, err := o.ReviewTools(ctx, "notes", hostile.RugPullTool)
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.AcceptTools(ctx, "notes", orchestrator.Accept{Digest: reviewed.Digest, Tool: hostile.RugPullTool})
		asError(t, err, orchestrator.KindReviewStale)
	}
	_, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{})
	asError(t, err, orchestrator.KindToolChanged)
}

// Every field a host shows a user or a model reads is pinned: changing
// any of them alone gets the tool refused until the change is accepted.
func TestEveryShownFieldIsPinned(t *testing.T) {
	for _, c := range []hostile.Change{hostile.ChangeTitle, hostile.ChangeMeta, hostile.ChangeIcons, hostile.ChangeAnnotationTitle, hostile.ChangeDescription, hostile.ChangeInputSchema} {
		t.Run(string(c), func(t *testing.T) {
			ctx := testContext(t)
			pinDir := filepath.Join(t.TempDir(), "pins")
			r := hostile.NewRugPull()
			notesSession(t, pinDir, r).Tools(ctx, "notes")

			r.Pull(c)
			o := notesSession(t, pinDir, r)
			_, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{})
			asError(t, err, orchestrator.KindToolChanged)
			if r.Calls() != 0 {
				t.Fatalf("the changed tool was called")
			}
			if _, err := o.Call(ctx, "notes", hostile.RugPullSteady, map[string]any{}); err != nil {
				t.Errorf("the unchanged tool was refused: %v", err)
			}
			reviewed, err := o.ReviewTools(ctx, "notes", hostile.RugPullTool)
			if err != nil || len(reviewed.Changes) != 1 || !strings.Contains(string(reviewed.Changes[0].After), "change 1") {
				t.Fatalf("the review should show the changed %s: %+v, %v", c, reviewed, err)
			}
			if _, err := o.AcceptTools(ctx, "notes", orchestrator.Accept{Digest: reviewed.Digest, Tool: hostile.RugPullTool}); err != nil {
				t.Fatal(err)
			}
			if _, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{}); err != nil {
				t.Errorf("accepted tool refused: %v", err)
			}
			if st := pinStates(t, notesSession(t, pinDir, r), "notes")[hostile.RugPullTool]; st != orchestrator.PinPinned {
				t.Errorf("next session: %s is %q", hostile.RugPullTool, st)
			}
		})
	}
}

// Pins written by the mediator before per-server files and before title,
// _meta and icons were pinned (testdata/pins-v2.json, written by mediator
// at a1e2774 for a hostile.RugPull as "notes" and hostile.ManyTools(3) as
// "other") keep
// holding: nothing has to be accepted again. Each tool's pin is completed
// with the fields it lacked while the tool still matches the old pin over
// the fields that pin covered, and the tools that had such fields are
// named in a warning, since those fields are trusted as first seen now.
// A tool that changed in a field the old pin covered is refused.
func TestLegacyPinsKeepHolding(t *testing.T) {
	ctx := testContext(t)
	old, err := os.ReadFile(filepath.Join("testdata", "pins-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	pinDir, legacy := writeLegacy(t, old)
	notes, other := hostile.NewRugPull(), hostile.NewManyTools(3)
	var logs bytes.Buffer
	// One handler for every session: it serializes their writes (a
	// session still open logs when its server's tools change).
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	open := func(notes *hostile.RugPull) *orchestrator.Orchestrator {
		return newOrchestrator(t, orchestrator.Options{PinDir: pinDir, LegacyPinFile: legacy, LockDir: filepath.Join(filepath.Dir(pinDir), "locks"),
			Logger: logger,
			Servers: []orchestrator.ServerConfig{
				{Config: connectors.Config{Name: "notes", Timeout: 5 * time.Second}, NewTransport: notes.Dial()},
				{Config: connectors.Config{Name: "other", Timeout: 5 * time.Second}, NewTransport: other.Dial()},
			}})
	}
	o := open(notes)
	if _, err := o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{}); err != nil {
		t.Fatalf("a tool pinned by the older mediator is refused: %v", err)
	}
	if _, err := os.Stat(legacy); err == nil {
		t.Errorf("the old pin file is still in place")
	}
	if _, err := os.Stat(legacy + ".migrated"); err != nil {
		t.Errorf("the old pin file was not kept aside: %v", err)
	}
	for _, server := range []string{"notes", "other"} {
		fi, err := os.Stat(filepath.Join(pinDir, server+".json"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("pin file of %s: %v %v", server, fi, err)
		}
	}
	// Only "notes" was used: "other" keeps its legacy pins until it is.
	var f struct {
		Tools map[string]struct {
			Legacy     bool
			Definition map[string]any
		}
	}
	data, _ := os.ReadFile(filepath.Join(pinDir, "notes.json"))
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if p := f.Tools[hostile.RugPullTool]; p.Legacy || p.Definition["title"] != "Read notes" || p.Definition["_meta"] == nil {
		t.Errorf("the pin of %s was not completed with title and _meta: %+v", hostile.RugPullTool, p)
	}
	data, _ = os.ReadFile(filepath.Join(pinDir, "other.json"))
	if !strings.Contains(string(data), `"legacy": true`) {
		t.Errorf("other's pins should still be the migrated legacy ones:\n%s", data)
	}
	log := logs.String()
	if !strings.Contains(log, "moved the tool pins into a file per server") ||
		!strings.Contains(log, "did not cover the title, _meta and icons") || !strings.Contains(log, "tools="+hostile.RugPullTool) {
		t.Errorf("the upgrade should be reported, naming %s (which has a title and _meta) and not ping (which has neither):\n%s", hostile.RugPullTool, log)
	}
	if _, err := o.Call(ctx, "other", "tool00001", map[string]any{}); err != nil {
		t.Errorf("other's tool refused: %v", err)
	}

	// From now on a title change is caught.
	notes.Pull(hostile.ChangeTitle)
	_, err = open(notes).Call(ctx, "notes", hostile.RugPullTool, map[string]any{})
	asError(t, err, orchestrator.KindToolChanged)

	// A legacy pin whose tool changed in a field it covered is refused, and
	// the review shows the old definition against the new.
	pinDir, legacy = writeLegacy(t, old)
	changed := hostile.NewRugPull()
	changed.Pull(hostile.ChangeDescription)
	o = open(changed)
	_, err = o.Call(ctx, "notes", hostile.RugPullTool, map[string]any{})
	asError(t, err, orchestrator.KindToolChanged)
	r, err := o.ReviewTools(ctx, "notes", hostile.RugPullTool)
	if err != nil || len(r.Changes) != 1 || !strings.Contains(string(r.Changes[0].Before), `"description": "Read the user's notes."`) {
		t.Fatalf("review of a changed legacy pin: %+v, %v", r, err)
	}
}

// A server offering 50,000 tools is refused by the cap (1,000 unless
// MaxTools says otherwise) without its listing being fetched past the cap
// or anything of it pinned, and another server's pins and calls are
// unaffected.
func TestTooManyToolsRefused(t *testing.T) {
	ctx := testContext(t)
	pinDir := filepath.Join(t.TempDir(), "pins")
	big := hostile.NewManyTools(50_000)
	weather := newTestServer(serverOpts{name: "weather"})
	o := newOrchestrator(t, orchestrator.Options{PinDir: pinDir, Servers: []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: "big", Timeout: 20 * time.Second}, NewTransport: big.Dial()},
		inProcessServer("weather", weather.Server),
	}})
	_, err := o.Tools(ctx, "big")
	e := asError(t, err, orchestrator.KindTooManyTools)
	for _, want := range []string{"more than 1000 tools", "servers.big.max_tools", "refused rather than cut short"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("the error should say %q: %v", want, e)
		}
	}
	// Pages of 1000: noticing 1001 tools takes two pages, not fifty.
	if big.Pages() != 2 || big.Sent() != 2000 {
		t.Errorf("the listing was fetched past the cap: %d pages, %d tools", big.Pages(), big.Sent())
	}
	if _, err := os.Stat(filepath.Join(pinDir, "big.json")); err == nil {
		t.Errorf("the refused server's tools were pinned")
	}
	if _, err := o.Call(ctx, "big", "tool00001", map[string]any{}); err == nil {
		t.Errorf("a call to the refused server went through")
	}
	if _, err := o.Call(ctx, "weather", "echo", map[string]any{"text": "x"}); err != nil {
		t.Errorf("the other server's call failed: %v", err)
	}
	all, err := o.Tools(ctx, "")
	if len(all) != 5 || !errors.Is(err, e) && !strings.Contains(fmt.Sprint(err), "more than 1000 tools") {
		t.Errorf("Tools(\"\") = %d tools, %v; want weather's 5 and big's error", len(all), err)
	}
	if st := o.Servers()[0]; st.Name != "big" || st.ToolsErr == nil {
		t.Errorf("Servers()[0] = %+v; want big with its tools error", st)
	}
	// The refusal holds for the session: the calls above fetched nothing more.
	if big.Pages() != 2 {
		t.Errorf("the refused listing was fetched again: %d pages in all", big.Pages())
	}
	entries, _ := os.ReadDir(pinDir)
	if len(entries) != 1 || entries[0].Name() != "weather.json" {
		t.Errorf("pin dir holds %v, want weather.json only", entries)
	}
}

// The cap is per server and configurable: exactly MaxTools tools are
// taken, one more is refused.
func TestMaxToolsConfigurable(t *testing.T) {
	ctx := testContext(t)
	for _, c := range []struct {
		offered int
		ok      bool
	}{{5, true}, {6, false}} {
		o := newOrchestrator(t, orchestrator.Options{Servers: []orchestrator.ServerConfig{
			{Config: connectors.Config{Name: "few", Timeout: 5 * time.Second}, NewTransport: hostile.NewManyTools(c.offered).Dial(), MaxTools: 5},
		}})
		tools, err := o.Tools(ctx, "few")
		switch {
		case c.ok && (err != nil || len(tools) != 5):
			t.Errorf("%d tools under a cap of 5: %d listed, %v", c.offered, len(tools), err)
		case !c.ok:
			if e := asError(t, err, orchestrator.KindTooManyTools); !strings.Contains(e.Error(), "more than 5 tools") {
				t.Errorf("%d tools under a cap of 5: %v", c.offered, err)
			}
		}
	}
	_, err := orchestrator.New(orchestrator.Options{Servers: []orchestrator.ServerConfig{{Config: connectors.Config{Name: "few"}, MaxTools: -1}}})
	asError(t, err, orchestrator.KindInvalidConfig)
}
