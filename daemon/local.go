package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The local API: JSON over HTTP on the daemon's Unix socket, for the CLI
// of the same user (docs/daemon.md). Every request carries the identity of
// the config the CLI loaded in the Identity headers; a daemon serving
// another config answers 409 and does nothing.
const (
	LocalPathHello = "/local/v1/hello"
	LocalPathCall  = "/local/v1/call"
	LocalPathTools = "/local/v1/tools"
	LocalPathRead  = "/local/v1/read"
	// LocalPathServers connects servers and answers their states.
	LocalPathServers = "/local/v1/servers"
	// LocalPathSecretSpans answers where the CLI's own texts hold a secret
	// the daemon knows (SpansRequest).
	LocalPathSecretSpans = "/local/v1/secret-spans"

	HeaderConfigPath   = "Mediator-Config-Path"
	HeaderConfigSHA256 = "Mediator-Config-Sha256"
	HeaderStateDir     = "Mediator-State-Dir"
)

// maxLocalBody bounds a request body: a call's arguments.
const maxLocalBody = 16 << 20

// Identity names the config a daemon serves: the config file's absolute
// path, the SHA-256 of its content, and the state dir. The CLI uses a
// daemon only when all three are those of the config it loaded.
type Identity struct {
	ConfigPath   string `json:"config_path"`
	ConfigSHA256 string `json:"config_sha256"`
	StateDir     string `json:"state_dir"`
}

// IdentityOf reads the config file at path and returns its identity with
// stateDir (both made absolute).
func IdentityOf(path, stateDir string) (Identity, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Identity{}, err
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return Identity{}, fmt.Errorf("reading the config for its identity: %w", err)
	}
	sum := sha256.Sum256(b)
	sd, err := filepath.Abs(stateDir)
	if err != nil {
		return Identity{}, err
	}
	return Identity{ConfigPath: abs, ConfigSHA256: hex.EncodeToString(sum[:]), StateDir: sd}, nil
}

// SetHeaders puts id on a request.
func (id Identity) SetHeaders(h http.Header) {
	h.Set(HeaderConfigPath, id.ConfigPath)
	h.Set(HeaderConfigSHA256, id.ConfigSHA256)
	h.Set(HeaderStateDir, id.StateDir)
}

func identityFrom(h http.Header) Identity {
	return Identity{ConfigPath: h.Get(HeaderConfigPath), ConfigSHA256: h.Get(HeaderConfigSHA256), StateDir: h.Get(HeaderStateDir)}
}

// CallRequest is the body of POST /local/v1/call.
type CallRequest struct {
	Server    string          `json:"server"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// CallResponse is the answer to a call: what orchestrator.Call returned
// (Result and Error may both be set), and AuditError, the failure to write
// the call's audit record, which the daemon waits for before answering.
type CallResponse struct {
	Result     *WireResult `json:"result,omitempty"`
	Error      *WireError  `json:"error,omitempty"`
	AuditError *WireError  `json:"audit_error,omitempty"`
}

// WireResult is an orchestrator.Result.
type WireResult struct {
	Server     string              `json:"server"`
	Tool       string              `json:"tool"`
	CallID     string              `json:"call_id"`
	Duration   time.Duration       `json:"duration_ns"`
	Provenance []string            `json:"provenance,omitempty"`
	Result     *mcp.CallToolResult `json:"result"`
}

// Orchestrator returns the result as the orchestrator returned it.
func (w *WireResult) Orchestrator() *orchestrator.Result {
	return &orchestrator.Result{Server: w.Server, Tool: w.Tool, CallID: w.CallID, Duration: w.Duration,
		Provenance: orchestrator.ProvenanceOf(w.Provenance...), CallToolResult: w.Result}
}

// ReadRequest is the body of POST /local/v1/read: a resource the user
// named (its URI carries no server's data).
type ReadRequest struct {
	Server string `json:"server"`
	URI    string `json:"uri"`
}

// ReadResponse is what orchestrator.ReadResource returned, as
// CallResponse is for a call.
type ReadResponse struct {
	Result     *WireContents `json:"result,omitempty"`
	Error      *WireError    `json:"error,omitempty"`
	AuditError *WireError    `json:"audit_error,omitempty"`
}

// WireContents is an orchestrator.ResourceContents.
type WireContents struct {
	Server     string                  `json:"server"`
	URI        string                  `json:"uri"`
	CallID     string                  `json:"call_id"`
	Duration   time.Duration           `json:"duration_ns"`
	Provenance []string                `json:"provenance,omitempty"`
	Result     *mcp.ReadResourceResult `json:"result"`
}

// Orchestrator returns the contents as the orchestrator returned them.
func (w *WireContents) Orchestrator() *orchestrator.ResourceContents {
	return &orchestrator.ResourceContents{Server: w.Server, URI: w.URI, CallID: w.CallID, Duration: w.Duration,
		Provenance: orchestrator.ProvenanceOf(w.Provenance...), ReadResourceResult: w.Result}
}

// ServersRequest is the body of POST /local/v1/servers: the servers to
// connect (every configured one when empty) before answering.
type ServersRequest struct {
	Connect []string `json:"connect,omitempty"`
}

// ServersResponse is orchestrator.Servers after connecting.
type ServersResponse struct {
	Servers []WireServerStatus `json:"servers"`
}

// WireServerStatus is an orchestrator.ServerStatus.
type WireServerStatus struct {
	Name            string                  `json:"name"`
	Transport       string                  `json:"transport,omitempty"`
	Endpoint        string                  `json:"endpoint,omitempty"`
	Sandbox         connectors.SandboxState `json:"sandbox"`
	State           connectors.State        `json:"state"`
	Err             *WireError              `json:"error,omitempty"`
	Since           time.Time               `json:"since"`
	ServerInfo      *mcp.Implementation     `json:"server_info,omitempty"`
	ProtocolVersion string                  `json:"protocol_version,omitempty"`
	Tools           int                     `json:"tools"`
	ToolsErr        *WireError              `json:"tools_error,omitempty"`
}

// Orchestrator returns the status as the orchestrator reported it.
func (w *WireServerStatus) Orchestrator() orchestrator.ServerStatus {
	return orchestrator.ServerStatus{Name: w.Name, Transport: w.Transport, Endpoint: w.Endpoint, Sandbox: w.Sandbox,
		Status: connectors.Status{State: w.State, Err: w.Err.Err(), Since: w.Since, ServerInfo: w.ServerInfo, ProtocolVersion: w.ProtocolVersion},
		Tools:  w.Tools, ToolsErr: w.ToolsErr.Err()}
}

// SpansRequest is the body of POST /local/v1/secret-spans: texts of the
// CLI's own (a run's inputs, its flow files) that it is about to journal
// and print. The CLI that uses the daemon has not opened the keyring, so
// its redactor knows no secret; the answer tells it which parts of its
// texts to mask.
type SpansRequest struct {
	Texts []string `json:"texts"`
}

// SpansResponse holds, for each text of the request in order, where it
// holds a secret the daemon knows and in which form the daemon masks it
// (credentials.Redactor.Spans): places in the CLI's own texts, never a
// value.
type SpansResponse struct {
	Spans [][]credentials.Span `json:"spans"`
}

// ToolsRequest is the body of POST /local/v1/tools.
type ToolsRequest struct {
	Server string `json:"server"`
}

// ToolsResponse is what orchestrator.Tools returned.
type ToolsResponse struct {
	Tools []orchestrator.ToolInfo `json:"tools,omitempty"`
	Error *WireError              `json:"error,omitempty"`
}

// WireError carries an error across the socket: its message as the
// daemon's orchestrator wrote it (secrets masked) and what the CLI needs
// to classify it as the error itself would be: the orchestrator's kind
// and fields, the connector's kind, or a canceled context.
type WireError struct {
	Message       string              `json:"message"`
	Kind          orchestrator.Kind   `json:"kind,omitempty"`
	ConnectorKind connectors.Kind     `json:"connector_kind,omitempty"`
	Server        string              `json:"server,omitempty"`
	Tool          string              `json:"tool,omitempty"`
	Field         string              `json:"field,omitempty"`
	Suggestions   []string            `json:"suggestions,omitempty"`
	Flows         []orchestrator.Flow `json:"flows,omitempty"`
	Canceled      bool                `json:"canceled,omitempty"`
}

// wireError encodes err; nil stays nil.
func wireError(err error, red *credentials.Redactor) *WireError {
	if err == nil {
		return nil
	}
	w := &WireError{Message: red.Redact(err.Error()), Canceled: errors.Is(err, context.Canceled)}
	var oe *orchestrator.Error
	var ce *connectors.Error
	if errors.As(err, &oe) {
		w.Kind, w.ConnectorKind = oe.Kind, oe.ConnectorKind()
		w.Server, w.Tool, w.Field, w.Suggestions, w.Flows = oe.Server, oe.Tool, oe.Field, oe.Suggestions, oe.Flows
	} else if errors.As(err, &ce) {
		w.ConnectorKind, w.Server = ce.Kind, ce.Server
	}
	return w
}

// Err rebuilds the error: its text is Message, and errors.As and
// errors.Is find in it the *orchestrator.Error, *connectors.Error and
// context.Canceled that the daemon's error held, so a front end picks the
// same exit code.
func (w *WireError) Err() error {
	if w == nil {
		return nil
	}
	var inner error
	if w.ConnectorKind != "" {
		inner = &connectors.Error{Server: w.Server, Kind: w.ConnectorKind, Err: errors.New(w.Message)}
	}
	if w.Kind != "" {
		inner = &orchestrator.Error{Kind: w.Kind, Server: w.Server, Tool: w.Tool, Field: w.Field,
			Suggestions: w.Suggestions, Flows: w.Flows, Msg: w.Message, Err: inner}
	}
	if w.Canceled {
		inner = errors.Join(inner, context.Canceled)
	}
	return &RemoteError{Message: w.Message, inner: inner}
}

// RemoteError is an error the daemon reported: its text is the daemon's,
// and it unwraps to the classification WireError.Err rebuilt.
type RemoteError struct {
	Message string
	inner   error
}

func (e *RemoteError) Error() string { return e.Message }
func (e *RemoteError) Unwrap() error { return e.inner }

// LocalOptions configure the local API.
type LocalOptions struct {
	// Identity is the config the daemon serves; requests for another are
	// refused (409).
	Identity Identity
	// Redactor masks the secrets the daemon knows in every answer: the
	// CLI on the other end has not opened the keyring.
	Redactor *credentials.Redactor
	Logger   *slog.Logger
}

// LocalHandler serves the CLI's warm calls with orch, which decides,
// calls and audits exactly as the CLI's own orchestrator would.
// Elicitation and sampling are answered by orch's Host, and a call's
// progress is not relayed.
func LocalHandler(orch *orchestrator.Orchestrator, opts LocalOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &localHandler{orch: orch, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LocalPathHello, h.hello)
	mux.HandleFunc("POST "+LocalPathCall, h.call)
	mux.HandleFunc("POST "+LocalPathTools, h.tools)
	mux.HandleFunc("POST "+LocalPathRead, h.read)
	mux.HandleFunc("POST "+LocalPathServers, h.servers)
	mux.HandleFunc("POST "+LocalPathSecretSpans, h.secretSpans)
	h.mountFlow(mux)
	return h.checkIdentity(mux)
}

// ServeLocal serves LocalHandler on ln until ctx ends, then stops
// accepting and waits up to a few seconds for calls under way.
func ServeLocal(ctx context.Context, ln net.Listener, orch *orchestrator.Orchestrator, opts LocalOptions) error {
	srv := &http.Server{Handler: LocalHandler(orch, opts), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	close(done)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type localHandler struct {
	orch *orchestrator.Orchestrator
	opts LocalOptions
}

func (h *localHandler) checkIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := identityFrom(r.Header); got != h.opts.Identity {
			writeLocalJSON(w, http.StatusConflict, &WireError{Message: fmt.Sprintf(
				"this daemon serves config %s (state dir %s), not the one the request names", h.opts.Identity.ConfigPath, h.opts.Identity.StateDir)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *localHandler) hello(w http.ResponseWriter, _ *http.Request) {
	writeLocalJSON(w, http.StatusOK, h.opts.Identity)
}

func (h *localHandler) call(w http.ResponseWriter, r *http.Request) {
	var req CallRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	args := map[string]any{}
	if len(req.Arguments) > 0 && !bytes.Equal(req.Arguments, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(req.Arguments))
		dec.UseNumber()
		if err := dec.Decode(&args); err != nil {
			writeLocalJSON(w, http.StatusBadRequest, &WireError{Message: "arguments: not a JSON object: " + err.Error()})
			return
		}
		localPlainNumbers(args)
	}
	ctx := r.Context()
	res, err := h.orch.Call(ctx, req.Server, req.Tool, args)
	out := CallResponse{Error: wireError(err, h.opts.Redactor)}
	if res != nil {
		masked, merr := h.redactResult(res.CallToolResult)
		if merr != nil {
			// The call happened and is audited; its answer cannot be
			// shown safely.
			h.opts.Logger.Error("a call's result could not be masked", "server", req.Server, "tool", req.Tool, "error", merr)
			out.Error = &WireError{Message: h.opts.Redactor.Redact(fmt.Sprintf("%s answered, but its result could not be masked for display: %v", orchestrator.QualifiedName(req.Server, req.Tool), merr)),
				Kind: orchestrator.KindServer, Server: req.Server, Tool: req.Tool}
			writeLocalJSON(w, http.StatusOK, &out)
			return
		}
		out.Result = &WireResult{Server: res.Server, Tool: res.Tool, CallID: res.CallID, Duration: res.Duration,
			Provenance: res.Provenance.Servers(), Result: masked}
		if err == nil {
			// The CLI reports a lost record as its command's error.
			out.AuditError = wireError(h.orch.SyncAudit(ctx), h.opts.Redactor)
		}
	}
	writeLocalJSON(w, http.StatusOK, &out)
}

func (h *localHandler) read(w http.ResponseWriter, r *http.Request) {
	var req ReadRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	ctx := r.Context()
	rc, err := h.orch.ReadResource(ctx, req.Server, req.URI, orchestrator.Provenance{})
	out := ReadResponse{Error: wireError(err, h.opts.Redactor)}
	if rc != nil {
		masked, merr := h.redactContents(rc.ReadResourceResult)
		if merr != nil {
			h.opts.Logger.Error("a resource could not be masked", "server", req.Server, "error", merr)
			out.Error = &WireError{Message: h.opts.Redactor.Redact(fmt.Sprintf("server %q answered, but resource %q could not be masked for display: %v", req.Server, req.URI, merr)),
				Kind: orchestrator.KindServer, Server: req.Server}
			writeLocalJSON(w, http.StatusOK, &out)
			return
		}
		out.Result = &WireContents{Server: rc.Server, URI: rc.URI, CallID: rc.CallID, Duration: rc.Duration,
			Provenance: rc.Provenance.Servers(), Result: masked}
		if err == nil {
			out.AuditError = wireError(h.orch.SyncAudit(ctx), h.opts.Redactor)
		}
	}
	writeLocalJSON(w, http.StatusOK, &out)
}

func (h *localHandler) servers(w http.ResponseWriter, r *http.Request) {
	var req ServersRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	h.orch.Connect(r.Context(), req.Connect...)
	out := ServersResponse{Servers: []WireServerStatus{}}
	for _, st := range h.orch.Servers() {
		out.Servers = append(out.Servers, WireServerStatus{Name: st.Name, Transport: st.Transport, Endpoint: st.Endpoint,
			Sandbox: st.Sandbox, State: st.State, Err: wireError(st.Err, h.opts.Redactor), Since: st.Since,
			ServerInfo: st.ServerInfo, ProtocolVersion: st.ProtocolVersion, Tools: st.Tools, ToolsErr: wireError(st.ToolsErr, h.opts.Redactor)})
	}
	writeLocalJSON(w, http.StatusOK, &out)
}

func (h *localHandler) secretSpans(w http.ResponseWriter, r *http.Request) {
	var req SpansRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	out := SpansResponse{Spans: make([][]credentials.Span, len(req.Texts))}
	for i, text := range req.Texts {
		out.Spans[i] = h.opts.Redactor.Spans(text)
	}
	writeLocalJSON(w, http.StatusOK, &out)
}

func (h *localHandler) tools(w http.ResponseWriter, r *http.Request) {
	var req ToolsRequest
	if !decodeLocalBody(w, r, &req) {
		return
	}
	tools, err := h.orch.Tools(r.Context(), req.Server)
	writeLocalJSON(w, http.StatusOK, &ToolsResponse{Tools: tools, Error: wireError(err, h.opts.Redactor)})
}

// SecretFill is what a binary block holding a secret is filled with in an
// answer of the local API, repeated to the block's length: four bytes
// that never occur in UTF-8 text. The CLI's redactor knows it as a
// secret, so it saves no such block and says why, as it would with the
// secret itself.
const SecretFill = "\xff\xfe\xfd\xfc"

// maskBinary returns b, or, when b holds a secret red knows, a block of
// its length filled with SecretFill.
func maskBinary(red *credentials.Redactor, b []byte) []byte {
	if bytes.Equal(red.RedactBytes(b), b) {
		return b
	}
	out := make([]byte, len(b))
	for i := range out {
		out[i] = SecretFill[i%len(SecretFill)]
	}
	return out
}

// redactResult masks every secret the daemon knows in res, as the CLI
// masks what it prints: in every text, and in binary blocks (maskBinary).
func (h *localHandler) redactResult(res *mcp.CallToolResult) (*mcp.CallToolResult, error) {
	if res == nil {
		return nil, nil
	}
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.ImageContent:
			c.Data = maskBinary(h.opts.Redactor, c.Data)
		case *mcp.AudioContent:
			c.Data = maskBinary(h.opts.Redactor, c.Data)
		case *mcp.EmbeddedResource:
			if c.Resource != nil {
				c.Resource.Blob = maskBinary(h.opts.Redactor, c.Resource.Blob)
			}
		}
	}
	return redactJSON(h.opts.Redactor, res)
}

// redactContents is redactResult for a resource's contents.
func (h *localHandler) redactContents(res *mcp.ReadResourceResult) (*mcp.ReadResourceResult, error) {
	if res == nil {
		return nil, nil
	}
	for _, c := range res.Contents {
		if c != nil {
			c.Blob = maskBinary(h.opts.Redactor, c.Blob)
		}
	}
	return redactJSON(h.opts.Redactor, res)
}

// redactJSON masks every text of v (strings, object keys, numbers) in its
// JSON form but the base64 of binary blocks ("data", "blob"), which
// redactResult masked as bytes, and decodes it back. It fails rather than
// return anything unmasked.
func redactJSON[T any](red *credentials.Redactor, v *T) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the answer to mask it: %w", err)
	}
	if red == nil || bytes.Equal(red.RedactBytes(b), b) {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decoding the answer to mask it: %w", err)
	}
	b, err = json.Marshal(redactTree(red, tree, false))
	if err != nil {
		return nil, fmt.Errorf("encoding the masked answer: %w", err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding the masked answer: %w", err)
	}
	return &out, nil
}

// redactTree masks v's texts; binary says v is a binary block's base64.
func redactTree(red *credentials.Redactor, v any, binary bool) any {
	switch x := v.(type) {
	case string:
		if binary {
			return x
		}
		return red.Redact(x)
	case json.Number:
		if m := red.Redact(string(x)); m != string(x) {
			return m
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = redactTree(red, e, false)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[red.Redact(k)] = redactTree(red, e, k == "data" || k == "blob")
		}
		return out
	}
	return v
}

func decodeLocalBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLocalBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeLocalJSON(w, http.StatusBadRequest, &WireError{Message: "malformed request: " + err.Error()})
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeLocalJSON(w, http.StatusBadRequest, &WireError{Message: "malformed request: more than one JSON value"})
		return false
	}
	return true
}

func writeLocalJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// plainNumbers turns json.Number into int64 when integral, else float64,
// as the CLI decodes arguments.
func localPlainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = localPlainNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = localPlainNumbers(e)
		}
	}
	return v
}
