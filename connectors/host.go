package connectors

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/termtext"
)

// Host is what a front end does for the requests and notifications a
// server sends to mediator. Every field is optional. A client feature is
// advertised to a server only when its handler is set here and the
// server's own setting (Config.Sampling, Config.Elicitation) permits it;
// a request for a feature that is not advertised is refused with a
// JSON-RPC error and logged, and no handler sees it.
//
// Handlers are called on the connector's goroutines, concurrently for
// concurrent requests; each request names the server it came from.
// Everything in a request is the server's: untrusted text.
type Host struct {
	// Sample answers sampling/createMessage: it shows the request to the
	// user when req.Ask is set, and sends it to a model. Returning a
	// *jsonrpc.Error sends that error (use [ErrUserRejected] when the
	// user declines); another error is sent as an internal error.
	Sample func(ctx context.Context, req *SamplingRequest) (*mcp.CreateMessageWithToolsResult, error)
	// Elicit answers elicitation/create: it asks the user and returns
	// their answer (accept with content, decline or cancel). An accepted
	// form answer is checked against the requested schema before it is
	// sent ([ValidateElicitation]); one that fails is not sent.
	Elicit func(ctx context.Context, req *ElicitationRequest) (*mcp.ElicitResult, error)
	// ElicitURL says Elicit handles URL mode too; form mode is always
	// supported when Elicit is set.
	ElicitURL bool

	// ToolsChanged, PromptsChanged and ResourcesChanged are told of the
	// server's list_changed notifications, ResourceUpdated of
	// notifications/resources/updated (after the callbacks of
	// Connector.Subscribe for the URI). They must not block: the session
	// reads no other message until they return; start a goroutine for
	// work such as listing again.
	ToolsChanged     func(server string)
	PromptsChanged   func(server string)
	ResourcesChanged func(server string)
	ResourceUpdated  func(server, uri string)

	// Log is handed each notifications/message of the server, after the
	// connector logged it (masked, stripped of terminal controls). The
	// message is the server's, untouched: untrusted. With Log set the
	// server is asked for every level (debug); the front end filters. It
	// must not block, as ToolsChanged.
	Log func(server string, msg *mcp.LoggingMessageParams)
}

// SamplingRequest is one sampling/createMessage from a server, with the
// server's sampling setting applied: MaxTokens is already capped.
type SamplingRequest struct {
	Server string
	Params *mcp.CreateMessageWithToolsParams
	// Ask is set when the server's setting is "ask": nothing may go to a
	// model before the user approved the request.
	Ask bool
	// Models are the models the answer may come from (the server's
	// sampling.models); empty means any. An answer naming another model
	// is not sent.
	Models []string
}

// ElicitationRequest is one elicitation/create from a server.
type ElicitationRequest struct {
	Server string
	Params *mcp.ElicitParams
}

// Per-server settings of the client features.
const (
	SamplingDeny  = "deny"  // the default: sampling is not offered
	SamplingAsk   = "ask"   // every request needs the user's approval
	SamplingAllow = "allow" // requests go to a model without asking, within the caps

	ElicitationDeny = "deny" // elicitation is not offered
	ElicitationAsk  = "ask"  // the default: the front end asks the user
)

// SamplingConfig is a server's `sampling` setting.
type SamplingConfig struct {
	// Mode is SamplingDeny (the default when empty), SamplingAsk or
	// SamplingAllow.
	Mode string
	// MaxTokens caps the tokens a request may ask for (0: the server's
	// own maxTokens stands); it applies in ask mode too.
	MaxTokens int64
	// Models lists the models the server's requests may be answered by;
	// empty means any the front end offers.
	Models []string
}

// ErrUserRejected is the JSON-RPC error a declined sampling request is
// answered with (the spec's code -1).
var ErrUserRejected = &jsonrpc.Error{Code: -1, Message: "the user rejected the request"}

// Methods of the requests a server sends to the client.
const (
	methodSampling    = "sampling/createMessage"
	methodElicitation = "elicitation/create"
	methodRoots       = "roots/list"
	methodLog         = "notifications/message"
	methodProgress    = "notifications/progress"
)

// hostOptions fills opts with the handlers and capabilities this
// connector offers its server: each feature only when the front end
// handles it and the server's setting permits it.
func (c *Connector) hostOptions(opts *mcp.ClientOptions, roots []*mcp.Root) {
	h := c.opts.Host
	caps := opts.Capabilities
	if c.sampling() {
		opts.CreateMessageWithToolsHandler = c.sample
	}
	if c.elicitation() {
		opts.ElicitationHandler = c.elicit
		if h.ElicitURL {
			caps.Elicitation = &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}}
		}
	}
	if len(roots) > 0 {
		caps.RootsV2 = &mcp.RootCapabilities{ListChanged: true}
	}
	opts.ProgressNotificationHandler = c.progressed
	opts.LoggingMessageHandler = c.logged
	name := c.cfg.Name
	if f := h.ToolsChanged; f != nil {
		opts.ToolListChangedHandler = func(context.Context, *mcp.ToolListChangedRequest) { f(name) }
	}
	if f := h.PromptsChanged; f != nil {
		opts.PromptListChangedHandler = func(context.Context, *mcp.PromptListChangedRequest) { f(name) }
	}
	if f := h.ResourcesChanged; f != nil {
		opts.ResourceListChangedHandler = func(context.Context, *mcp.ResourceListChangedRequest) { f(name) }
	}
}

func (c *Connector) sampling() bool {
	return c.opts.Host.Sample != nil && c.cfg.Sampling.Mode != SamplingDeny
}

func (c *Connector) elicitation() bool {
	return c.opts.Host.Elicit != nil && c.cfg.Elicitation != ElicitationDeny
}

// refuseUnoffered is receiving middleware that answers a request for a
// feature this connector does not offer with a JSON-RPC error, and logs
// it. go-sdk would answer roots/list even without the capability, and
// log nothing for the others.
func (c *Connector) refuseUnoffered(rootsOffered bool) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			var why string
			switch method {
			case methodSampling:
				if !c.sampling() {
					why = c.unofferedReason("sampling", c.opts.Host.Sample != nil, c.cfg.Sampling.Mode)
				}
			case methodElicitation:
				if !c.elicitation() {
					why = c.unofferedReason("elicitation", c.opts.Host.Elicit != nil, c.cfg.Elicitation)
				}
			case methodRoots:
				if !rootsOffered {
					why = fmt.Sprintf("no roots are configured for this server (servers.%s.roots)", c.cfg.Name)
				}
			}
			if why == "" {
				return next(ctx, method, req)
			}
			c.log.Warn("refused a request from the server", "method", method, "reason", why)
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "mediator does not offer " + method + " to this server: " + why}
		}
	}
}

// unofferedReason says why a feature is not offered: the server's setting
// or a front end that does not handle it.
func (c *Connector) unofferedReason(feature string, handled bool, setting string) string {
	if handled && setting == "deny" {
		return fmt.Sprintf("servers.%s.%s is deny", c.cfg.Name, feature)
	}
	return "this front end does not handle " + feature
}

// sample applies the server's sampling setting around Host.Sample.
func (c *Connector) sample(ctx context.Context, r *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
	s := c.cfg.Sampling
	if r.Params == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "sampling/createMessage without params"}
	}
	p := *r.Params
	if s.MaxTokens > 0 && (p.MaxTokens <= 0 || p.MaxTokens > s.MaxTokens) {
		p.MaxTokens = s.MaxTokens
	}
	req := &SamplingRequest{Server: c.cfg.Name, Params: &p, Ask: s.Mode != SamplingAllow, Models: slices.Clone(s.Models)}
	res, err := c.opts.Host.Sample(ctx, req)
	if err != nil {
		return nil, c.hostError(methodSampling, err)
	}
	if res == nil {
		return nil, c.hostError(methodSampling, errors.New("the front end gave no answer"))
	}
	if len(s.Models) > 0 && !slices.Contains(s.Models, res.Model) {
		c.log.Warn("refused a sampling answer from a model the server may not use", "model", termtext.Sanitize(res.Model), "allowed", strings.Join(s.Models, ", "))
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the answer came from a model this server's requests may not use; nothing was sent"}
	}
	return res, nil
}

// elicit checks the mode against what is advertised, asks Host.Elicit,
// and sends an accepted form answer only if it matches the requested
// schema.
func (c *Connector) elicit(ctx context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	if r.Params == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "elicitation/create without params"}
	}
	mode := r.Params.Mode
	if mode == "" {
		mode = "form"
	}
	switch {
	case mode == "form":
	case mode == "url" && c.opts.Host.ElicitURL:
	default:
		c.log.Warn("refused a request from the server", "method", methodElicitation, "reason", "undeclared elicitation mode", "mode", termtext.Sanitize(mode))
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("elicitation mode %q is not supported by this client", mode)}
	}
	res, err := c.opts.Host.Elicit(ctx, &ElicitationRequest{Server: c.cfg.Name, Params: r.Params})
	if err != nil {
		return nil, c.hostError(methodElicitation, err)
	}
	if res == nil {
		return nil, c.hostError(methodElicitation, errors.New("the front end gave no answer"))
	}
	if res.Action != "accept" || mode != "form" {
		return &mcp.ElicitResult{Action: res.Action}, nil
	}
	content, err := ValidateElicitation(r.Params.RequestedSchema, res.Content)
	if err != nil {
		// The reason may quote the values; they stay out of the log.
		c.log.Warn("an elicitation answer did not match the requested schema; it was not sent", "method", methodElicitation)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the answer did not match the requested schema; nothing was sent"}
	}
	return &mcp.ElicitResult{Action: res.Action, Content: content}, nil
}

// hostError is what the server is sent when the front end's handler
// failed: its *jsonrpc.Error as it is, another error as an internal error
// whose text stays in mediator's log (it may say more than the server
// should learn).
func (c *Connector) hostError(method string, err error) error {
	var je *jsonrpc.Error
	if errors.As(err, &je) {
		c.log.Info("the front end refused a request from the server", "method", method, "code", je.Code)
		return je
	}
	c.log.Warn("handling a request from the server failed", "method", method, "error", c.redactor.Redact(err.Error()))
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: method + " failed in the client"}
}

// ValidateElicitation returns a form answer as it is sent: with the
// requested schema's defaults filled in for what the answer leaves out,
// and checked against that schema. A front end checks an answer with it
// before returning it; the connector checks it again before sending. The
// error may quote the answer's values.
func ValidateElicitation(requested any, content map[string]any) (map[string]any, error) {
	out := maps.Clone(content)
	if out == nil {
		out = map[string]any{}
	}
	if requested == nil {
		return out, nil
	}
	schema, err := ElicitationSchema(requested)
	if err != nil {
		return nil, err
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("the requested schema: %w", err)
	}
	if err := resolved.ApplyDefaults(&out); err != nil {
		return nil, fmt.Errorf("applying the schema's defaults: %w", err)
	}
	if err := resolved.Validate(out); err != nil {
		return nil, err
	}
	// The validator leaves formats alone; a form's strings may have one.
	for name, p := range schema.Properties {
		if v, ok := out[name].(string); ok && p != nil {
			if err := checkFormat(p.Format, v); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return out, nil
}

// checkFormat checks a string against an elicitation form's format
// (email, uri, date, date-time); other formats pass.
func checkFormat(format, v string) error {
	switch format {
	case "email":
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			return errors.New("not an email address")
		}
	case "uri":
		if u, err := url.Parse(v); err != nil || u.Scheme == "" {
			return errors.New("not a URI (with a scheme, such as https:)")
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return errors.New("not a date (YYYY-MM-DD)")
		}
	case "date-time":
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return errors.New("not a date and time (RFC 3339, e.g. 2026-05-01T10:00:00Z)")
		}
	}
	return nil
}

// ElicitationSchema decodes a requested schema (as go-sdk hands it over)
// into a *jsonschema.Schema.
func ElicitationSchema(requested any) (*jsonschema.Schema, error) {
	if s, ok := requested.(*jsonschema.Schema); ok {
		return s, nil
	}
	b, err := json.Marshal(requested)
	if err != nil {
		return nil, fmt.Errorf("the requested schema: %w", err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("the requested schema: %w", err)
	}
	return &s, nil
}

// logMaxRunes bounds how much of one server log message is logged.
const logMaxRunes = 2000

// logged writes a server's notifications/message to the connector's log
// at its level, its text redacted and stripped of terminal controls, then
// hands it to Host.Log.
func (c *Connector) logged(_ context.Context, r *mcp.LoggingMessageRequest) {
	defer c.notices.done()
	p := r.Params
	if p == nil {
		return
	}
	if f := c.opts.Host.Log; f != nil {
		defer f(c.cfg.Name, p)
	}
	var text string
	switch d := p.Data.(type) {
	case string:
		text = d
	default:
		b, _ := json.Marshal(d)
		text = string(b)
	}
	text = strings.ReplaceAll(termtext.Sanitize(c.redactor.Redact(text)), "\n", " ")
	if r := []rune(text); len(r) > logMaxRunes {
		text = string(r[:logMaxRunes]) + "…"
	}
	attrs := []any{"message", text, "server_level", string(p.Level)}
	if p.Logger != "" {
		attrs = append(attrs, "logger", termtext.Sanitize(c.redactor.Redact(p.Logger)))
	}
	c.log.Log(context.Background(), logLevel(p.Level), "server log", attrs...)
}

// protocolStateless is the first protocol version without logging/setLevel:
// a request asks for the server's logs in its own _meta.
const protocolStateless = "2026-07-28"

// serverLogLevel is the least severe level of the server's logs the
// connector's log keeps, or debug when Host.Log takes them: what it asks
// the server to send; "" when nothing keeps them, and then nothing is
// asked for. The logger is fixed at New, so this is decided once.
func (c *Connector) serverLogLevel() mcp.LoggingLevel {
	c.logLevelOnce.Do(func() {
		ctx := context.Background()
		switch {
		case c.opts.Host.Log != nil || c.log.Enabled(ctx, slog.LevelDebug):
			c.logLevel = "debug"
		case c.log.Enabled(ctx, slog.LevelInfo):
			c.logLevel = "info"
		case c.log.Enabled(ctx, slog.LevelWarn):
			c.logLevel = "warning"
		case c.log.Enabled(ctx, slog.LevelError):
			c.logLevel = "error"
		}
	})
	return mcp.LoggingLevel(c.logLevel)
}

// askForLogs asks a server that offers logging to send its logs at the
// level the connector's log keeps: once per session on protocols with
// logging/setLevel (here), in each request's _meta on later ones
// (logMeta). A server that refuses is only noted: its logs are a
// courtesy.
func (c *Connector) askForLogs(ctx context.Context, cs *mcp.ClientSession) {
	ir := cs.InitializeResult()
	if ir == nil || ir.Capabilities == nil || ir.Capabilities.Logging == nil || ir.ProtocolVersion >= protocolStateless || c.serverLogLevel() == "" {
		return
	}
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: c.serverLogLevel()}); err != nil {
		c.log.Debug("the server refused logging/setLevel", "error", c.redactor.Redact(err.Error()))
	}
}

// logMeta adds the log level to a request's _meta on protocols where a
// request asks for logs itself.
func (c *Connector) logMeta(cs *mcp.ClientSession, meta mcp.Meta) mcp.Meta {
	ir := cs.InitializeResult()
	if ir == nil || ir.Capabilities == nil || ir.Capabilities.Logging == nil || ir.ProtocolVersion < protocolStateless || c.serverLogLevel() == "" {
		return meta
	}
	if _, set := meta[mcp.MetaKeyLogLevel]; set {
		return meta
	}
	if meta == nil {
		meta = mcp.Meta{}
	}
	meta[mcp.MetaKeyLogLevel] = c.serverLogLevel()
	return meta
}

// logLevel maps an MCP (syslog) level onto slog's four.
func logLevel(l mcp.LoggingLevel) slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "info", "notice":
		return slog.LevelInfo
	case "warning":
		return slog.LevelWarn
	}
	return slog.LevelError
}
