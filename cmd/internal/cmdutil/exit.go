// Package cmdutil holds what every command shares: the Factory of injected
// dependencies and the exit-code contract.
package cmdutil

import "fmt"

// Exit codes are part of mediator's CLI contract.
const (
	ExitOK        = 0
	ExitToolError = 1 // the tool ran and returned an error result
	ExitUsage     = 2 // bad arguments, flags or config
	ExitConnect   = 3 // connection or authentication failure
)

// ExitError carries the exit code a failure should produce. Its message is
// what the user sees on stderr; Silent suppresses it when the command has
// already printed its own report.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
	// Usage adds a pointer to the command's --help after the message.
	Usage bool
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Errorf builds an ExitError with a formatted message.
func Errorf(code int, format string, args ...any) *ExitError {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// UsageErrorf is a usage mistake (arguments, flags): exit code 2 and a hint
// to read the command's help.
func UsageErrorf(format string, args ...any) *ExitError {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...), Usage: true}
}
