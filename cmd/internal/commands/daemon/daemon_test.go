package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/serve"
)

// Canaries: the server's key and the keyring passphrase, which must never
// show up in the daemon's logs.
const (
	canaryKey        = "canary-daemon-key-Vq3Xw8Lp"
	canaryPassphrase = "canary-daemon-pass-Hd2Kf9"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// home is an isolated config, keyring (the file backend, its passphrase
// in a file as systemd's LoadCredential hands it over) and state dir,
// with one go-sdk server that wants canaryKey.
type home struct {
	t         *testing.T
	dir, cfg  string
	vars      map[string]string
	serverURL string
	// hold's calls wait for release; started says one came.
	release chan struct{}
	started chan struct{}
	// watch lets the daemon watch the config and workflow files; off,
	// it reloads only when a test sends on running.reload. newWatcher
	// replaces the daemon's.
	watch      bool
	newWatcher func(*slog.Logger) (*configWatcher, error)
	// temporal, when set, is the Factory's Temporal hooks (as
	// mediator-temporal has them).
	temporal *cmdutil.Temporal
}

func newHome(t *testing.T) *home {
	t.Helper()
	dir := t.TempDir()
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte(canaryPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &home{t: t, dir: dir, cfg: filepath.Join(dir, "config.yaml"), vars: map[string]string{
		"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "config"), "XDG_STATE_HOME": filepath.Join(dir, "state"),
		credentials.PassphraseFileEnv: pass,
	}}
	h.vars["MEDIATOR_CONFIG"] = h.cfg
	h.release, h.started = make(chan struct{}), make(chan struct{}, 8)
	s := mcp.NewServer(&mcp.Implementation{Name: "echo-server", Version: "1.0.0"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "hold", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			h.started <- struct{}{}
			select {
			case <-h.release:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	mh := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != canaryKey {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.serverURL = srv.URL
	if err := os.MkdirAll(filepath.Join(dir, "flows"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "say.flow.yaml"), []byte(sayFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "hold.flow.yaml"), []byte(strings.ReplaceAll(sayFlow, "echo}", "hold}")), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// write writes the config with daemonBlock.
func (h *home) write(daemonBlock string) { h.writeServers("", daemonBlock) }

// writeServers writes the config with more servers (entries under
// servers:) and daemonBlock.
func (h *home) writeServers(more, daemonBlock string) {
	h.t.Helper()
	if err := os.WriteFile(h.cfg, []byte(h.body(more, daemonBlock)), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// body is the config with more servers and daemonBlock.
func (h *home) body(more, daemonBlock string) string {
	return fmt.Sprintf(`credentials: {backend: file, file_dir: %s}
state_dir: %s
servers:
  echo:
    url: %s
    auth: {type: api-key, header: X-API-Key, secret: key}
`+more+`serve:
  http: {auth: none}
daemon:
  listen: 127.0.0.1:0
  workflows_dir: %s
%s`, filepath.Join(h.dir, "keyring"), filepath.Join(h.dir, "state"), h.serverURL, filepath.Join(h.dir, "flows"), daemonBlock)
}

func (h *home) factory(stderr io.Writer) *cmdutil.Factory {
	ios := &iostreams.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: stderr, TermErrOut: stderr, StdinFd: -1}
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := h.vars[k]; return v, ok })
	f.Temporal = h.temporal
	return f
}

// storeKey puts the server's key in the file keyring, whose passphrase
// comes from MEDIATOR_KEYRING_PASSPHRASE_FILE.
func (h *home) storeKey() {
	h.t.Helper()
	f := h.factory(io.Discard)
	cfg, err := f.Config()
	if err != nil {
		h.t.Fatal(err)
	}
	store, err := f.Secrets(h.t.Context(), cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := store.Set("echo", "key", credentials.NewSecret(canaryKey)); err != nil {
		h.t.Fatal(err)
	}
}

const sayFlow = `version: 1
name: say
inputs:
  text: {type: string}
steps:
  - id: say
    call: {server: echo, tool: echo}
    with: {text: ${ .inputs.text }}
`

// apiToken reaches every workflow of the daemon's API.
const apiToken = "mdt_test-token-for-the-daemon-api"

// api calls the daemon's API with the token, decoding the JSON answer.
func api(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if s, ok := out.(*string); ok {
			*s = string(b)
		} else if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// running is `mediator daemon` in process.
type running struct {
	stderr   *lockedBuffer
	url      chan string
	done     chan error
	cancel   context.CancelFunc
	reload   chan os.Signal
	reloaded chan error
}

func (h *home) start(args ...string) *running {
	h.t.Helper()
	r := &running{stderr: &lockedBuffer{}, url: make(chan string, 1), done: make(chan error, 1),
		reload: make(chan os.Signal, 1), reloaded: make(chan error, 1)}
	f := h.factory(r.stderr)
	cmd := NewCmdDaemon(f, func(ctx context.Context, o *Options) error {
		o.Listening = func(u string) { r.url <- u }
		o.Reload = r.reload
		o.Reloaded = func(err error) { r.reloaded <- err }
		o.noWatch = !h.watch
		o.newWatcher = h.newWatcher
		return daemonRun(ctx, o)
	})
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	r.cancel = cancel
	h.t.Cleanup(cancel)
	go func() { r.done <- cmd.ExecuteContext(ctx) }()
	return r
}

func (r *running) baseURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-r.url:
		return u
	case err := <-r.done:
		t.Fatalf("the daemon ended: %v\n%s", err, r.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("the daemon never listened:\n%s", r.stderr.String())
	}
	return ""
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("daemon: %v\n%s", err, r.stderr.String())
	}
	for _, c := range []string{canaryKey, canaryPassphrase} {
		if strings.Contains(r.stderr.String(), c) {
			t.Errorf("the daemon logged the secret %q:\n%s", c, r.stderr.String())
		}
	}
}

// logLines parses stderr as JSON lines, failing on any other line.
func (r *running) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// The daemon serves /healthz and /mcp (a host lists and calls the
// server's tool through it, the key coming from the keyring opened with
// the passphrase file), logs JSON with no secret, refuses a second
// daemon for the state directory naming its pid, and stops on cancel.
func TestDaemonServes(t *testing.T) {
	h := newHome(t)
	h.write(fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken(apiToken)))
	h.storeKey()
	r := h.start()
	base := r.baseURL(t)

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}

	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + serve.MCPPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": "hello " + canaryKey}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("echo__echo: %+v", res)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.HasPrefix(text, "hello ") || strings.Contains(text, canaryKey) {
		t.Errorf("echo__echo answered %q: want the key masked", text)
	}
	cs.Close()

	// A run through the API, and the metrics it leaves.
	var sub struct{ ID, Status string }
	if code := api(t, "POST", base+"/v1/runs", apiToken, `{"workflow": "say", "inputs": {"text": "hi"}}`, &sub); code/100 != 2 || sub.ID == "" {
		t.Fatalf("POST /v1/runs: %d %+v", code, sub)
	}
	if got := waitStatus(t, base, sub.ID, "succeeded", "failed", "blocked"); got != "succeeded" {
		t.Fatalf("run %s: %s\n%s", sub.ID, got, r.stderr.String())
	}
	var metrics string
	if code := api(t, "GET", base+"/metrics", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d", code)
	}
	api(t, "GET", base+"/metrics", apiToken, "", &metrics)
	for _, want := range []string{`mediator_runs_total{state="succeeded",workflow="say"} 1`, `mediator_step_duration_seconds_count{server="echo",status="succeeded"} 1`, `mediator_tool_call_duration_seconds_count{server="echo"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A second daemon for the same state directory.
	second := h.start()
	select {
	case err := <-second.done:
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("another mediator daemon (pid %d) is running for the state directory", os.Getpid())) {
			t.Errorf("second daemon: %v", err)
		}
		var ee *cmdutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
			t.Errorf("second daemon's exit: %v", err)
		}
	case <-second.url:
		t.Fatal("a second daemon started for the same state directory")
	}

	r.stop(t)
	lines := r.logLines(t)
	if len(lines) == 0 || lines[0]["level"] == nil {
		t.Errorf("logs: %v", lines)
	}
}

// SIGHUP reloads the schedules; a config with problems is refused, the
// old one stays, and every problem is logged at its position.
func TestDaemonReload(t *testing.T) {
	h := newHome(t)
	h.write("  schedules:\n    - {workflow: say, cron: \"0 6 * * *\"}\n")
	h.storeKey()
	r := h.start()
	r.baseURL(t)

	h.write("  schedules:\n    - {workflow: say, cron: \"0 6 * *\"}\n    - {workflow: hold, cron: \"@daily\", missed: sometimes}\n")
	r.reload <- nil
	if err := <-r.reloaded; err == nil {
		t.Fatal("a config with problems was taken")
	}
	logs := r.stderr.String()
	for _, want := range []string{`daemon.schedules[0].cron: \"0 6 * *\" is not a cron expression`, `daemon.schedules[1].missed: unknown value \"sometimes\"`, "config reload refused; the old config stays"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, `"config reloaded"`) {
		t.Errorf("logged a reload that did not happen:\n%s", logs)
	}

	h.write("  schedules:\n    - {workflow: say, cron: \"0 6 * * *\"}\n    - {workflow: rain, cron: \"@daily\"}\n")
	r.reload <- nil
	if err := <-r.reloaded; err == nil || !strings.Contains(r.stderr.String(), `daemon.schedules[1].workflow: no workflow file rain.flow.yaml`) {
		t.Fatalf("a schedule of a missing workflow file was taken: %v\n%s", err, r.stderr.String())
	}

	h.write("  schedules:\n    - {workflow: say, cron: \"0 6 * * *\"}\n    - {workflow: hold, cron: \"@daily\"}\n")
	r.reload <- nil
	if err := <-r.reloaded; err != nil {
		t.Fatalf("a good config was refused: %v", err)
	}
	var reloaded map[string]any
	for _, l := range r.logLines(t) {
		if l["msg"] == "config reloaded" {
			reloaded = l
		}
	}
	if reloaded == nil || reloaded["schedules"] != float64(2) {
		t.Errorf("reload log: %v\n%s", reloaded, r.stderr.String())
	}
	r.stop(t)
}

// A non-loopback address is refused without TLS, in the daemon's words.
func TestDaemonRefusesOpenListen(t *testing.T) {
	h := newHome(t)
	h.write(fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken("x")))
	r := h.start("--listen", "0.0.0.0:0")
	err := <-r.done
	if err == nil || !strings.Contains(err.Error(), "daemon.tls is not set") || strings.Contains(err.Error(), "serve.http.tls") {
		t.Errorf("err = %v", err)
	}
}

// token create prints the token once on stdout and the api_tokens lines
// (its hash and scope) on stderr.
func TestTokenCreate(t *testing.T) {
	var out, errOut bytes.Buffer
	ios := &iostreams.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, StdinFd: -1}
	f := cmdutil.New(ios, "test", func(string) (string, bool) { return "", false })
	cmd := NewCmdTokenCreate(f, nil)
	cmd.SetArgs([]string{"ci", "--workflows", "rain-*"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	want := "daemon:\n  api_tokens:\n    - name: \"ci\"\n      token_sha256: " + serve.HashToken(token) + "\n      workflows: [\"rain-*\"]\n"
	if !strings.HasPrefix(token, "mdt_") || !strings.Contains(errOut.String(), want) || strings.Contains(errOut.String(), token) {
		t.Errorf("stdout %q\nstderr:\n%s\nwant:\n%s", token, errOut.String(), want)
	}
	cmd = NewCmdTokenCreate(f, nil)
	cmd.SetArgs([]string{"ci"})
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--workflows GLOB") {
		t.Errorf("no scope: %v", err)
	}
}

// The passphrase file's problems are errors that name the file and the
// variable and never quote what the file holds; a wrong one says where
// it came from.
func TestPassphraseFile(t *testing.T) {
	h := newHome(t)
	h.write("")
	h.storeKey()
	pass := h.vars[credentials.PassphraseFileEnv]
	open := func() error {
		f := h.factory(io.Discard)
		cfg, err := f.Config()
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Secrets(t.Context(), cfg)
		return err
	}
	for _, tc := range []struct {
		name, content string
		want          []string
		is            error
	}{
		{"empty", "\n", []string{pass, credentials.PassphraseFileEnv, "is empty"}, credentials.ErrNoPassphrase},
		{"wrong", "not-the-" + canaryPassphrase + "\n", []string{"wrong passphrase", credentials.PassphraseFileEnv}, credentials.ErrWrongPassphrase},
		{"missing", "", []string{pass, credentials.PassphraseFileEnv}, credentials.ErrNoPassphrase},
	} {
		if tc.name == "missing" {
			os.Remove(pass)
		} else if err := os.WriteFile(pass, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := open()
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.is)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to name %s", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), canaryPassphrase) {
			t.Errorf("%s: the error quotes the file: %v", tc.name, err)
		}
	}
}

// waitStatus polls the run until it reaches one of states.
func waitStatus(t *testing.T, base, id string, states ...string) string {
	t.Helper()
	var info struct{ Status string }
	for range 1500 {
		api(t, "GET", base+"/v1/runs/"+id, apiToken, "", &info)
		for _, s := range states {
			if info.Status == s {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s stayed %s, never %v", id, info.Status, states)
	return ""
}

// SIGTERM with --grace 0 interrupts a run in progress; the next start
// resumes it (its step is safe to call again) and it succeeds.
func TestDaemonGraceAndResume(t *testing.T) {
	h := newHome(t)
	h.write(fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken(apiToken)))
	h.storeKey()
	r := h.start("--grace", "0s")
	base := r.baseURL(t)
	var sub struct{ ID string }
	if code := api(t, "POST", base+"/v1/runs", apiToken, `{"workflow": "hold", "inputs": {"text": "x"}}`, &sub); code/100 != 2 {
		t.Fatalf("POST /v1/runs: %d", code)
	}
	<-h.started
	r.stop(t)
	if !strings.Contains(r.stderr.String(), `"status":"interrupted"`) {
		t.Errorf("the run was not interrupted by the stop:\n%s", r.stderr.String())
	}

	r = h.start()
	base = r.baseURL(t)
	<-h.started
	close(h.release)
	if got := waitStatus(t, base, sub.ID, "succeeded", "failed", "blocked"); got != "succeeded" {
		t.Errorf("after the restart the run %s:\n%s", got, r.stderr.String())
	}
	r.stop(t)
}

// A reload that adds a server keeps /mcp's host sessions: a session
// opened before sees tools/list_changed and calls the new server's tool,
// another's provenance from before the reload still refuses a flow
// after it, a call in flight finishes on the old servers, and the old
// servers are closed once nothing uses them.
func TestDaemonReloadServers(t *testing.T) {
	h := newHome(t)
	h.write("")
	h.storeKey()
	r := h.start()
	base := r.baseURL(t)
	connect := func(opts *mcp.ClientOptions) *mcp.ClientSession {
		t.Helper()
		c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, opts)
		cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + serve.MCPPath}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	call := func(cs *mcp.ClientSession, tool string) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "hi"}})
		if err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, r.stderr.String())
		}
		return res
	}
	changed := make(chan struct{}, 10)
	a := connect(&mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
	b := connect(nil)
	if res := call(b, "echo__echo"); res.IsError { // b has seen echo's data
		t.Fatalf("echo__echo: %+v", res)
	}
	held := make(chan *mcp.CallToolResult, 1)
	heldSession := connect(nil)
	go func() {
		res, _ := heldSession.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo__hold", Arguments: map[string]any{"text": "held"}})
		held <- res
	}()
	<-h.started

	f := h.factory(io.Discard)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Secrets(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set("echo2", "key", credentials.NewSecret(canaryKey)); err != nil {
		t.Fatal(err)
	}
	h.writeServers(fmt.Sprintf("  echo2:\n    url: %s\n    auth: {type: api-key, header: X-API-Key, secret: key}\n", h.serverURL), "")
	r.reload <- nil
	if err := <-r.reloaded; err != nil {
		t.Fatalf("reload: %v\n%s", err, r.stderr.String())
	}
	if !strings.Contains(r.stderr.String(), `"mcp_rebuilt":false`) {
		t.Errorf("/mcp was rebuilt for a change of servers:\n%s", r.stderr.String())
	}
	for offered := false; !offered; {
		select {
		case <-changed:
		case <-time.After(time.Minute):
			t.Fatalf("no tools/list_changed after the reload:\n%s", r.stderr.String())
		}
		tools, err := a.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range tools.Tools {
			offered = offered || tl.Name == "echo2__echo"
		}
	}
	if res := call(a, "echo2__echo"); res.IsError {
		t.Fatalf("echo2__echo on a session opened before the reload: %+v", res)
	}
	if res := call(b, "echo2__echo"); !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "policy.flows") {
		t.Fatalf("echo's data went to echo2 after the reload: %+v", res)
	}
	if strings.Contains(r.stderr.String(), `"server":"echo","state":"closed"`) {
		t.Errorf("the old servers closed under a call in flight:\n%s", r.stderr.String())
	}
	close(h.release)
	if res := <-held; res == nil || res.IsError {
		t.Fatalf("the call in flight over the reload: %+v", res)
	}
	// The first orchestrator's echo session closes (no run used it).
	for range 1000 {
		if strings.Contains(r.stderr.String(), `"server":"echo","state":"closed"`) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.stderr.String(), `"server":"echo","state":"closed"`) {
		t.Errorf("the old servers were not closed:\n%s", r.stderr.String())
	}
	r.stop(t)
}

// SIGTERM with a run's event stream open ends the stream cleanly (the
// chunked body terminated, not the connection cut) and the daemon
// returns: the HTTP server's shutdown does not wait for the stream.
func TestDaemonShutdownEndsEventStreams(t *testing.T) {
	h := newHome(t)
	t.Cleanup(func() { close(h.release) }) // the held call, before its server closes
	h.write(fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken(apiToken)))
	h.storeKey()
	r := h.start("--grace", "0s")
	base := r.baseURL(t)
	var sub struct{ ID string }
	if code := api(t, "POST", base+"/v1/runs", apiToken, `{"workflow": "hold", "inputs": {"text": "x"}}`, &sub); code/100 != 2 {
		t.Fatalf("POST /v1/runs: %d", code)
	}
	<-h.started
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/runs/"+sub.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	// The stream is open once its first event (the run's start) came.
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	r.cancel()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the event stream was cut, not ended: %v (after %q)", err, body)
	}
	if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("daemon: %v\n%s", err, r.stderr.String())
	}
}
