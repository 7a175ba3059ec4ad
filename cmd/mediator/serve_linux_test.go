//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveKey is the weather server's key: it must reach the weather server
// and nothing the host receives.
const serveKey = "canary-serve-key-Rt5Yu8Io"

// The real binary as a host runs it from an mcpServers entry: a go-sdk
// client over mcp.CommandTransport lists and calls a tool through
// `mediator serve --stdio`, the key stays out of what the host receives,
// and EOF on stdin ends mediator with exit 0.
func TestServeStdioBinary(t *testing.T) {
	bin := buildMediator(t)
	h := newMediatorHome(t, bin, nil)

	w := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(w, &mcp.Tool{Name: "get_forecast", Description: "Forecast for a city.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			City string `json:"city"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "rain in " + in.City}}}, nil, nil
		})
	wh := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return w }, &mcp.StreamableHTTPOptions{Stateless: true})
	ws := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != serveKey {
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		wh.ServeHTTP(rw, r)
	}))
	defer ws.Close()

	cfg := filepath.Join(h.config, "config.yaml")
	body := fmt.Sprintf("credentials:\n  backend: file\n  file_dir: %s\nstate_dir: %s\nservers:\n  weather:\n    url: %s\n    auth: {type: api-key, header: X-API-Key, secret: api-key}\n",
		h.keyring, h.state, ws.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := h.run(serveKey, "--config", cfg, "secret", "set", "weather", "api-key"); err != nil {
		t.Fatalf("secret set: %v\n%s", err, stderr)
	}

	cmd := exec.Command(bin, "--config", cfg, "serve", "--stdio")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir, "MEDIATOR_KEYRING_PASSPHRASE=" + canaryPassphrase}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Every byte of stdout is kept, to check it holds protocol only.
	rec := &teeTransport{Transport: &mcp.CommandTransport{Command: cmd}}
	c := mcp.NewClient(&mcp.Implementation{Name: "host"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := c.Connect(ctx, rec, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr.String())
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "weather__get_forecast" {
		t.Fatalf("tools: %v %+v", err, tools)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "weather__get_forecast", Arguments: map[string]any{"city": "Bergen"}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "rain in Bergen" {
		t.Fatalf("call: %v %+v", err, res)
	}
	// Close closes mediator's stdin and waits for it to exit.
	if err := cs.Close(); err != nil {
		t.Errorf("mediator did not end cleanly on EOF: %v\nstderr:\n%s", err, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after EOF\nstderr:\n%s", code, stderr.String())
	}
	got := rec.received()
	if len(got) == 0 {
		t.Fatal("nothing recorded from stdout")
	}
	for _, msg := range got {
		if strings.Contains(msg, serveKey) || strings.Contains(msg, canaryPassphrase) {
			t.Errorf("a secret reached the host: %s", msg)
		}
		var m struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if json.Unmarshal([]byte(msg), &m) != nil || m.JSONRPC != "2.0" {
			t.Errorf("stdout held something other than JSON-RPC: %q", msg)
		}
	}
	if strings.Contains(stderr.String(), serveKey) {
		t.Errorf("the key is on stderr:\n%s", stderr.String())
	}
}

// teeTransport records every message read from the server, as read: a
// line of stdout that is not JSON-RPC fails the read, and is recorded.
type teeTransport struct {
	mcp.Transport
	mu   sync.Mutex
	msgs []string
}

func (t *teeTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &teeConn{Connection: c, t: t}, nil
}

func (t *teeTransport) received() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.msgs...)
}

type teeConn struct {
	mcp.Connection
	t *teeTransport
}

func (c *teeConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	m, err := c.Connection.Read(ctx)
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	if err != nil {
		if err != io.EOF && !strings.Contains(err.Error(), "closed") {
			c.t.msgs = append(c.t.msgs, "read error: "+err.Error())
		}
		return m, err
	}
	b, _ := jsonrpc.EncodeMessage(m)
	c.t.msgs = append(c.t.msgs, string(b))
	return m, nil
}
