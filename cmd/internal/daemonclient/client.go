// Package daemonclient is the CLI's side of the daemon's local API: it
// finds the daemon running for the config the CLI loaded, and makes the
// calls the CLI would otherwise make through its own orchestrator.
package daemonclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ErrRefused wraps the reason a socket was found but not used: it is not
// this user's alone, or the process on it is another user's. The CLI then
// works without the daemon and says why.
var ErrRefused = errors.New("not using the daemon socket")

// Client talks to one daemon over its socket.
type Client struct {
	socket string
	id     daemon.Identity
	http   *http.Client
}

// Find returns a client for the daemon serving the config at configPath
// with stateDir, listening at socket; nil and no error when no daemon
// serves this config there (no socket, nobody listening, or a daemon of
// another config). An error says a daemon is there but is not used: its
// socket is not safe (ErrRefused) or it does not answer in time.
func Find(ctx context.Context, configPath, stateDir, socket string) (*Client, error) {
	if _, err := os.Lstat(socket); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err := daemon.CheckPrivate(filepath.Dir(socket), true); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrRefused, socket, err)
	}
	if err := daemon.CheckPrivate(socket, false); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrRefused, socket, err)
	}
	id, err := daemon.IdentityOf(configPath, stateDir)
	if err != nil {
		return nil, nil // no config file: no daemon serves it
	}
	c := &Client{socket: socket, id: id}
	var refused error
	c.http = &http.Client{Transport: &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, err
			}
			uid, err := daemon.PeerUID(conn.(*net.UnixConn))
			if err == nil && uid != os.Getuid() {
				err = fmt.Errorf("the process listening on it is uid %d, not this user (uid %d)", uid, os.Getuid())
			}
			if err != nil {
				conn.Close()
				refused = fmt.Errorf("%w %s: %w", ErrRefused, socket, err)
				return nil, refused
			}
			return conn, nil
		},
	}}
	// One round trip before anything else, so that a daemon that is gone,
	// hangs or serves another config is known before any work is sent.
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, "http://daemon"+daemon.LocalPathHello, nil)
	if err != nil {
		return nil, err
	}
	id.SetHeaders(req.Header)
	resp, err := c.http.Do(req)
	switch {
	case err == nil:
	case refused != nil:
		return nil, refused
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, nil // a socket left behind by a daemon that is gone
	default:
		return nil, fmt.Errorf("the daemon on %s does not answer: %w", socket, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return c, nil
	case http.StatusConflict:
		return nil, nil // another config's daemon
	}
	return nil, fmt.Errorf("the daemon on %s answered %s", socket, resp.Status)
}

// helloTimeout bounds the first round trip: a daemon that does not answer
// it is not used.
const helloTimeout = 2 * time.Second

// Socket is the socket the client talks to.
func (c *Client) Socket() string { return c.socket }

// post sends body to path and decodes the answer into out. An error
// before the request was sent is a connection failure; after it, the
// work may have been done.
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://daemon"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	c.id.SetHeaders(req.Header)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the daemon on %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var we daemon.WireError
		if json.NewDecoder(resp.Body).Decode(&we) == nil && we.Message != "" {
			return fmt.Errorf("the daemon on %s refused the request: %s", c.socket, we.Message)
		}
		return fmt.Errorf("the daemon on %s answered %s", c.socket, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("the daemon on %s: reading its answer: %w", c.socket, err)
	}
	return nil
}

// LearnSecrets asks the daemon where texts, the CLI's own, hold a secret
// it knows (one request for all), and adds each such part to red: what
// the CLI journals and prints of them is then masked as it is when the
// CLI opens the keyring itself. The daemon answers places in texts, never
// a value.
func (c *Client) LearnSecrets(ctx context.Context, red *credentials.Redactor, texts []string) error {
	if len(texts) == 0 {
		return nil
	}
	var resp daemon.SpansResponse
	if err := c.post(ctx, daemon.LocalPathSecretSpans, &daemon.SpansRequest{Texts: texts}, &resp); err != nil {
		return fmt.Errorf("asking the daemon which inputs are secrets: %w", err)
	}
	if len(resp.Spans) != len(texts) {
		return fmt.Errorf("the daemon on %s answered %d span lists for %d texts", c.socket, len(resp.Spans), len(texts))
	}
	for i, spans := range resp.Spans {
		if err := c.learn(red, texts[i], spans); err != nil {
			return err
		}
	}
	return nil
}

// learn adds to red the parts of text that spans name, and the value
// each part decodes to: an encoded secret (a base64 input) is masked
// decoded too, as the keyring's redactor masks a value in every form.
func (c *Client) learn(red *credentials.Redactor, text string, spans []credentials.Span) error {
	for _, s := range spans {
		if s.Start < 0 || s.Start >= s.End || s.End > len(text) {
			return fmt.Errorf("the daemon on %s answered the span [%d, %d) for a text of %d bytes", c.socket, s.Start, s.End, len(text))
		}
		part := text[s.Start:s.End]
		red.Add(credentials.NewSecret(part))
		if v, ok := credentials.DecodeSpan(s.Form, part); ok {
			red.Add(credentials.NewSecret(v))
		}
	}
	return nil
}

// Orchestrator is the client as the subset of an orchestrator that the
// CLI's one-server commands use. Its calls are the daemon's
// orchestrator's: decided, made and audited there.
type Orchestrator struct {
	c *Client
	// servers are the states the last Connect brought back.
	servers []orchestrator.ServerStatus
	// auditErr is the failure to record the last call, which SyncAudit
	// reports.
	auditErr error
}

// Orchestrator returns the client as an orchestrator.
func (c *Client) Orchestrator() *Orchestrator { return &Orchestrator{c: c} }

// Call calls tool of server through the daemon.
func (o *Orchestrator) Call(ctx context.Context, server, tool string, args map[string]any) (*orchestrator.Result, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, &orchestrator.Error{Kind: orchestrator.KindInvalidArguments, Server: server, Tool: tool,
			Msg: fmt.Sprintf("arguments for %s cannot be encoded as JSON (nothing was sent)", orchestrator.QualifiedName(server, tool)), Err: err}
	}
	var resp daemon.CallResponse
	if err := o.c.post(ctx, daemon.LocalPathCall, &daemon.CallRequest{Server: server, Tool: tool, Arguments: raw}, &resp); err != nil {
		return nil, connErr(server, err)
	}
	o.auditErr = resp.AuditError.Err()
	var res *orchestrator.Result
	if resp.Result != nil {
		res = resp.Result.Orchestrator()
	}
	return res, resp.Error.Err()
}

// ReadResource reads the resource uri of server through the daemon; the
// URI is the user's own, so prov must be empty.
func (o *Orchestrator) ReadResource(ctx context.Context, server, uri string, prov orchestrator.Provenance) (*orchestrator.ResourceContents, error) {
	if !prov.IsZero() {
		return nil, fmt.Errorf("daemonclient: reading a resource with the provenance %v is not supported", prov.Servers())
	}
	var resp daemon.ReadResponse
	if err := o.c.post(ctx, daemon.LocalPathRead, &daemon.ReadRequest{Server: server, URI: uri}, &resp); err != nil {
		return nil, connErr(server, err)
	}
	o.auditErr = resp.AuditError.Err()
	var rc *orchestrator.ResourceContents
	if resp.Result != nil {
		rc = resp.Result.Orchestrator()
	}
	return rc, resp.Error.Err()
}

// Tools lists server's tools as the daemon's orchestrator sees them.
func (o *Orchestrator) Tools(ctx context.Context, server string) ([]orchestrator.ToolInfo, error) {
	var resp daemon.ToolsResponse
	if err := o.c.post(ctx, daemon.LocalPathTools, &daemon.ToolsRequest{Server: server}, &resp); err != nil {
		return nil, connErr(server, err)
	}
	return resp.Tools, resp.Error.Err()
}

// Connect has the daemon connect servers (every configured one when none
// are named), as orchestrator.Connect does, and keeps their states for
// Servers. A daemon that cannot be asked leaves the named servers failed
// with that error.
func (o *Orchestrator) Connect(ctx context.Context, servers ...string) {
	var resp daemon.ServersResponse
	if err := o.c.post(ctx, daemon.LocalPathServers, &daemon.ServersRequest{Connect: servers}, &resp); err != nil {
		o.servers = nil
		for _, name := range servers {
			o.servers = append(o.servers, orchestrator.ServerStatus{Name: name,
				Status: connectors.Status{State: connectors.StateFailed, Err: connErr(name, err), Since: time.Now()}})
		}
		return
	}
	o.servers = make([]orchestrator.ServerStatus, 0, len(resp.Servers))
	for i := range resp.Servers {
		o.servers = append(o.servers, resp.Servers[i].Orchestrator())
	}
}

// Servers is the states of the daemon's servers as the last Connect found
// them.
func (o *Orchestrator) Servers() []orchestrator.ServerStatus { return o.servers }

// OpenAudit does nothing: the daemon's orchestrator opens its audit log.
func (o *Orchestrator) OpenAudit(context.Context) error { return nil }

// SyncAudit reports the failure to record the last call, which the daemon
// waited for before answering it.
func (o *Orchestrator) SyncAudit(context.Context) error { return o.auditErr }

// Close releases the client's connection; the daemon's sessions stay.
func (o *Orchestrator) Close() error {
	o.c.http.CloseIdleConnections()
	return nil
}

// connErr classifies a failure to talk to the daemon as a connection
// failure of server (exit 3), as a server that cannot be reached is.
func connErr(server string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &orchestrator.Error{Kind: orchestrator.KindConnection, Server: server, Err: err}
}
