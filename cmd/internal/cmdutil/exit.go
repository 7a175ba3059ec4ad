// Package cmdutil holds what every command shares: the Factory of injected
// dependencies and the exit-code contract.
package cmdutil

import "fmt"

// Exit codes are part of mediator's CLI contract, the same for every
// command: ExitCodesHelp says what each means, and ExitCode maps errors
// to them.
const (
	ExitOK        = 0
	ExitToolError = 1 // the tool or flow ran and returned an error
	ExitUsage     = 2 // refused before any work: usage, config, policy
	ExitConnect   = 3 // a server or the keyring could not be used
)

// ExitCodesHelp is `mediator help exit-codes`.
const ExitCodesHelp = `Every mediator command exits with one of these codes:

  0    Success.

  1    The work ran and failed: a tool answered with an error result
       (isError), or a flow step failed while running (a tool's error
       result, an expression that failed on the data, a result that does
       not match the tool's outputSchema), a flow run passed its
       timeout:, or a finally: step failed after the run succeeded.

  2    mediator refused before doing the work: bad arguments or flags; a
       config or flow file with problems; an unknown server, tool or run;
       a tool the server's tools filter excludes or whose changes are not
       accepted (mediator tools diff/accept); a resource or prompt the
       server's resources or prompts filter excludes; binary contents of
       a read without -o FILE; arguments that do not match
       the tool's inputSchema; a data flow between servers that no flows:
       allows; a resume that needs a decision (--rerun or --mark-done); an
       audit log that is broken or missing.

  3    A server or the keyring could not be used: a server that cannot be
       reached, exits or breaks the connection, does not answer in time,
       rejects or lacks its credential, or answers with a JSON-RPC error
       (a protocol error, as opposed to a tool's error result), sends
       a message or resource over its max_result_bytes or
       max_resource_bytes, or serves a skill whose files do not match
       its own listing; a keyring passphrase that is wrong.

  130  Interrupted (Ctrl-C or SIGTERM); a workflow run can be finished with
       mediator resume.

Commands that check many things (servers, tools, validate --connect)
exit 3 when any server could not be used and 2 when something else is wrong.`

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
