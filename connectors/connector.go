package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// State is a connector's lifecycle state.
type State string

const (
	StateIdle         State = "idle"
	StateConnecting   State = "connecting"
	StateReady        State = "ready"
	StateFailed       State = "failed"
	StateAuthRequired State = "auth-required"
	StateClosed       State = "closed"
)

// Status is a snapshot of a connector.
type Status struct {
	State State
	// Err says why the state is failed or auth-required.
	Err             error
	Since           time.Time
	ServerInfo      *mcp.Implementation
	ProtocolVersion string
}

// Options configures New.
type Options struct {
	Config Config
	// Secrets must be scoped to Config.Name's server.
	Secrets SecretSource
	Logger  *slog.Logger
	// ClientInfo names mediator to the server.
	ClientInfo *mcp.Implementation
	// BaseTransport is the HTTP round tripper under the auth layer; nil means
	// a fresh *http.Transport of this connector's own.
	BaseTransport http.RoundTripper
	// Stderr receives a stdio server's stderr; nil discards it.
	Stderr io.Writer
	// NewTransport, when set, replaces the transport built from Config (an
	// in-process server, a test harness). Auth from Config does not apply to it.
	NewTransport func(ctx context.Context) (mcp.Transport, error)
}

// Connector is one authenticated MCP client for one server.
type Connector struct {
	opts Options

	mu      sync.Mutex
	session *mcp.ClientSession
	status  Status
}

// New validates the config and returns an unconnected connector.
func New(opts Options) (*Connector, error) {
	if opts.Config.Name == "" {
		return nil, errors.New("connector: server name is empty")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClientInfo == nil {
		opts.ClientInfo = &mcp.Implementation{Name: "mediator", Version: "dev"}
	}
	return &Connector{opts: opts, status: Status{State: StateIdle, Since: time.Now()}}, nil
}

// Name is the server's name.
func (c *Connector) Name() string { return c.opts.Config.Name }

// Status returns the current state.
func (c *Connector) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Connect opens the session, bounded by the server's timeout.
func (c *Connector) Connect(ctx context.Context) error {
	cfg := c.opts.Config
	var t mcp.Transport
	switch {
	case cfg.Command != "":
		cmd := exec.Command(cfg.Command, cfg.Args...)
		cmd.Stderr = c.opts.Stderr
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	default:
		t = &mcp.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: &http.Client{}}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := mcp.NewClient(c.opts.ClientInfo, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	cs, err := client.Connect(cctx, t, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.status = Status{State: StateFailed, Err: err, Since: time.Now()}
		return &Error{Server: cfg.Name, Kind: KindTransport, Err: err}
	}
	c.session = cs
	c.status = Status{State: StateReady, Since: time.Now(), ServerInfo: cs.InitializeResult().ServerInfo, ProtocolVersion: cs.InitializeResult().ProtocolVersion}
	return nil
}

// ListTools returns every tool the server offers, following pagination.
func (c *Connector) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	cs, err := c.ready()
	if err != nil {
		return nil, err
	}
	var tools []*mcp.Tool
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, &Error{Server: c.Name(), Kind: KindTransport, Err: err}
		}
		tools = append(tools, tool)
	}
	return tools, nil
}

// CallTool calls one tool. meta is sent as the request's _meta and may be nil.
// A result with IsError set is returned without a Go error.
func (c *Connector) CallTool(ctx context.Context, name string, args map[string]any, meta mcp.Meta) (*mcp.CallToolResult, error) {
	cs, err := c.ready()
	if err != nil {
		return nil, err
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args, Meta: meta})
	if err != nil {
		return nil, &Error{Server: c.Name(), Kind: KindTransport, Err: err}
	}
	return res, nil
}

func (c *Connector) ready() (*mcp.ClientSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return nil, &Error{Server: c.opts.Config.Name, Kind: KindNotConnected, Err: fmt.Errorf("state %s", c.status.State)}
	}
	return c.session, nil
}

// Close ends the session (and a stdio server's process).
func (c *Connector) Close() error {
	c.mu.Lock()
	cs := c.session
	c.session = nil
	c.status = Status{State: StateClosed, Since: time.Now()}
	c.mu.Unlock()
	if cs != nil {
		return cs.Close()
	}
	return nil
}
