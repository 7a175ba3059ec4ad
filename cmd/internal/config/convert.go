package config

import (
	"path/filepath"
	"slices"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

func serverConfig(s *Server) connectors.Config {
	return connectors.Config{
		Name:           s.Name,
		URL:            s.URL,
		Transport:      s.Transport,
		Command:        s.Command,
		Args:           s.Args,
		Env:            s.Env,
		SecretEnv:      s.SecretEnv,
		Headers:        s.Headers,
		Auth:           s.Auth.AuthConfig,
		TLS:            s.TLS,
		Timeout:        s.Timeout,
		Sandbox:        s.Sandbox,
		MaxResultBytes: s.MaxResultBytes,
		// Resources.
		MaxResourceBytes: s.MaxResourceBytes,
		Sampling:         s.Sampling,
		Elicitation:      s.Elicitation,
		Roots:            s.Roots,
	}
}

// ServerConfigs converts the named servers (all when none are named) for
// the orchestrator. Unknown names and servers with problems are skipped;
// callers check them first (Server.Err).
func (c *Config) ServerConfigs(names ...string) []orchestrator.ServerConfig {
	var out []orchestrator.ServerConfig
	for i := range c.Servers {
		s := &c.Servers[i]
		if len(names) > 0 && !slices.Contains(names, s.Name) || s.Err() != nil {
			continue
		}
		out = append(out, orchestrator.ServerConfig{
			Config:   serverConfig(s),
			Tools:    orchestrator.ToolFilter{Allow: s.Tools.Allow, Deny: s.Tools.Deny},
			MaxTools: s.MaxTools,
			// Resources and prompts.
			Resources: orchestrator.ToolFilter{Allow: s.Resources.Allow, Deny: s.Resources.Deny},
			Prompts:   orchestrator.ToolFilter{Allow: s.Prompts.Allow, Deny: s.Prompts.Deny},
		})
	}
	return out
}

// CredentialOptions configures the keyring. The caller supplies the
// passphrase function, which may prompt.
func (c *Config) CredentialOptions() credentials.Options {
	return credentials.Options{Backend: c.Credentials.Backend, FileDir: c.Credentials.FileDir}
}

// OrchestratorOptions sets the servers, audit log and pin file; the caller
// adds secrets, logger and client info.
func (c *Config) OrchestratorOptions(names ...string) orchestrator.Options {
	return orchestrator.Options{
		Servers:            c.ServerConfigs(names...),
		AuditPath:          c.Audit.Path,
		AuditIncludeValues: c.Audit.IncludeValues,
		PinDir:             c.PinDir(),
		LegacyPinFile:      filepath.Join(c.StateDir, "pins.json"),
		LockDir:            c.LockDir(),
		ProtectedPaths:     c.ProtectedPaths(),
		Policy:             c.OrchestratorPolicy(),
	}
}

// OrchestratorPolicy is policy.flows as the orchestrator's data-flow
// policy, which every request of every command obeys.
func (c *Config) OrchestratorPolicy() orchestrator.Policy {
	var p orchestrator.Policy
	for _, e := range c.Policy.Flows {
		p.Flows = append(p.Flows, orchestrator.Flow{From: e.From, To: e.To})
	}
	return p
}

// ProtectedPaths are mediator's own files and directories, which no
// sandboxed server is granted: the config file's directory, the keyring,
// the state directory, the audit log, and the files that hold a server's
// private key or identity assertion.
func (c *Config) ProtectedPaths() []string {
	var out []string
	if c.Path != "" {
		out = append(out, filepath.Dir(c.Path))
	}
	add := func(ps ...string) {
		for _, p := range ps {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	add(c.Credentials.FileDir, c.StateDir, c.Audit.Path)
	for _, s := range c.Servers {
		add(s.TLS.KeyFile, s.Auth.AssertionFile)
	}
	return out
}

// PinDir holds the accepted tool definitions, a file per server. (Older
// mediators kept them all in pins.json beside it; the orchestrator moves
// them in.)
func (c *Config) PinDir() string { return filepath.Join(c.StateDir, "pins") }

// LockDir holds the lock files mediator processes take turns with (an
// OAuth server's token refresh).
func (c *Config) LockDir() string { return filepath.Join(c.StateDir, "locks") }
