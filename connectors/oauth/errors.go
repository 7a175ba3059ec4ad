package oauth

import "errors"

// ErrLoginRequired is wrapped by the failure of a handler that cannot ask
// the user (no Fetcher, no Device) when no stored login is usable: none was
// ever made, it expired and cannot be refreshed, or the server now wants
// scopes it does not cover. An interactive login fixes it.
var ErrLoginRequired = errors.New("login required")

// errNotRegistered is register's answer when it may not register a client
// because the handler cannot ask the user to log in anyway.
var errNotRegistered = errors.New("no client registration")

// AuthorizationError is every failure of a handler's flows (Authorize, and
// renewing a token). go-sdk wraps it into its transport errors ("rejected
// by transport"); errors.As finds it there, so a caller can tell an
// authorization problem from an unreachable server.
type AuthorizationError struct {
	Server string
	Err    error
}

func (e *AuthorizationError) Error() string { return e.Err.Error() }
func (e *AuthorizationError) Unwrap() error { return e.Err }

// LoginRequired reports whether an interactive login would fix the failure.
func (e *AuthorizationError) LoginRequired() bool { return errors.Is(e.Err, ErrLoginRequired) }
