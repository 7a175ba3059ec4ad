package connectors

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// logBuf collects a connector's log records as text.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
	// seen is signalled at each record that holds one of want.
	want []string
	seen chan struct{}
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.want {
		if l.seen != nil && bytes.Contains(p, []byte(w)) {
			select {
			case l.seen <- struct{}{}:
			default:
			}
		}
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// everything starts the npm server-everything over stdio with host.
func everything(t *testing.T, cfg Config, host Host, log *slog.Logger) *Connector {
	t.Helper()
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	cfg.Name, cfg.Command, cfg.Args = "everything", command, append(args, "stdio")
	c := mustNew(t, Options{Config: cfg, Host: host, Logger: log})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func toolNames(t *testing.T, c *Connector) []string {
	t.Helper()
	tools, err := c.ListTools(testCtx(t))
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
	}
	return names
}

// server-everything offers the tools that need a client feature only
// when the client advertises it: without handlers, or with sampling
// left at its default (deny) and elicitation set to deny, it offers none
// of them.
func TestEverythingSeesNoFeatureWithoutHandlerOrPermission(t *testing.T) {
	gated := []string{"trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"}
	t.Run("no handlers", func(t *testing.T) {
		c := everything(t, Config{}, Host{}, nil)
		names := toolNames(t, c)
		for _, g := range gated {
			if slices.Contains(names, g) {
				t.Errorf("%s offered to a client without handlers", g)
			}
		}
	})
	t.Run("denied", func(t *testing.T) {
		host := Host{
			Sample: func(context.Context, *SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
				return nil, errors.New("never")
			},
			Elicit: func(context.Context, *ElicitationRequest) (*mcp.ElicitResult, error) { return nil, errors.New("never") },
		}
		c := everything(t, Config{Elicitation: ElicitationDeny}, host, nil)
		names := toolNames(t, c)
		for _, g := range gated {
			if slices.Contains(names, g) {
				t.Errorf("%s offered although the settings deny it", g)
			}
		}
	})
}

// Sampling, elicitation, roots, progress and logging against the real
// server-everything over stdio.
func TestEverythingHostFeatures(t *testing.T) {
	rootA, rootB := t.TempDir(), t.TempDir()
	var (
		mu      sync.Mutex
		samples []*SamplingRequest
		elicits []*ElicitationRequest
	)
	host := Host{
		Sample: func(_ context.Context, req *SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
			mu.Lock()
			samples = append(samples, req)
			mu.Unlock()
			return &mcp.CreateMessageWithToolsResult{Role: "assistant", Model: "test-model", StopReason: "endTurn",
				Content: []mcp.Content{&mcp.TextContent{Text: "sampled by the front end"}}}, nil
		},
		Elicit: func(_ context.Context, req *ElicitationRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			elicits = append(elicits, req)
			mu.Unlock()
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
		},
	}
	// server-everything registers the tools that need a client feature
	// once the session is initialized, and says so: tools/list_changed.
	changed := make(chan string, 8)
	host.ToolsChanged = func(server string) {
		select {
		case changed <- server:
		default:
		}
	}
	// The simulated messages: "Info-level message", "Alert level-message".
	logs := &logBuf{want: []string{"level message", "level-message"}, seen: make(chan struct{}, 1)}
	c := everything(t, Config{
		Sampling: SamplingConfig{Mode: SamplingAllow, MaxTokens: 50, Models: []string{"test-model"}},
		Roots:    []string{rootA},
	}, host, logs.logger())
	ctx := testCtx(t)

	t.Run("tools list changed", func(t *testing.T) {
		select {
		case server := <-changed:
			if server != "everything" {
				t.Errorf("ToolsChanged(%q)", server)
			}
		case <-ctx.Done():
			t.Fatal("tools/list_changed never reached ToolsChanged")
		}
	})
	t.Run("sampling", func(t *testing.T) {
		res, err := c.CallTool(ctx, "trigger-sampling-request", map[string]any{"prompt": "hello", "maxTokens": 100}, nil)
		if err != nil || res.IsError {
			t.Fatalf("trigger-sampling-request: %v %+v", err, res)
		}
		if got := resultText(t, res); !strings.Contains(got, "sampled by the front end") {
			t.Errorf("result %q lacks the front end's answer", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(samples) != 1 {
			t.Fatalf("%d sampling requests", len(samples))
		}
		s := samples[0]
		if s.Server != "everything" || s.Ask || s.Params.MaxTokens != 50 || !slices.Equal(s.Models, []string{"test-model"}) {
			t.Errorf("request server=%q ask=%v maxTokens=%d models=%v; want everything, false, 50 (capped), [test-model]", s.Server, s.Ask, s.Params.MaxTokens, s.Models)
		}
	})
	t.Run("elicitation", func(t *testing.T) {
		res, err := c.CallTool(ctx, "trigger-elicitation-request", nil, nil)
		if err != nil || res.IsError {
			t.Fatalf("trigger-elicitation-request: %v %+v", err, res)
		}
		got := resultText(t, res)
		// The answer, and a default the answer left out, reach the server.
		if !strings.Contains(got, "Ada") || !strings.Contains(got, "It was a dark and stormy night.") {
			t.Errorf("result %q lacks the answer or the schema's default", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(elicits) != 1 || elicits[0].Server != "everything" {
			t.Fatalf("elicitation requests %+v", elicits)
		}
	})
	t.Run("roots", func(t *testing.T) {
		uri := func(d string) string { return "file://" + filepath.ToSlash(d) }
		res, err := c.CallTool(ctx, "get-roots-list", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := resultText(t, res); !strings.Contains(got, uri(rootA)) {
			t.Fatalf("roots %q lack %s", got, uri(rootA))
		}
		if err := c.SetRoots([]string{rootB}); err != nil {
			t.Fatal(err)
		}
		// The server lists the roots again at roots/list_changed; a call
		// after that may still race it, so ask until it has.
		for {
			res, err := c.CallTool(ctx, "get-roots-list", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := resultText(t, res)
			if strings.Contains(got, uri(rootB)) {
				if strings.Contains(got, uri(rootA)) {
					t.Errorf("the old root is still listed: %q", got)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("the server never saw the new roots: %q", got)
			}
		}
	})
	t.Run("progress", func(t *testing.T) {
		var reports []Progress
		pctx := WithProgress(ctx, func(p Progress) { reports = append(reports, p) })
		res, err := c.CallTool(pctx, "trigger-long-running-operation", map[string]any{"duration": 0.2, "steps": 2}, nil)
		if err != nil || res.IsError {
			t.Fatalf("trigger-long-running-operation: %v %+v", err, res)
		}
		// The last report comes with the result and still arrives first.
		if len(reports) != 2 || reports[0].Progress != 1 || reports[1].Progress != 2 || reports[0].Total != 2 || reports[0].Server != "everything" {
			t.Errorf("progress reports %+v; want 1/2 and 2/2 from everything", reports)
		}
		n := len(reports)
		// A call without a callback sends no token and gets no reports.
		if _, err := c.CallTool(ctx, "trigger-long-running-operation", map[string]any{"duration": 0.1, "steps": 1}, nil); err != nil {
			t.Fatal(err)
		}
		if len(reports) != n {
			t.Errorf("a call without a progress callback reported to another's: %+v", reports)
		}
	})
	t.Run("logging", func(t *testing.T) {
		if _, err := c.CallTool(ctx, "toggle-simulated-logging", nil, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-logs.seen:
		case <-ctx.Done():
			t.Fatal("no server log message reached the connector's log")
		}
		got := logs.String()
		if !strings.Contains(got, "server=everything") || !strings.Contains(got, "server_level=") || !strings.Contains(got, "level message") && !strings.Contains(got, "level-message") {
			t.Errorf("log %q lacks the server, its level or its message", got)
		}
	})
}

// hostServer is a go-sdk server whose tools ask the client for sampling,
// and elicitation and return what came back, error codes included.
// It speaks 2025-11-25, where a server sends such requests itself (on
// 2026-07-28 they come back in a result, MRTR).
func hostServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-11-25"}})
	answer := func(v any, err error) *mcp.CallToolResult {
		var je *jsonrpc.Error
		if errors.As(err, &je) {
			return textResult(fmt.Sprintf("error %d: %s", je.Code, je.Message))
		}
		if err != nil {
			return textResult("error: " + err.Error())
		}
		return textResult(fmt.Sprintf("%+v", v))
	}
	mcp.AddTool(s, &mcp.Tool{Name: "sample"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err == nil {
			return answer(res.Model, nil), nil, nil
		}
		return answer(nil, err), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "elicit"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "your age?", RequestedSchema: map[string]any{
			"type":       "object",
			"properties": map[string]any{"age": map[string]any{"type": "integer", "minimum": 0}},
			"required":   []string{"age"},
		}})
		if err == nil {
			return answer(res.Content, nil), nil, nil
		}
		return answer(nil, err), nil, nil
	})
	return s
}

func callText(t *testing.T, c *Connector, tool string) string {
	t.Helper()
	res, err := c.CallTool(testCtx(t), tool, nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return resultText(t, res)
}

// askAnyway calls hostile.AskAnyway's tool, which sends the client the
// request method with params whatever the client advertised, and
// returns what the server got back.
func askAnyway(t *testing.T, c *Connector, method string, params any) string {
	t.Helper()
	res, err := c.CallTool(testCtx(t), hostile.AskAnywayTool, map[string]any{"method": method, "params": params}, nil)
	if err != nil {
		t.Fatalf("asking %s: %v", method, err)
	}
	return resultText(t, res)
}

var (
	sampleParams = map[string]any{"maxTokens": 10, "messages": []any{map[string]any{"role": "user", "content": map[string]any{"type": "text", "text": "hi"}}}}
	formParams   = map[string]any{"mode": "form", "message": "name?", "requestedSchema": map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}}
	urlParams    = map[string]any{"mode": "url", "message": "log in", "url": "https://example.com/login", "elicitationId": "e1"}
)

// A request for a feature the server's setting denies (or the front end
// does not handle) gets a JSON-RPC error, is logged, and reaches no
// handler; so does an elicitation in a mode the client did not declare.
func TestDeniedRequestsGetJSONRPCErrors(t *testing.T) {
	const canary = "canary-host-7d1e"
	called := false
	host := Host{
		Sample: func(context.Context, *SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
			called = true
			return nil, errors.New(canary)
		},
		Elicit: func(context.Context, *ElicitationRequest) (*mcp.ElicitResult, error) {
			called = true
			return nil, errors.New(canary)
		},
	}
	logs := &logBuf{}
	c := mustNew(t, Options{Config: Config{Name: "asker", Elicitation: ElicitationDeny}, Host: host,
		NewTransport: hostile.AskAnyway, Logger: logs.logger()})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method string
		params any
	}{{methodSampling, sampleParams}, {methodElicitation, formParams}, {methodRoots, map[string]any{}}} {
		if got := askAnyway(t, c, tc.method, tc.params); !strings.HasPrefix(got, "error -32601: ") {
			t.Errorf("%s: server got %q, want error -32601", tc.method, got)
		}
	}
	if called {
		t.Error("a handler was called for a denied feature")
	}
	got := logs.String()
	for _, m := range []string{methodSampling, methodElicitation, methodRoots} {
		if !strings.Contains(got, "refused a request from the server") || !strings.Contains(got, "method="+m) {
			t.Errorf("log lacks the refusal of %s: %q", m, got)
		}
	}
	if !strings.Contains(got, "servers.asker.sampling is deny") || !strings.Contains(got, "servers.asker.elicitation is deny") {
		t.Errorf("log does not say which setting refused: %q", got)
	}
	if strings.Contains(got, canary) {
		t.Error("canary in the log")
	}

	// Elicitation allowed, form mode only: a URL request gets -32602.
	c2 := mustNew(t, Options{Config: Config{Name: "asker"}, Host: host, NewTransport: hostile.AskAnyway})
	if err := c2.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := askAnyway(t, c2, methodElicitation, urlParams); !strings.HasPrefix(got, "error -32602: ") {
		t.Errorf("url mode to a form-only client: server got %q, want -32602", got)
	}
	if called {
		t.Error("the handler saw a request in an undeclared mode")
	}
}

// An elicitation answer that fails the requested schema is not sent,
// and its values stay out of the log.
func TestElicitationAnswerFailingSchemaIsNotSent(t *testing.T) {
	const canary = -777123
	logs := &logBuf{}
	c := mustNew(t, Options{Config: Config{Name: "asker"}, NewTransport: inProcess(t, hostServer()), Logger: logs.logger(),
		Host: Host{Elicit: func(context.Context, *ElicitationRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"age": canary}}, nil
		}}})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := callText(t, c, "elicit")
	if !strings.HasPrefix(got, "error -32603") || strings.Contains(got, fmt.Sprint(canary)) {
		t.Errorf("server got %q; want an internal error without the answer", got)
	}
	if l := logs.String(); strings.Contains(l, fmt.Sprint(canary)) || !strings.Contains(l, "did not match the requested schema") {
		t.Errorf("log %q: want the refusal without the value", l)
	}
}

// A sampling answer from a model outside the server's list is not sent;
// a front end's *jsonrpc.Error (the user declined) goes to the server.
func TestSamplingModelsAndRejection(t *testing.T) {
	var reject bool
	c := mustNew(t, Options{Config: Config{Name: "asker", Sampling: SamplingConfig{Mode: SamplingAsk, Models: []string{"small"}}},
		NewTransport: inProcess(t, hostServer()),
		Host: Host{Sample: func(_ context.Context, req *SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
			if !req.Ask {
				t.Error("ask mode not passed on")
			}
			if reject {
				return nil, ErrUserRejected
			}
			return &mcp.CreateMessageWithToolsResult{Model: "large", Content: []mcp.Content{&mcp.TextContent{Text: "x"}}}, nil
		}}})
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := callText(t, c, "sample"); !strings.HasPrefix(got, "error -32603") {
		t.Errorf("answer from an unlisted model: server got %q", got)
	}
	reject = true
	if got := callText(t, c, "sample"); !strings.HasPrefix(got, "error -1:") {
		t.Errorf("rejected: server got %q, want code -1", got)
	}
}

// Concurrent calls each get their own progress, and tools/list_changed
// reaches the front end's callback. (The server waits for each report to
// arrive before it goes on, so the reports interleave.)
func TestProgressRoutingAndListChanged(t *testing.T) {
	acks := []chan struct{}{make(chan struct{}), make(chan struct{})}
	s := mcp.NewServer(&mcp.Implementation{Name: "prog", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "count"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct{ I, N int }) (*mcp.CallToolResult, any, error) {
		for i := 1; i <= in.N; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(),
				Progress: float64(i), Total: float64(in.N), Message: fmt.Sprint("step ", i)}); err != nil {
				return nil, nil, err
			}
			select {
			case <-acks[in.I]:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		return textResult("done"), nil, nil
	})
	changed := make(chan string, 1)
	c := mustNew(t, Options{Config: Config{Name: "prog"}, NewTransport: inProcess(t, s),
		Host: Host{ToolsChanged: func(server string) { changed <- server }}})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([][]Progress, 2)
	for i := range 2 {
		wg.Go(func() {
			pctx := WithProgress(ctx, func(p Progress) {
				got[i] = append(got[i], p)
				acks[i] <- struct{}{}
			})
			if _, err := c.CallTool(pctx, "count", map[string]any{"I": i, "N": i + 2}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, ps := range got {
		if len(ps) != i+2 || ps[len(ps)-1].Total != float64(i+2) || ps[0].Message != "step 1" || ps[0].Server != "prog" {
			t.Errorf("call %d got %+v", i, ps)
		}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "later"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return textResult("x"), nil, nil
	})
	select {
	case name := <-changed:
		if name != "prog" {
			t.Errorf("ToolsChanged(%q)", name)
		}
	case <-ctx.Done():
		t.Fatal("tools/list_changed never reached ToolsChanged")
	}
}

// Roots are validated with errors naming the field.
func TestRootsConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		roots []string
		want  string
	}{
		{[]string{"rel/dir"}, "roots[0]: \"rel/dir\" is not an absolute path"},
		{[]string{dir, filepath.Join(dir, "missing")}, "roots[1]:"},
		{[]string{file}, "is not a directory"},
	} {
		err := Config{Name: "x", Command: "x", Roots: tc.roots}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("roots %v: %v, want %q", tc.roots, err, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Sampling: SamplingConfig{Mode: "sometimes"}}, "sampling.mode: unknown mode \"sometimes\" (valid: deny, ask, allow)"},
		{Config{Sampling: SamplingConfig{MaxTokens: -1}}, "sampling.max_tokens"},
		{Config{Elicitation: "allow"}, "elicitation: unknown setting \"allow\" (valid: deny, ask)"},
	} {
		tc.cfg.Name, tc.cfg.Command = "x", "x"
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// Canceling a call's context over streamable HTTP reaches the server
// (its handler's context ends), as it does in process and over stdio.
func TestCallToolCancellationReachesHTTPServer(t *testing.T) {
	started, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
	srv := httptest.NewServer(mcpHandler(TransportStreamableHTTP, blockingServer(started, canceled)))
	t.Cleanup(srv.Close)
	c := mustNew(t, Options{Config: Config{Name: "blocking", URL: srv.URL}})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	callCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTool(callCtx, "block", nil, nil)
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; err == nil || kindOf(t, err) != KindCanceled {
		t.Fatalf("canceled call: %v", err)
	}
	select {
	case <-canceled:
	case <-ctx.Done():
		t.Fatal("the server never saw the cancellation")
	}
}

// A server's log messages reach the connector's log at their level, on
// both protocol eras (mediator asks for them: logging/setLevel, or the
// log level in each request's _meta), with this server's credential
// masked and terminal controls removed.
func TestServerLogsReachTheLogMasked(t *testing.T) {
	const key = "key-canary-log-81c4"
	for _, versions := range [][]string{{"2025-11-25"}, nil} {
		t.Run(fmt.Sprint(versions), func(t *testing.T) {
			s := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: versions})
			mcp.AddTool(s, &mcp.Tool{Name: "leak"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				got := req.GetExtra().Header.Get("X-API-Key")
				err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "warning", Logger: "auth", Data: "using key " + got + "\x1b[2J done"})
				return textResult("ok"), nil, err
			})
			srv := httptest.NewServer(mcpHandler(TransportStreamableHTTP, s))
			t.Cleanup(srv.Close)
			logs := &logBuf{want: []string{"server log"}, seen: make(chan struct{}, 1)}
			c := mustNew(t, Options{Config: Config{Name: "chatty", URL: srv.URL, Auth: AuthConfig{Type: AuthAPIKey, Secret: "k"}},
				Secrets: secretMap{"k": key}, Logger: logs.logger()})
			ctx := testCtx(t)
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CallTool(ctx, "leak", nil, nil); err != nil {
				t.Fatal(err)
			}
			select {
			case <-logs.seen:
			case <-ctx.Done():
				t.Fatal("the server's log message never reached the connector's log")
			}
			got := logs.String()
			if strings.Contains(got, key) || strings.Contains(got, "\x1b") {
				t.Errorf("log holds the key or an escape: %q", got)
			}
			if !strings.Contains(got, "level=WARN msg=\"server log\" server=chatty") || !strings.Contains(got, "logger=auth") || !strings.Contains(got, "done") {
				t.Errorf("log %q lacks the message at its level", got)
			}
		})
	}
}

// A form answer is sent as the schema's defaults complete it, and only
// if it fits the schema, formats included.
func TestValidateElicitation(t *testing.T) {
	schema := map[string]any{"type": "object", "properties": map[string]any{
		"mail": map[string]any{"type": "string", "format": "email"},
		"when": map[string]any{"type": "string", "format": "date"},
		"site": map[string]any{"type": "string", "format": "uri"},
		"at":   map[string]any{"type": "string", "format": "date-time"},
		"n":    map[string]any{"type": "integer", "default": 3},
	}}
	got, err := ValidateElicitation(schema, map[string]any{"mail": "ada@example.com", "when": "2026-05-01", "site": "https://example.com", "at": "2026-05-01T10:00:00Z"})
	if err != nil || got["n"] != float64(3) {
		t.Fatalf("valid answer: %v, %v", got, err)
	}
	for field, bad := range map[string]string{"mail": "Ada <ada@example.com>", "when": "1 May", "site": "example.com", "at": "2026-05-01"} {
		if _, err := ValidateElicitation(schema, map[string]any{field: bad}); err == nil || !strings.HasPrefix(err.Error(), field+": ") {
			t.Errorf("%s=%q: %v", field, bad, err)
		}
	}
	if _, err := ValidateElicitation(schema, map[string]any{"n": "three"}); err == nil {
		t.Error("a string for an integer passed")
	}
}
