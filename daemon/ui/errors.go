package ui

import (
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
)

// Error messages and values. A call's error message may quote what a
// server answered (a tool's error result, a JSON-RPC error, a response
// body) or a value an expression met, so, as the audit log does, the page
// shows it only with audit.include_values (masked); otherwise it shows
// the error's class and what the class means. Mediator's own errors
// (daemon.ValueFreeClass) carry no value and are always shown.

// classMeaning says what an error class means, for when its message is
// not shown.
var classMeaning = map[string]string{
	workflows.ClassTransport:     "the server could not be reached or the connection failed",
	workflows.ClassTimeout:       "the call took longer than its timeout",
	workflows.ClassRateLimited:   "the server said to slow down (rate limited)",
	workflows.ClassToolError:     "the tool answered with an error",
	workflows.ClassInvalidOutput: "the tool's answer did not match its output schema",
	workflows.ClassProtocol:      "the server answered with a protocol (JSON-RPC) error",
	workflows.ClassRefused:       "mediator refused the call",
	workflows.ClassCancelled:     "the call was cut short when the run was cancelled",
	workflows.ClassExpression:    "an expression failed or gave the wrong type",
	workflows.ClassPollTimeout:   "the condition was not met before polling gave up",
}

// hiddenNote ends an error whose message is not shown.
const hiddenNote = "its message is shown only with audit.include_values, since it may quote what the server answered"

// callError is the text shown for a call's error of class.
func (u *UI) callError(class, msg string) string {
	if msg == "" {
		return ""
	}
	if u.opts.IncludeValues || daemon.ValueFreeClass(class) {
		return u.redact(msg)
	}
	meaning := classMeaning[class]
	if meaning == "" {
		meaning = "the call failed"
	}
	return meaning + "; " + hiddenNote + "."
}

// runError is the text shown for a run's error: its message with
// audit.include_values, or for a run cancelled, interrupted or blocked
// (mediator's own words, naming calls, not values); otherwise where it
// failed, by the calls' classes.
func (u *UI) runError(info *daemon.RunInfo) string {
	if info.Error == "" {
		return ""
	}
	switch {
	case u.opts.IncludeValues, info.Status == workflows.RunCancelled, info.Status == daemon.StatusInterrupted, info.Status == daemon.StatusQueued,
		info.Status == workflows.RunBlocked: // workflows.ResumeBlockedError: paths, servers, tools
		return u.redact(info.Error)
	}
	var failed []string
	for _, c := range info.Calls {
		if c.State == workflows.AttemptFailed {
			class := c.ErrorClass
			if class == "" {
				class = "error"
			}
			failed = append(failed, fmt.Sprintf("%s (%s)", c.Path, class))
		}
	}
	if len(failed) > 0 {
		return fmt.Sprintf("The run %s at %s; the steps below say why. The run's message is shown only with audit.include_values, since it may quote values.", info.Status, strings.Join(failed, ", "))
	}
	return fmt.Sprintf("The run %s; its message is shown only with audit.include_values, since it may quote values (`mediator runs show %s` prints it on the daemon's machine).", info.Status, info.ID)
}

// finallyError is a run's finally steps' error, as runError decides.
func (u *UI) finallyError(msg string) string {
	if msg == "" || u.opts.IncludeValues {
		return u.redact(msg)
	}
	return "The finally steps failed; " + hiddenNote + "."
}
