package commands_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// serveEnv is a test home with the chat's weather and calendar servers,
// the calendar's key in the file keyring, and a serve block.
type serveEnv struct {
	*testEnv
	servers *chatServers
}

func newServeEnv(t *testing.T, serveBlock string) *serveEnv {
	t.Helper()
	e := &serveEnv{testEnv: newTestEnv(t), servers: startChatServers(t)}
	e.canary = append(e.canary, calendarKey)
	e.write(serveBlock)
	e.mustRun(calendarKey, "secret", "set", "calendar", "api-key")
	return e
}

func (e *serveEnv) write(serveBlock string) {
	e.writeConfig("servers:\n  weather:\n    url: " + e.servers.weather.URL + "\n" +
		"  calendar:\n    url: " + e.servers.calendar.URL + "\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n" + serveBlock)
}

// lockedBuffer is stderr read while the command writes it.
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

// served is a `mediator serve` running in process.
type served struct {
	stderr *lockedBuffer
	code   chan int
	cancel context.CancelFunc
}

// start runs mediator with args in process, stdin from in and stdout to
// out (pipes for --stdio), until the command ends or ctx is canceled.
func (e *testEnv) start(in io.Reader, out io.Writer, args ...string) *served {
	e.t.Helper()
	s := &served{stderr: &lockedBuffer{}, code: make(chan int, 1)}
	ios := &iostreams.IOStreams{In: in, Out: out, RawOut: out, ErrOut: s.stderr, TermErrOut: s.stderr, StdinFd: -1}
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s.cancel = cancel
	go func() { s.code <- commands.Run(ctx, f, args) }()
	e.t.Cleanup(cancel)
	return s
}

// wait returns the exit code, failing the test if a canary was printed.
func (e *testEnv) wait(s *served) int {
	e.t.Helper()
	code := <-s.code
	for _, c := range e.canary {
		if strings.Contains(s.stderr.String(), c) {
			e.t.Errorf("mediator serve printed the secret %q on stderr:\n%s", c, s.stderr.String())
		}
	}
	return code
}

// recorder keeps every byte mediator sent the host.
type recorder struct {
	mu sync.Mutex
	b  bytes.Buffer
	w  io.WriteCloser
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.b.Write(p)
	r.mu.Unlock()
	return r.w.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.String()
}

// The end to end over stdio, in process: the host lists tools,
// calls weather, then tries to send the result to calendar: refused, with
// the policy line to add, and made once the config allows the flow;
// stdout holds only protocol; the calendar's key is in nothing the host
// receives; EOF on stdin ends mediator cleanly.
func TestServeStdio(t *testing.T) {
	t.Run("refused without the flow", func(t *testing.T) { serveStdioChain(t, "", false) })
	t.Run("made with it", func(t *testing.T) {
		serveStdioChain(t, "policy:\n  flows: [\"weather -> calendar\"]\n", true)
	})
}

func serveStdioChain(t *testing.T, configBlock string, allowed bool) {
	e := newServeEnv(t, configBlock)
	cs, s, rec := e.serveStdio()
	names := toolNames(t, cs)
	for _, want := range []string{"weather__get_forecast", "calendar__create_event"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("tools %v lack %s", names, want)
		}
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "weather__get_forecast", Arguments: map[string]any{"city": "Lisbon"}})
	if err != nil || res.IsError || !strings.Contains(resultText(res), "sunny in Lisbon") {
		t.Fatalf("weather__get_forecast: %v %+v", err, res)
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "calendar__create_event", Arguments: map[string]any{"title": "sunny in Lisbon"}})
	if err != nil {
		t.Fatal(err)
	}
	switch got := e.servers.calls(); {
	case allowed && (res.IsError || len(got) != 1):
		t.Errorf("calendar__create_event with weather -> calendar allowed: %q, events %v; want one event made", resultText(res), got)
	case !allowed && (!res.IsError || !strings.Contains(resultText(res), "weather -> calendar")):
		t.Errorf("calendar__create_event after weather: error=%v %q; want refused naming the flow", res.IsError, resultText(res))
	case !allowed && len(got) != 0:
		t.Errorf("the calendar made events %v", got)
	}

	cs.Close() // EOF on mediator's stdin
	if code := e.wait(s); code != 0 {
		t.Errorf("after EOF: exit %d, want 0\nstderr:\n%s", code, s.stderr.String())
	}
	out := rec.String()
	if strings.Contains(out, calendarKey) || strings.Contains(out, canaryPassphrase) {
		t.Error("a secret reached the host")
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var msg struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Errorf("stdout line %d is not a JSON-RPC message: %q", i+1, line)
		}
	}
}

// serveStdio runs `mediator serve --stdio` in process with a go-sdk host
// connected to it; rec keeps every byte mediator sent the host.
func (e *testEnv) serveStdio() (cs *mcp.ClientSession, s *served, rec *recorder) {
	e.t.Helper()
	hostOut, serveIn := io.Pipe()    // host -> mediator
	serveOutR, serveOut := io.Pipe() // mediator -> host
	rec = &recorder{w: serveOut}
	s = e.start(hostOut, rec, "serve", "--stdio")
	c := mcp.NewClient(&mcp.Implementation{Name: "host"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.IOTransport{Reader: serveOutR, Writer: serveIn}, nil)
	if err != nil {
		e.t.Fatalf("connect: %v\nstderr:\n%s", err, s.stderr.String())
	}
	return cs, s, rec
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

var tokenLine = regexp.MustCompile(`token_sha256: ([0-9a-f]{64})`)

// createToken runs `serve token create` and returns the token and the
// config lines it printed.
func (e *testEnv) createToken(name string, args ...string) (token, lines string) {
	e.t.Helper()
	r := e.mustRun("", append([]string{"serve", "token", "create", name}, args...)...)
	token = strings.TrimSpace(r.stdout)
	if strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(token, "mdt_") {
		e.t.Fatalf("stdout is not one token: %q", r.stdout)
	}
	m := tokenLine.FindStringSubmatch(r.stderr)
	sum := sha256.Sum256([]byte(token))
	if m == nil || m[1] != hex.EncodeToString(sum[:]) {
		e.t.Fatalf("stderr does not give the token's SHA-256:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, token) {
		e.t.Errorf("the token is on stderr too")
	}
	i := strings.Index(r.stderr, "serve:\n")
	return token, r.stderr[i:]
}

// endpoint waits for `serve --http` to say where it listens.
func (s *served) endpoint(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`MCP at (\S+)`)
	for range 600 {
		if m := re.FindStringSubmatch(s.stderr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-s.code:
			t.Fatalf("serve ended with %d:\n%s", code, s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("serve never listened:\n%s", s.stderr.String())
	return ""
}

type bearerRT struct {
	token string
	base  http.RoundTripper
	// rec, when set, keeps every response body the host receives.
	rec *lockedBuffer
}

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err == nil && b.rec != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, b.rec), resp.Body}
	}
	return resp, err
}

func connectHTTP(t *testing.T, url, token string, base http.RoundTripper) (*mcp.ClientSession, error) {
	t.Helper()
	return connectRecorded(t, url, bearerRT{token: token, base: base})
}

func connectRecorded(t *testing.T, url string, rt bearerRT) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "host"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rt}}, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// `serve token create` prints a token whose hash it prints; with those
// lines in the config, `serve --http` takes the token, within its scope
// only, refuses a request without it (401, naming the metadata), and
// stops on Ctrl-C.
func TestServeHTTPToken(t *testing.T) {
	e := newServeEnv(t, "")
	token, lines := e.createToken("ci", "--tools", "weather__*")
	e.write(lines)
	s := e.start(strings.NewReader(""), io.Discard, "serve", "--http", "127.0.0.1:0")
	url := s.endpoint(t)

	resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "/.well-known/oauth-protected-resource") {
		t.Errorf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if _, err := connectHTTP(t, url, "mdt_wrong", nil); err == nil {
		t.Error("a wrong token connected")
	}
	received := &lockedBuffer{}
	cs, err := connectRecorded(t, url, bearerRT{token: token, rec: received})
	if err != nil {
		t.Fatalf("connect with the token: %v\n%s", err, s.stderr.String())
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "weather__get_forecast", Arguments: map[string]any{"city": "Oslo"}})
	if err != nil || res.IsError {
		t.Fatalf("weather__get_forecast with the ci token: %v %q", err, resultText(res))
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "calendar__list_events", Arguments: map[string]any{}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), `outside the scope of token "ci"`) {
		t.Errorf("calendar__list_events with a weather__* token: %v %q; want refused by scope", err, resultText(res))
	}
	// A server that echoes another's key: the host gets its error, masked.
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "weather__get_alerts", Arguments: map[string]any{}})
	if err != nil || !res.IsError {
		t.Errorf("weather__get_alerts: %v %+v; want its error", err, res)
	}
	// The host received the forecast and the error, and no key.
	if !strings.Contains(received.String(), "sunny in Lisbon") {
		t.Errorf("the recorder missed the results:\n%s", received.String())
	}
	for _, c := range []string{calendarKey, canaryPassphrase} {
		if strings.Contains(received.String(), c) {
			t.Errorf("the host received the secret %q:\n%s", c, received.String())
		}
	}
	cs.Close()
	s.cancel() // Ctrl-C
	if code := e.wait(s); code != cmdutil.ExitInterrupted {
		t.Errorf("after Ctrl-C: exit %d\n%s", code, s.stderr.String())
	}
}

// Unsafe HTTP setups are refused before anything listens; config errors
// are reported at FILE:LINE:COL.
func TestServeRefusals(t *testing.T) {
	e := newServeEnv(t, "")
	r := e.run("", "serve")
	expectCode(t, r, cmdutil.ExitUsage, "serve without a transport")
	r = e.run("", "serve", "--stdio", "--http")
	expectCode(t, r, cmdutil.ExitUsage, "both transports")

	r = e.run("", "serve", "--http", "127.0.0.1:0")
	expectCode(t, r, cmdutil.ExitUsage, "http without tokens")
	if !strings.Contains(r.stderr, "auth: none") {
		t.Errorf("no tokens: stderr does not say how to proceed:\n%s", r.stderr)
	}
	_, lines := e.createToken("ci", "--tools", "*")
	e.write(lines)
	r = e.run("", "serve", "--http", "0.0.0.0:0")
	expectCode(t, r, cmdutil.ExitUsage, "non-loopback without TLS")
	if !strings.Contains(r.stderr, "serve.http.tls is not set") {
		t.Errorf("non-loopback without TLS:\n%s", r.stderr)
	}
	e.write("serve:\n  http: {auth: none}\n")
	r = e.run("", "serve", "--http", "0.0.0.0:0", "--insecure-listen")
	expectCode(t, r, cmdutil.ExitUsage, "non-loopback without tokens")
	if !strings.Contains(r.stderr, "tokens is empty") {
		t.Errorf("non-loopback without tokens:\n%s", r.stderr)
	}

	e.write("serve:\n  tools: gatway\n")
	r = e.run("", "serve", "--stdio")
	expectCode(t, r, cmdutil.ExitUsage, "bad serve.tools")
	if !strings.Contains(r.stderr, "config.yaml:11:10: serve.tools: unknown value \"gatway\"") {
		t.Errorf("bad serve.tools not reported at its line:\n%s", r.stderr)
	}
	r = e.run("", "serve", "token", "create", "ci")
	expectCode(t, r, cmdutil.ExitUsage, "token without scope")
}

// With auth: none on loopback, no token is needed; a page of another
// origin is still refused.
func TestServeHTTPAuthNone(t *testing.T) {
	e := newServeEnv(t, "serve:\n  servers: [weather]\n  http: {auth: none}\n")
	s := e.start(strings.NewReader(""), io.Discard, "serve", "--http", "127.0.0.1:0")
	url := s.endpoint(t)
	cs, err := connectHTTP(t, url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) == 0 || !strings.HasPrefix(tools.Tools[0].Name, "weather__") {
		t.Fatalf("tools: %v %+v", err, tools)
	}
	for _, tl := range tools.Tools {
		if strings.HasPrefix(tl.Name, "calendar__") {
			t.Errorf("serve.servers is [weather], but %s is offered", tl.Name)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad Origin: %d, want 403", resp.StatusCode)
	}
	cs.Close()
	s.cancel()
	e.wait(s)
}

// serve.http.tls serves HTTPS with a certificate whose key is in a file
// or in the keyring.
func TestServeHTTPTLS(t *testing.T) {
	e := newServeEnv(t, "")
	token, lines := e.createToken("ci", "--tools", "*")
	certFile, keyPEM, pool := writeSelfSigned(t, e.dir)
	keyFile := filepath.Join(e.dir, "serve.key")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(string(keyPEM), "secret", "set", "serve", "tls-key")
	for _, keyLine := range []string{"key_file: " + keyFile, "key_secret: tls-key"} {
		t.Run(strings.SplitN(keyLine, ":", 2)[0], func(t *testing.T) {
			e.write(strings.Replace(lines, "  http:\n", "  http:\n    tls: {cert: "+certFile+", "+keyLine+"}\n", 1))
			s := e.start(strings.NewReader(""), io.Discard, "serve", "--http", "127.0.0.1:0")
			url := s.endpoint(t)
			if !strings.HasPrefix(url, "https://") {
				t.Fatalf("endpoint %s is not https", url)
			}
			cs, err := connectHTTP(t, url, token, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}})
			if err != nil {
				t.Fatalf("connect over TLS: %v\n%s", err, s.stderr.String())
			}
			if _, err := cs.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			cs.Close()
			s.cancel()
			e.wait(s)
			if strings.Contains(s.stderr.String(), "PRIVATE KEY") {
				t.Error("the key was printed")
			}
		})
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 into dir and returns
// its file, its key (PEM) and a pool trusting it.
func writeSelfSigned(t *testing.T, dir string) (string, []byte, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mediator serve test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "serve.crt")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}

// serve.tools: both offers the workflow files of serve.workflows_dir as
// workflow__NAME beside the gateway's tools, and runs them; a file that
// does not validate is named on stderr and not offered.
func TestServeWorkflows(t *testing.T) {
	e := newServeEnv(t, "")
	dir := filepath.Join(e.dir, "flows")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	flow := `version: 1
name: forecast
description: The forecast for a city.
inputs:
  city: {type: string}
steps:
  - id: f
    call: {server: weather, tool: get_forecast}
    with: {city: "${ .inputs.city }"}
outputs:
  done: ${ true }
`
	if err := os.WriteFile(filepath.Join(dir, "forecast.flow.yaml"), []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.flow.yaml"), []byte("version: 1\nname: broken\nsteps: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write("serve:\n  tools: both\n  workflows_dir: " + dir + "\n")
	cs, s, _ := e.serveStdio()
	names := toolNames(t, cs)
	all := strings.Join(names, " ")
	if !strings.Contains(all, "workflow__forecast") || !strings.Contains(all, "weather__get_forecast") || strings.Contains(all, "broken") {
		t.Errorf("tools %v: want workflow__forecast and the gateway's, not broken", names)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "workflow__forecast", Arguments: map[string]any{"city": "Oslo"}})
	if err != nil || res.IsError {
		t.Errorf("workflow__forecast: %v %q", err, resultText(res))
	}
	cs.Close()
	if code := e.wait(s); code != 0 {
		t.Errorf("exit %d\n%s", code, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "broken.flow.yaml") {
		t.Errorf("the broken flow is not named on stderr:\n%s", s.stderr.String())
	}
}
