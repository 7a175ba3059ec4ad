// Package connectors opens one authenticated MCP client per server. A
// connector holds only its own server's credentials and sends them only to
// that server: over HTTP only to the server's origin, over stdio only into
// that one child process's environment.
package connectors

import (
	"context"
	"time"

	"github.com/mediatorhq/mediator/credentials"
)

// Transport names as they appear in config.
const (
	TransportStdio          = "stdio"
	TransportStreamableHTTP = "streamable-http"
	TransportSSE            = "sse"
)

// Auth types as they appear in config. OAuth, client credentials and mTLS
// slot in here as further types without the orchestrator knowing.
const (
	AuthNone   = "none"
	AuthAPIKey = "api-key"
	AuthBearer = "bearer"
)

// Config describes one MCP server. It is plain data: the cmd layer fills it
// from the config file, tests fill it by hand.
type Config struct {
	// Name is the server's name in mediator (the "weather" in weather.get_forecast).
	Name string

	// URL is the endpoint of an HTTP server; empty for stdio.
	URL string
	// Transport is one of the Transport* constants; empty means
	// streamable-http when URL is set and stdio when Command is set.
	Transport string

	// Command, Args, Dir and Env start a stdio server. No shell is involved.
	Command string
	Args    []string
	Dir     string
	Env     map[string]string
	// SecretEnv maps an environment variable of the child to the name of one
	// of this server's keyring items.
	SecretEnv map[string]string

	Auth AuthConfig

	// Timeout bounds connecting and, unless the caller's context is shorter,
	// each call. Zero means DefaultTimeout.
	Timeout time.Duration
}

// AuthConfig says how the connector authenticates to its server.
type AuthConfig struct {
	Type string // AuthNone, AuthAPIKey, AuthBearer
	// Header carries the api-key (default "X-API-Key").
	Header string
	// Secret is the name of this server's keyring item holding the value.
	Secret string
}

// DefaultTimeout applies when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// SecretSource yields the secrets of one server only. The orchestrator gives
// each connector a source scoped to that connector's server, so a connector
// cannot ask for another server's credential.
type SecretSource interface {
	Secret(ctx context.Context, name string) (credentials.Secret, error)
}
