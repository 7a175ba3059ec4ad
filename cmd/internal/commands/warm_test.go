package commands_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/daemon"
)

// warmDaemon serves the daemon's local API for e's config, as `mediator
// daemon` does: one orchestrator over every configured server, the
// keyring open, on the config's socket. calls counts the requests it
// answered (other than the hello every command sends first).
type warmDaemon struct {
	socket string
	calls  atomic.Int64
}

func startWarmDaemon(t *testing.T, e *testEnv) *warmDaemon {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o, err := f.Orchestrator(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := daemon.IdentityOf(cfg.Path, cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	d := &warmDaemon{socket: daemon.SocketPath(cfg.Daemon.Socket, cfg.StateDir)}
	ln, err := daemon.ListenLocal(d.socket, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := daemon.LocalHandler(o, daemon.LocalOptions{Identity: id, Redactor: f.Redactor})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != daemon.LocalPathHello {
			d.calls.Add(1)
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		cancel()
		o.Close()
		f.Close()
	})
	return d
}

// warmCalls are `mediator call` invocations whose every answer class
// the daemon must reproduce: results, a tool's error result, refusals
// (exit 2), an unreachable server (exit 3), and a secret echoed back.
var warmCalls = [][]string{
	{"call", "weather", "echo", "-a", "text=hello"},
	{"call", "weather", "echo", "-a", "text=" + canaryKey},
	{"call", "weather", "say", "--args", `{"text": "key ` + canaryKey + `"}`},
	{"call", "weather", "add", "-a", "a=2", "-a", "b=40", "--json"},
	{"call", "weather", "add", "-a", "a=9007199254740993", "-a", "b=0"},
	{"call", "weather", "fail"},
	{"call", "weather", "ech", "-a", "text=x"},
	{"call", "wether", "echo"},
	{"call", "weather", "add", "-a", "a=two", "-a", "b=1"},
	{"call", "down", "echo"},
}

func TestWarmCallSameAsCold(t *testing.T) {
	e := callEnv(t)
	cold := make([]result, len(warmCalls))
	for i, args := range warmCalls {
		cold[i] = e.run("", args...)
	}
	if cold[0].code != 0 || cold[5].code != 1 || cold[6].code != 2 || cold[9].code != 3 {
		t.Fatalf("the cold answers are not what this test expects: %+v", cold)
	}
	t.Logf("secret echoed: %q", cold[1].stdout)

	d := startWarmDaemon(t, e)
	compare := func(what string, wantCalls int64, extra ...string) {
		t.Helper()
		before := d.calls.Load()
		for i, args := range warmCalls {
			r := e.run("", append(extra, args...)...)
			if r != cold[i] {
				t.Errorf("%s: mediator %s\ngot  exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
					what, strings.Join(args, " "), r.code, r.stdout, r.stderr, cold[i].code, cold[i].stdout, cold[i].stderr)
			}
		}
		if got := d.calls.Load() - before; got != wantCalls {
			t.Errorf("%s: the daemon answered %d requests, want %d", what, got, wantCalls)
		}
	}
	// Through the daemon: every call but the unknown server's (refused
	// by the CLI from its config) reaches it, and add with -a (which
	// reads the tool's schema) makes two requests.
	compare("warm", int64(len(warmCalls))-1+3)
	compare("--no-daemon", 0, "--no-daemon")

	// The daemon's records and the CLI's are one intact audit log.
	t.Log(e.mustRun("", "audit", "verify").stdout)
}

func TestWarmCallNotThroughAnotherConfigsDaemon(t *testing.T) {
	e := callEnv(t)
	d := startWarmDaemon(t, e)
	r := e.mustRun("", "call", "weather", "echo", "-a", "text=hello")
	if d.calls.Load() != 1 {
		t.Fatalf("the daemon of this config was not used: %d requests", d.calls.Load())
	}
	// The config changes: the running daemon serves the old one.
	b, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, append(b, "# changed\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := e.mustRun("", "call", "weather", "echo", "-a", "text=hello")
	if d.calls.Load() != 1 || r2 != r {
		t.Errorf("a daemon of another config: %d requests; %+v, want %+v", d.calls.Load(), r2, r)
	}
}

func TestWarmCallRefusesAnOpenSocket(t *testing.T) {
	e := callEnv(t)
	d := startWarmDaemon(t, e)
	if err := os.Chmod(d.socket, 0o666); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "call", "weather", "echo", "-a", "text=hello")
	expectCode(t, r, 0, "call beside an open socket")
	if d.calls.Load() != 0 {
		t.Errorf("a socket open to other users was used")
	}
	if !strings.Contains(r.stderr, "warning: not using the daemon socket "+d.socket+": "+d.socket+" is open to other users (mode 0666); it must be 0600; working without the daemon") {
		t.Errorf("no warning about the socket: %q", r.stderr)
	}
}

// TestWarmReadSameAsCold: `mediator read` through the daemon prints what
// it prints alone: text masked, --json, a blob that must not be printed
// (exit 2), a blob saved with -o, a blob holding a secret never saved, an
// unknown resource; and a tool's image holding a secret is not saved by
// `mediator call -o` either.
func TestWarmReadSameAsCold(t *testing.T) {
	e := newTestEnv(t)
	srv, s := startServer(t, canaryKey)
	s.AddResource(&mcp.Resource{Name: "note", URI: "test://note"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://note", Text: "a note, key=" + canaryKey}}}, nil
	})
	s.AddResource(&mcp.Resource{Name: "pic", URI: "test://pic"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://pic", MIMEType: "image/png", Blob: []byte("\x89PNG not really")}}}, nil
	})
	s.AddResource(&mcp.Resource{Name: "leak", URI: "test://leak"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://leak", MIMEType: "application/octet-stream", Blob: []byte("bin " + canaryKey)}}}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "snap"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.ImageContent{MIMEType: "image/png", Data: []byte("png " + canaryKey)}}}, nil, nil
	})
	e.writeConfig("servers:\n  test:\n    url: " + srv.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n")
	e.mustRun(canaryKey, "secret", "set", "test", "api-key")

	pic, leak, snap := filepath.Join(e.dir, "pic.png"), filepath.Join(e.dir, "leak.bin"), filepath.Join(e.dir, "snap.png")
	invocations := [][]string{
		{"read", "test", "test://note"},
		{"read", "test", "test://note", "--json"},
		{"read", "test", "test://pic"},
		{"read", "test", "test://pic", "-o", pic},
		{"read", "test", "test://leak", "-o", leak},
		{"read", "test", "test://nothing"},
		{"call", "test", "snap", "-o", snap},
	}
	cold := make([]result, len(invocations))
	for i, args := range invocations {
		cold[i] = e.run("", args...)
	}
	coldPic, err := os.ReadFile(pic)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(pic)
	d := startWarmDaemon(t, e)
	for i, args := range invocations {
		if r := e.run("", args...); r != cold[i] {
			t.Errorf("mediator %s\ngot  exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
				strings.Join(args, " "), r.code, r.stdout, r.stderr, cold[i].code, cold[i].stdout, cold[i].stderr)
		}
	}
	if got := d.calls.Load(); got != int64(len(invocations)) {
		t.Errorf("the daemon answered %d requests, want %d", got, len(invocations))
	}
	if warmPic, err := os.ReadFile(pic); err != nil || !bytes.Equal(warmPic, coldPic) {
		t.Errorf("the blob saved through the daemon: %q, %v; want %q", warmPic, err, coldPic)
	}
	for _, p := range []string{leak, snap} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s holds a secret and was saved", p)
		}
	}
	if cold[4].code != 2 || cold[6].code != 2 {
		t.Errorf("a blob holding a secret: exits %d and %d, want 2", cold[4].code, cold[6].code)
	}
}

// A daemon that accepts and never answers is not waited for: the call is
// made without it, with a warning.
func TestWarmCallPastAHungDaemon(t *testing.T) {
	e := callEnv(t)
	want := e.mustRun("", "call", "weather", "echo", "-a", "text=hello")
	ios, _, _, _ := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	socket := daemon.SocketPath(cfg.Daemon.Socket, cfg.StateDir)
	ln, err := daemon.ListenLocal(socket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, unanswered, until the test ends
		}
	}()
	r := e.run("", "call", "weather", "echo", "-a", "text=hello")
	expectCode(t, r, 0, "a call beside a hung daemon")
	if r.stdout != want.stdout || !strings.Contains(r.stderr, "warning: the daemon on "+socket+" does not answer") {
		t.Errorf("beside a hung daemon: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

// `mediator tools` and `servers` through the daemon list what they list
// alone, with the same exit codes: tools of one server and of all (one
// unreachable, exit 3), --json, an unknown server (refused by the CLI),
// and the servers' states apart from when each state began (the
// daemon's sessions are older).
func TestWarmListingSameAsCold(t *testing.T) {
	e := callEnv(t)
	invocations := [][]string{
		{"tools", "weather"},
		{"tools", "weather", "--json"},
		{"tools"},
		{"tools", "down"},
		{"tools", "wether"},
		{"servers"},
	}
	cold := make([]result, len(invocations))
	for i, args := range invocations {
		cold[i] = e.run("", args...)
	}
	if cold[0].code != 0 || cold[2].code != 3 || cold[3].code != 3 || cold[4].code != 2 || cold[5].code != 3 {
		t.Fatalf("the cold answers are not what this test expects: %+v", cold)
	}
	d := startWarmDaemon(t, e)
	for i, args := range invocations {
		if r := e.run("", args...); r != cold[i] {
			t.Errorf("mediator %s\ngot  exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
				strings.Join(args, " "), r.code, r.stdout, r.stderr, cold[i].code, cold[i].stdout, cold[i].stderr)
		}
	}
	// Each listing but the refused one connects (one request), and the
	// tools listings list (a second).
	if got, want := d.calls.Load(), int64(4*2+1); got != want {
		t.Errorf("the daemon answered %d requests, want %d", got, want)
	}
	// servers --json shows since, which is the daemon's: compare the rest.
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, `"since"`) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	c := e.run("", "--no-daemon", "servers", "--json")
	w := e.run("", "servers", "--json")
	if w.code != c.code || strip(w.stdout) != strip(c.stdout) || w.stderr != c.stderr {
		t.Errorf("servers --json through the daemon:\n%+v\nalone:\n%+v", w, c)
	}
}
