package connectors

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// The real npm server-everything over stdio: its resources, templates, a
// read of text and of a blob, a subscription whose updates reach the
// callback, and its prompts with arguments.
func TestStdioEverythingResourcesAndPrompts(t *testing.T) {
	command, args := testenv.NPMServer(t, "mcp-server-everything")
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "everything", Command: command, Args: append(args, "stdio")}})
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}

	resources, more, err := c.ListResources(ctx, 0)
	if err != nil || more {
		t.Fatalf("ListResources: %v (more %v)", err, more)
	}
	if !slices.ContainsFunc(resources, func(r *mcp.Resource) bool { return strings.HasPrefix(r.URI, "demo://resource/static/document/") }) {
		t.Errorf("no static document among %d resources", len(resources))
	}
	templates, _, err := c.ListResourceTemplates(ctx, 0)
	if err != nil {
		t.Fatalf("ListResourceTemplates: %v", err)
	}
	if !slices.ContainsFunc(templates, func(rt *mcp.ResourceTemplate) bool {
		return rt.URITemplate == "demo://resource/dynamic/text/{resourceId}"
	}) {
		t.Errorf("no dynamic text template among %d", len(templates))
	}

	res, err := c.ReadResource(ctx, "demo://resource/dynamic/text/1")
	if err != nil {
		t.Fatalf("ReadResource text: %v", err)
	}
	if len(res.Contents) != 1 || res.Contents[0].Text == "" {
		t.Errorf("text read: %+v", res.Contents)
	}
	res, err = c.ReadResource(ctx, "demo://resource/dynamic/blob/2")
	if err != nil {
		t.Fatalf("ReadResource blob: %v", err)
	}
	if len(res.Contents) != 1 || len(res.Contents[0].Blob) == 0 {
		t.Errorf("blob read: %+v", res.Contents)
	}

	updates := make(chan ResourceUpdate, 16)
	const watched = "demo://resource/dynamic/text/1"
	cancel, err := c.Subscribe(ctx, watched, func(u ResourceUpdate) {
		select {
		case updates <- u:
		default:
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := c.CallTool(ctx, "toggle-subscriber-updates", nil, nil); err != nil {
		t.Fatalf("toggle-subscriber-updates: %v", err)
	}
	select {
	case u := <-updates:
		if u.URI != watched || u.Server != "everything" {
			t.Errorf("update %+v", u)
		}
	case <-ctx.Done():
		t.Fatal("no resources/updated reached the callback")
	}
	if err := cancel(ctx); err != nil {
		t.Errorf("unsubscribe: %v", err)
	}

	prompts, _, err := c.ListPrompts(ctx, 0)
	if err != nil {
		t.Fatalf("ListPrompts: %v", err)
	}
	i := slices.IndexFunc(prompts, func(p *mcp.Prompt) bool { return p.Name == "args-prompt" })
	if i < 0 {
		t.Fatalf("no args-prompt among %d prompts", len(prompts))
	}
	if len(prompts[i].Arguments) != 2 {
		t.Errorf("args-prompt arguments: %+v", prompts[i].Arguments)
	}
	pr, err := c.GetPrompt(ctx, "args-prompt", map[string]string{"city": "Oslo", "state": "Viken"})
	if err != nil {
		t.Fatalf("GetPrompt: %v", err)
	}
	if len(pr.Messages) != 1 {
		t.Fatalf("messages: %+v", pr.Messages)
	}
	if tc, ok := pr.Messages[0].Content.(*mcp.TextContent); !ok || !strings.Contains(tc.Text, "Oslo, Viken") {
		t.Errorf("prompt message: %#v", pr.Messages[0].Content)
	}
	_, err = c.GetPrompt(ctx, "no-such-prompt", nil)
	if err == nil || kindOf(t, err) != KindProtocol || !strings.Contains(err.Error(), `get prompt "no-such-prompt"`) {
		t.Errorf("an unknown prompt: %v", err)
	}
}

// pagedServer offers n resources, n templates and n prompts, three a page.
func pagedServer(n int) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "paged", Version: "1"}, &mcp.ServerOptions{PageSize: 3})
	for i := range n {
		uri := fmt.Sprintf("paged://r/%02d", i)
		s.AddResource(&mcp.Resource{Name: fmt.Sprintf("r%02d", i), URI: uri}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, Text: "r"}}}, nil
		})
		s.AddResourceTemplate(&mcp.ResourceTemplate{Name: fmt.Sprintf("t%02d", i), URITemplate: fmt.Sprintf("paged://t%02d/{x}", i)},
			func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return nil, nil
			})
		s.AddPrompt(&mcp.Prompt{Name: fmt.Sprintf("p%02d", i)}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{}, nil
		})
	}
	return s
}

// Listings follow every page, and a listing capped at max stops asking for
// pages once it has more than max.
func TestListingsFollowPages(t *testing.T) {
	ctx := testCtx(t)
	c := mustNew(t, Options{Config: Config{Name: "paged"}, NewTransport: inProcess(t, pagedServer(10))})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rs, more, err := c.ListResources(ctx, 0)
	if err != nil || more || len(rs) != 10 {
		t.Fatalf("ListResources: %d, more %v, %v", len(rs), more, err)
	}
	ts, more, err := c.ListResourceTemplates(ctx, 0)
	if err != nil || more || len(ts) != 10 {
		t.Fatalf("ListResourceTemplates: %d, more %v, %v", len(ts), more, err)
	}
	ps, more, err := c.ListPrompts(ctx, 0)
	if err != nil || more || len(ps) != 10 {
		t.Fatalf("ListPrompts: %d, more %v, %v", len(ps), more, err)
	}
	rs, more, err = c.ListResources(ctx, 4)
	if err != nil || !more || len(rs) != 4 || rs[3].Name != "r03" {
		t.Fatalf("ListResources up to 4: %d, more %v, %v", len(rs), more, err)
	}
	_, more, err = c.ListPrompts(ctx, 10)
	if err != nil || more {
		t.Fatalf("ListPrompts up to exactly 10: more %v, %v", more, err)
	}
}

// A server whose cursors lead back to a page it gave is refused with a
// clear error rather than listed until the timeout.
func TestListingThatLoops(t *testing.T) {
	ctx := testCtx(t)
	s := mcp.NewServer(&mcp.Implementation{Name: "loop", Version: "1"}, nil)
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "prompts/list" {
				return &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{{Name: "again"}}, NextCursor: "same"}, nil
			}
			return next(ctx, method, req)
		}
	})
	s.AddPrompt(&mcp.Prompt{Name: "again"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	c := mustNew(t, Options{Config: Config{Name: "loop"}, NewTransport: inProcess(t, s)})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ListPrompts(ctx, 0)
	if err == nil || kindOf(t, err) != KindProtocol || !strings.Contains(err.Error(), "pagination loops") {
		t.Fatalf("a looping listing: %v", err)
	}
}

// A resource over max_resource_bytes is refused with a clear error: one
// far over it as it arrives (memory stays bounded, the session ends and the
// next read works on a new one), one just over it after decoding (the
// session lives on). A blob within the cap reads whole even where its
// base64 is more than max_result_bytes: the read raises the wire limit to
// what the cap needs, and only while it is in flight.
func TestReadResourceOverCap(t *testing.T) {
	const capBytes = 1 << 20
	ctx := testCtx(t)
	srv := httptest.NewServer(hostile.ResourceFloodHandler())
	t.Cleanup(srv.Close)
	c := mustNew(t, Options{
		Config:    Config{Name: "weather", URL: srv.URL, Timeout: 60 * time.Second, MaxResultBytes: capBytes, MaxResourceBytes: capBytes},
		Reconnect: fastReconnect,
	})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}

	res, err := c.ReadResource(ctx, fmt.Sprintf("flood://blob/%d", capBytes/3*4))
	if err != nil {
		t.Fatalf("a blob within the cap, its base64 over max_result_bytes: %v", err)
	}
	if n := ContentsSize(res.Contents); n != capBytes/3*3 {
		t.Errorf("the blob arrived with %d bytes", n)
	}

	mem := measureMem(func() { _, err = c.ReadResource(ctx, fmt.Sprintf("flood://text/%d", hugeResult)) })
	t.Logf("a %d-byte resource against a cap of %d: %v; %v", hugeResult, capBytes, err, mem)
	checkResourceTooLarge(t, err, "on the wire")
	checkMem(t, mem, wireBytes(capBytes))

	// Over the cap, within the wire bound: refused after decoding.
	_, err = c.ReadResource(ctx, fmt.Sprintf("flood://text/%d", capBytes+1000))
	checkResourceTooLarge(t, err, "the resource holds 1049576 bytes")
	res, err = c.ReadResource(ctx, "flood://text/10")
	if err != nil || res.Contents[0].Text != "xxxxxxxxxx" {
		t.Fatalf("the read after the refused ones: %v", err)
	}
}

func checkResourceTooLarge(t *testing.T, err error, detail string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if k := kindOf(t, err); k != KindTooLarge {
		t.Fatalf("kind %s: %v", k, err)
	}
	for _, want := range []string{`server "weather"`, "read resource", "max_resource_bytes (1 MiB)", "raise max_resource_bytes", detail} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}

// A subscription outlives its session: after the server drops the
// session, the connector subscribes the new one again, and updates reach
// the callback; cancelling unsubscribes.
func TestSubscriptionAcrossReconnect(t *testing.T) {
	ctx := testCtx(t)
	const uri = "docs://readme"
	subscribed, unsubscribed := make(chan string, 8), make(chan string, 8)
	s := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(_ context.Context, req *mcp.SubscribeRequest) error { subscribed <- req.Params.URI; return nil },
		UnsubscribeHandler: func(_ context.Context, req *mcp.UnsubscribeRequest) error { unsubscribed <- req.Params.URI; return nil },
	})
	s.AddResource(&mcp.Resource{Name: "readme", URI: uri}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, Text: "hi"}}}, nil
	})
	sessions := make(chan *mcp.ServerSession, 4)
	c := mustNew(t, Options{Config: Config{Name: "docs"}, Reconnect: fastReconnect,
		NewTransport: func(ctx context.Context) (mcp.Transport, error) {
			st, ct := mcp.NewInMemoryTransports()
			ss, err := s.Connect(ctx, st, nil)
			sessions <- ss
			return ct, err
		}})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	first := <-sessions
	updates := make(chan ResourceUpdate, 8)
	cancel, err := c.Subscribe(ctx, uri, func(u ResourceUpdate) { updates <- u })
	if err != nil {
		t.Fatal(err)
	}
	<-subscribed

	first.Close() // the server drops the session
	select {
	case got := <-subscribed:
		if got != uri {
			t.Fatalf("resubscribed to %q", got)
		}
	case <-ctx.Done():
		t.Fatal("the new session was not subscribed again")
	}
	// go-sdk's server records a subscription only after its handler has
	// returned, so notify until the new session is on its list.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for got := false; !got; {
		if err := s.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
			t.Fatal(err)
		}
		select {
		case u := <-updates:
			if u.URI != uri || u.Server != "docs" {
				t.Errorf("update %+v", u)
			}
			got = true
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no update after the reconnect")
		}
	}
	if err := cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-unsubscribed; got != uri {
		t.Errorf("unsubscribed from %q", got)
	}
}
