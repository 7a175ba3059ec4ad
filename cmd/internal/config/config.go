// Package config reads mediator's config file: viper loads it, and a
// position-keeping YAML parse of the same file lets every problem be
// reported as FILE:LINE:COL with the field's path. It knows nothing of
// cobra; commands hand it a path and an environment.
package config

import (
	"slices"
	"sort"
	"time"

	"github.com/mediatorhq/mediator/connectors"
)

// Backends are the credentials.backend values.
var Backends = []string{"auto", "file", "keychain", "secret-service", "kwallet", "pass", "wincred", "keyctl"}

// Config is a loaded, validated config with every default resolved.
type Config struct {
	// Path is the file the config came from; Found is false when the
	// default file does not exist and the config is empty.
	Path  string
	Found bool

	Credentials Credentials
	// Servers are sorted by name.
	Servers []Server
	Audit   Audit
	// StateDir holds the audit log and the tool pins.
	StateDir string
	// Policy holds the rules every workflow run obeys.
	Policy Policy
	// LLM is the model `mediator chat` talks to; nil when the file has no
	// llm block (chat then runs in direct mode).
	LLM *LLM
	// Approvals decide whether the chat asks before a tool call.
	Approvals Approvals
	// Serve is what `mediator serve` offers a host, and how.
	Serve Serve
	// Daemon is what `mediator daemon` serves and runs.
	Daemon Daemon
	// Engine runs flows: EngineLocal (the default: this process) or
	// EngineTemporal (a Temporal cluster; see docs/scale.md).
	Engine string
	// Temporal is how to reach the cluster of engine: temporal.
	Temporal Temporal
	// Domains map credential domains to their servers (domains:); a
	// server in none is a domain of its own.
	Domains map[string][]string
}

// Engines: the engine values.
const (
	EngineLocal    = "local"
	EngineTemporal = "temporal"
)

// Temporal is the temporal block: the cluster flows run on under
// engine: temporal (docs/scale.md).
type Temporal struct {
	HostPort  string
	Namespace string
	// TLS is nil when the connection is plain (a loopback test server).
	TLS *TemporalTLS
	// CodecKeySecret names the keyring item (of TemporalSecretServer)
	// holding the payload codec's 32-byte key, hex or base64; empty
	// leaves arguments and results readable in Temporal's history.
	CodecKeySecret string
	// ScheduleToStartTimeout bounds how long a call waits for a worker of
	// its server's domain (0: the flow worker's default, five minutes).
	ScheduleToStartTimeout time.Duration
	// Limits are the namespace's history limits, when they were raised
	// or lowered from Temporal's defaults (zero fields: the defaults).
	Limits TemporalLimits
}

// TemporalLimits is temporal.limits: runs are kept within them, and a
// for_each of more than BatchItems items runs in child workflows.
type TemporalLimits struct {
	HistoryEvents int
	HistoryBytes  int64
	BatchItems    int
}

// TemporalTLS is temporal.tls. CA verifies the frontend (empty: the
// system roots), ServerName overrides the name checked; Cert with KeyFile
// or KeySecret (a keyring item of TemporalSecretServer) is a client
// certificate for mTLS. Paths are absolute.
type TemporalTLS struct {
	CA, Cert, KeyFile, KeySecret, ServerName string
}

// Credentials selects the keyring backend.
type Credentials struct {
	Backend string
	FileDir string
}

// Audit configures the audit log.
type Audit struct {
	Path          string
	IncludeValues bool
}

// Server is one configured MCP server.
type Server struct {
	Name      string
	URL       string
	Transport string
	Command   string
	Args      []string
	Env       map[string]string
	SecretEnv map[string]string
	// Headers are plain (non-credential) HTTP headers; see
	// connectors.Config.Headers.
	Headers map[string]string
	Auth    Auth
	// TLS holds the tls block, or the certificate of the
	// `auth: {type: mtls, cert: ...}` form.
	TLS     connectors.TLSConfig
	Tools   ToolFilter
	Timeout time.Duration
	// Sandbox shapes a stdio server's sandbox; see connectors.SandboxConfig.
	Sandbox connectors.SandboxConfig
	// MaxTools caps how many tools mediator takes from the server
	// (max_tools, default orchestrator.DefaultMaxTools); a server offering
	// more has its tool list refused.
	MaxTools int
	// MaxResultBytes bounds each message from the server; 0 means the
	// connector's default. See connectors.Config.MaxResultBytes.
	MaxResultBytes int64
	// Resources filters the resources that may be read (globs on URIs; a
	// final ** matches the rest), Prompts the prompts that may be got.
	Resources, Prompts ToolFilter
	// MaxResourceBytes bounds one resource read; 0 means the connector's
	// default. See connectors.Config.MaxResourceBytes.
	MaxResourceBytes int64
	// Sampling, Elicitation and Roots are the client features the server
	// may use; see connectors.Config.
	Sampling    connectors.SamplingConfig
	Elicitation string
	Roots       []string
	// Problems are what is wrong with this server's entry (an unset
	// ${VAR}, a secret written inline, a misspelt field). A server with
	// problems is never connected to: ServerConfigs leaves it out, and Err
	// is what commands that need it fail with.
	Problems Problems
}

// Auth names how a server authenticates and which keyring items hold the
// credentials; never a credential itself. The fields are the connector's.
type Auth struct {
	connectors.AuthConfig
}

// ToolFilter allows and denies tools by glob.
type ToolFilter struct {
	Allow []string
	Deny  []string
}

// Server returns the named server.
func (c *Config) Server(name string) (*Server, bool) {
	i := slices.IndexFunc(c.Servers, func(s Server) bool { return s.Name == name })
	if i < 0 {
		return nil, false
	}
	return &c.Servers[i], true
}

// ServerNames lists the configured servers in name order.
func (c *Config) ServerNames() []string {
	names := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		names[i] = s.Name
	}
	sort.Strings(names)
	return names
}

// NeedsSecrets reports whether connecting to the server reads or writes
// the keyring (credentials, OAuth tokens).
func (s *Server) NeedsSecrets() bool {
	return serverConfig(s).NeedsSecrets()
}

// Err is nil for a server that can be used, or a *ServerError with its
// problems.
func (s *Server) Err() error {
	if len(s.Problems) == 0 {
		return nil
	}
	return &ServerError{Server: s.Name, Problems: s.Problems}
}
