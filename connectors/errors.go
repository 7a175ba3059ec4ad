package connectors

import "fmt"

// Kind classifies connector failures so front ends can choose exit codes
// and the audit log can record an error class.
type Kind string

const (
	KindTransport    Kind = "transport"     // could not reach or talk to the server
	KindTimeout      Kind = "timeout"       // the server did not answer in time
	KindAuth         Kind = "auth"          // credentials missing or rejected
	KindNotConnected Kind = "not-connected" // no session (failed or closed)
	KindProtocol     Kind = "protocol"      // JSON-RPC error from the server
	KindConfig       Kind = "config"        // the server's config is unusable
)

// Error is a connector failure with the server it concerns.
type Error struct {
	Server string
	Kind   Kind
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("server %q: %s: %v", e.Server, e.Kind, e.Err) }
func (e *Error) Unwrap() error { return e.Err }
