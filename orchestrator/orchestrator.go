// Package orchestrator is mediator's core: it holds one connector per
// server, keeps the tool catalogue, decides whether a call is allowed,
// validates its arguments, makes the call, and writes the audit log. Every
// cross-server data flow passes through here.
//
// # Data-flow policy
//
// Data that came from server A may be sent to server B only if "A -> B" is
// allowed. The rule is decided in one place, checkFlow (policy.go), for
// every request that carries a caller's data to a server, before anything
// of it is sent. A request carries its Provenance, the servers whose output
// went into it (CallWith's CallOptions.Provenance; Call and CallWithMeta
// carry none, as data the user typed). A flow is allowed by the config's
// Options.Policy, by the caller's Session (the flows a flow file declares),
// or by an approval: the Session's Approver (else Options.Approver) is
// asked about what neither allows and answers ApprovalDeny, ApprovalOnce or
// ApprovalSession, which the Session remembers for that flow into that
// target. Without an approver such a
// request is refused with a KindFlowRefused *Error naming the servers, the
// request and the line to add. The request's context carries its Session
// (WithSession): a chat holds one per conversation, `mediator serve` one per
// host session; a request without one uses the orchestrator's own.
// Every decision, allowed or refused, is in the request's audit record
// (sources and what allowed each), never the data. A Result's Provenance is
// its server plus its arguments' provenance, since a tool may echo what it
// got; a front end that sends it on carries that provenance with it.
package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
)

// ServerConfig is one server as the orchestrator sees it: how to connect,
// plus which of its tools may be called.
type ServerConfig struct {
	connectors.Config
	Tools ToolFilter
	// Resources filters the resources that may be read, by URI; Prompts,
	// the prompts that may be got, by name. Same globs as Tools, but a
	// final "**" matches the rest of a URI, "/" included.
	Resources ToolFilter
	Prompts   ToolFilter
	// NewTransport, when set, connects to an in-process server instead of
	// Config's URL or command (see connectors.Options.NewTransport).
	NewTransport func(ctx context.Context) (mcp.Transport, error)
	// Stderr receives this stdio server's stderr, so a front end can tell
	// servers' lines apart; nil falls back to Options.Stderr.
	Stderr io.Writer
	// MaxTools caps the tools mediator takes from the server; 0 means
	// DefaultMaxTools. A server offering more has its tool list refused
	// (KindTooManyTools); the listing stops at the cap.
	MaxTools int
}

// DefaultMaxTools is the cap on one server's tools unless its
// ServerConfig.MaxTools says otherwise.
const DefaultMaxTools = 1000

// ToolFilter allows and denies tools by glob pattern (path.Match syntax).
// An empty Allow list allows every tool; Deny wins over Allow.
type ToolFilter struct {
	Allow []string
	Deny  []string
}

// SecretProvider hands out one server's secrets. *credentials.Store satisfies it.
type SecretProvider interface {
	ForServer(server string) *credentials.ServerSecrets
}

// Options configures New. Zero values are safe defaults except Servers.
type Options struct {
	Servers []ServerConfig
	// Secrets may be nil when no server needs a credential; a server whose
	// auth needs one then fails to connect with an error saying so.
	Secrets SecretProvider
	// Redactor masks known secret values in audit records and errors.
	Redactor *credentials.Redactor
	// AuditPath is the JSON Lines audit file; empty disables auditing.
	AuditPath string
	// AuditIncludeValues records argument values (secrets still masked).
	AuditIncludeValues bool
	// AuditKeys keeps the key that seals each audit record with an HMAC
	// and anchors the log's end in its head file (AuditHeadPath); it is
	// asked at the first call, and makes the key if there is none yet. Nil
	// writes unkeyed records, the format of logs from before the key,
	// which anyone who can write the file can rewrite unnoticed.
	AuditKeys AuditKeyring
	// PinDir holds the pinned tool definitions, a file per server
	// (<server>.json); empty keeps pins in memory only.
	PinDir string
	// LegacyPinFile is the single pin file of mediators before per-server
	// pin files. If it exists, its pins move into PinDir on first use and
	// it is renamed with the suffix ".migrated".
	LegacyPinFile string
	// LockDir holds the lock files mediator processes take turns with (see
	// connectors.Options.LockDir); empty means no cross-process locks, but
	// for making the audit key, which then locks in the audit log's
	// directory.
	LockDir    string
	Logger     *slog.Logger
	ClientInfo *mcp.Implementation
	// Stderr receives stdio servers' stderr; nil discards it.
	Stderr interface{ Write([]byte) (int, error) }
	// ProtectedPaths are mediator's own files and directories, which no
	// sandboxed stdio server is granted (connectors.Options.ProtectedPaths).
	ProtectedPaths []string
	// Shutdowns, when set, follows the stdio servers after Close, which
	// then returns without waiting for them to exit
	// (connectors.Options.Shutdowns).
	Shutdowns *connectors.Shutdowns
	// Policy is the data-flow policy (the config's policy.flows) every
	// request obeys.
	Policy Policy
	// Approver decides the flows neither Policy nor the caller's Session
	// allows, for requests whose session has no approver of its own; nil
	// refuses them.
	Approver Approver
	// Host is the front end's handling of what servers ask of mediator
	// (sampling, elicitation) and tell it (list changes); see Host.
	Host Host
}

// Orchestrator is safe for concurrent use.
type Orchestrator struct {
	opts    Options
	log     *slog.Logger
	servers map[string]*server // fixed after New, so reads need no lock
	names   []string           // sorted server names
	pins    *pinStore
	audit   *auditLog // nil when auditing is off
	session *Session  // requests' session when their context has none
	schemas sync.Map  // tool definition hash -> *schemaResult

	// bg holds the work servers' notifications start (listing tools
	// again); Close waits for it. bgMu keeps bg.Go from racing Close.
	bgMu sync.Mutex
	bg   sync.WaitGroup

	callPrefix string
	callSeq    atomic.Uint64
	closed     atomic.Bool
}

// New checks the server set (unique names, names that cannot collide as
// qualified tool names) and returns an orchestrator with no connections yet.
func New(opts Options) (*Orchestrator, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Redactor == nil {
		opts.Redactor = credentials.NewRedactor()
	}
	o := &Orchestrator{
		opts:    opts,
		log:     opts.Logger,
		pins:    newPinStore(opts.PinDir, opts.LegacyPinFile, opts.LockDir, opts.Logger),
		session: NewSession(SessionOptions{}),
	}
	var err error
	if o.servers, o.names, err = o.buildServers(opts.Servers); err != nil {
		return nil, err
	}
	if opts.AuditPath != "" {
		o.audit = newAuditLog(opts, o.log)
	}
	// A random per-process prefix plus a counter keeps call IDs unique across
	// concurrent mediator processes without a random read per call.
	var b [6]byte
	_, _ = rand.Read(b[:])
	o.callPrefix = hex.EncodeToString(b[:])
	return o, nil
}

// ServerStatus is one row of `mediator servers`.
type ServerStatus struct {
	Name      string
	Transport string
	Endpoint  string // URL or command line (no secrets)
	// Sandbox says whether a stdio server runs confined.
	Sandbox connectors.SandboxState
	connectors.Status
	Tools int
	// ToolsErr says why the tool list is unusable although the connection
	// is up: listing failed, two tools collide, or the pin file is broken.
	ToolsErr error
}

// ToolInfo is one catalogue entry.
type ToolInfo struct {
	Server string
	// Name is the tool's own name; Qualified is "server.tool"; LLMName is "server__tool".
	Name, Qualified, LLMName string
	Tool                     *mcp.Tool
	Allowed                  bool
	// Pin is "new", "pinned" or "changed" (calls refused until accepted).
	Pin string
}

// Result is a tool result together with where it came from.
type Result struct {
	Server   string
	Tool     string
	CallID   string
	Duration time.Duration
	// Provenance is the result's: its server, and every server whose data
	// went into the arguments, since a tool may echo what it got.
	Provenance Provenance
	*mcp.CallToolResult
}
