package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

const localSecret = "local-secret-Zq7Wd2Px9Lk4"

type textIn struct {
	Text string `json:"text"`
}

// localOrch is a real orchestrator over an in-process go-sdk server
// "notes" (echo, fail) that audits into dir.
func localOrch(t *testing.T, dir string) *orchestrator.Orchestrator {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "notes"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail"}, func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no notes today"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "snap"}, func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{
			Content: []mcp.Content{
				&mcp.ImageContent{MIMEType: "image/png", Data: []byte("png " + localSecret)},
				&mcp.ImageContent{MIMEType: "image/png", Data: []byte("plain png")},
			},
			StructuredContent: map[string]any{localSecret: "v " + localSecret},
		}, nil, nil
	})
	o, err := orchestrator.New(orchestrator.Options{
		Servers: []orchestrator.ServerConfig{{
			Config:       connectors.Config{Name: "notes", Timeout: 5 * time.Second},
			NewTransport: orchestrator.InProcess(srv),
		}},
		AuditPath: filepath.Join(dir, "audit.jsonl"),
		PinDir:    filepath.Join(dir, "pins"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// serveLocal starts ServeLocal on a socket in a fresh private dir and
// returns an HTTP client dialing it and the identity served.
func serveLocal(t *testing.T, o *orchestrator.Orchestrator, red *credentials.Redactor) (*http.Client, Identity, string) {
	t.Helper()
	dir := privateDir(t)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("servers: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := IdentityOf(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	sock := SocketPath("", dir)
	ln, err := ListenLocal(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeLocal(ctx, ln, o, LocalOptions{Identity: id, Redactor: red}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeLocal: %v", err)
		}
	})
	return unixClient(sock), id, sock
}

// privateDir is a temp dir of this user's alone, as a state dir is.
func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func post(t *testing.T, c *http.Client, id Identity, path string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://daemon"+path, bytes.NewReader(b))
	id.SetHeaders(req.Header)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func TestLocalCall(t *testing.T) {
	dir := t.TempDir()
	o := localOrch(t, dir)
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(localSecret))
	c, id, sock := serveLocal(t, o, red)

	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v, mode %v; want 0600", sock, err, fi.Mode())
	}

	var resp CallResponse
	code := post(t, c, id, LocalPathCall, CallRequest{Server: "notes", Tool: "echo", Arguments: json.RawMessage(`{"text":"hi ` + localSecret + `"}`)}, &resp)
	if code != 200 || resp.Error != nil || resp.AuditError != nil || resp.Result == nil {
		t.Fatalf("call: %d %+v", code, resp)
	}
	text := resp.Result.Result.Content[0].(*mcp.TextContent).Text
	if strings.Contains(text, localSecret) || !strings.HasPrefix(text, "echo: hi ") {
		t.Errorf("secret not masked in the result: %q", text)
	}
	if resp.Result.Server != "notes" || resp.Result.CallID == "" || !resp.Result.Orchestrator().Provenance.Has("notes") {
		t.Errorf("result: %+v", resp.Result)
	}
	// The daemon's orchestrator audited the call before answering.
	rep, err := orchestrator.VerifyAuditFile(filepath.Join(dir, "audit.jsonl"), nil)
	if err != nil || rep.Records != 1 {
		t.Errorf("audit after one call: %d records, %v", rep.Records, err)
	}

	// A tool's error result is a result; an unknown tool an error with
	// its kind and suggestions, classified as the orchestrator's own.
	resp = CallResponse{}
	post(t, c, id, LocalPathCall, CallRequest{Server: "notes", Tool: "fail"}, &resp)
	if resp.Error != nil || resp.Result == nil || !resp.Result.Result.IsError {
		t.Errorf("error result: %+v", resp)
	}
	resp = CallResponse{}
	post(t, c, id, LocalPathCall, CallRequest{Server: "notes", Tool: "ech", Arguments: json.RawMessage(`{"text":"x"}`)}, &resp)
	_, want := o.Call(context.Background(), "notes", "ech", map[string]any{"text": "x"})
	err = resp.Error.Err()
	var oe *orchestrator.Error
	if resp.Result != nil || err == nil || err.Error() != want.Error() || !errors.As(err, &oe) || oe.Kind != orchestrator.KindUnknownTool || len(oe.Suggestions) == 0 {
		t.Errorf("unknown tool: %+v, %v; want %v", resp, err, want)
	}

	// Binary blocks holding a secret are filled with SecretFill, at their
	// length; the others are untouched; texts and keys are masked.
	resp = CallResponse{}
	post(t, c, id, LocalPathCall, CallRequest{Server: "notes", Tool: "snap"}, &resp)
	if resp.Error != nil || resp.Result == nil {
		t.Fatalf("snap: %+v", resp)
	}
	img := resp.Result.Result.Content[0].(*mcp.ImageContent).Data
	if len(img) != len("png "+localSecret) || string(img[:4]) != SecretFill {
		t.Errorf("an image holding a secret came as %q", img)
	}
	if plain := resp.Result.Result.Content[1].(*mcp.ImageContent).Data; string(plain) != "plain png" {
		t.Errorf("an image without a secret came as %q", plain)
	}
	if b, _ := json.Marshal(resp.Result.Result.StructuredContent); strings.Contains(string(b), localSecret) || !strings.Contains(string(b), "v [REDACTED]") {
		t.Errorf("structured content: %s", b)
	}

	var tools ToolsResponse
	post(t, c, id, LocalPathTools, ToolsRequest{Server: "notes"}, &tools)
	if tools.Error != nil || len(tools.Tools) != 3 || tools.Tools[0].Tool == nil {
		t.Errorf("tools: %+v", tools)
	}
}

func TestLocalRefusesAnotherConfig(t *testing.T) {
	dir := t.TempDir()
	o := localOrch(t, dir)
	c, id, _ := serveLocal(t, o, nil)
	other := id
	other.ConfigSHA256 = strings.Repeat("0", 64)
	var we WireError
	if code := post(t, c, other, LocalPathCall, CallRequest{Server: "notes", Tool: "echo", Arguments: json.RawMessage(`{"text":"x"}`)}, &we); code != http.StatusConflict {
		t.Fatalf("another config's call: %d %+v", code, we)
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.jsonl")); err == nil {
		rep, _ := orchestrator.VerifyAuditFile(filepath.Join(dir, "audit.jsonl"), nil)
		if rep.Records != 0 {
			t.Errorf("a refused request was called: %d records", rep.Records)
		}
	}
}

func TestLocalBadRequest(t *testing.T) {
	o := localOrch(t, t.TempDir())
	c, id, _ := serveLocal(t, o, nil)
	for _, body := range []string{`{`, `{"server":"notes","bogus":1}`, `{"server":"notes","tool":"echo","arguments":[1]}`} {
		req, _ := http.NewRequest(http.MethodPost, "http://daemon"+LocalPathCall, strings.NewReader(body))
		id.SetHeaders(req.Header)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %s: %d %s", body, resp.StatusCode, b)
		}
	}
}

func TestListenLocalRefusesAnotherUID(t *testing.T) {
	sock := filepath.Join(privateDir(t), "d.sock")
	// A listener that wants another uid than this process's: the peer
	// check must close the connection unanswered.
	ln, err := listenLocal(sock, os.Getuid()+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	resp, err := unixClient(sock).Get("http://daemon/")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a peer of another uid was answered: %s", resp.Status)
	}
}

func TestListenLocalRefusesAnOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ListenLocal(filepath.Join(dir, "d.sock"), nil)
	if err == nil || !strings.Contains(err.Error(), "open to other users (mode 0755)") {
		t.Fatalf("socket in a 0755 directory: %v", err)
	}
	// A file that is not a socket is never removed.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "d.sock")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenLocal(path, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("socket path holding a file: %v", err)
	}
	// A live listener is not replaced; a stale socket is.
	os.Remove(path)
	ln, err := ListenLocal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ListenLocal(path, nil); err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("second listener: %v", err)
	}
	ln.(*peerListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := ListenLocal(path, nil)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
}

// secret-spans answers where the CLI's own texts hold a secret the daemon
// knows, as byte ranges of those texts: a text without one has none, and
// the answer's bytes never hold the secret; another config's request is
// refused.
func TestLocalSecretSpans(t *testing.T) {
	o := localOrch(t, t.TempDir())
	red := credentials.NewRedactor()
	red.Add(credentials.NewSecret(localSecret))
	c, id, _ := serveLocal(t, o, red)
	texts := []string{"nothing", "token " + localSecret, localSecret + "," + localSecret}
	b, _ := json.Marshal(SpansRequest{Texts: texts})
	req, _ := http.NewRequest(http.MethodPost, "http://daemon"+LocalPathSecretSpans, bytes.NewReader(b))
	id.SetHeaders(req.Header)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), localSecret) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got SpansResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	n := len(localSecret)
	want := [][]credentials.Span{nil, {{Start: 6, End: 6 + n, Form: "plain"}}, {{Start: 0, End: n, Form: "plain"}, {Start: n + 1, End: 2*n + 1, Form: "plain"}}}
	if len(got.Spans) != len(want) {
		t.Fatalf("spans = %v, want %v", got.Spans, want)
	}
	for i := range want {
		if !slices.Equal(got.Spans[i], want[i]) {
			t.Errorf("spans of %q = %v, want %v", texts[i], got.Spans[i], want[i])
		}
	}
	other := id
	other.StateDir += "-other"
	var we WireError
	if code := post(t, c, other, LocalPathSecretSpans, SpansRequest{Texts: texts}, &we); code != http.StatusConflict {
		t.Errorf("another config's request: %d %+v", code, we)
	}
}
