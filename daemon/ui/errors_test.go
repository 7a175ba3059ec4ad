package ui

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/workflows"
)

const canaryValue = "canary-ui-value-Hs8Lq3"

// Without audit.include_values no message that may quote a value is
// shown, only its class; with it, messages are shown.
func TestErrorsShowValuesOnlyWithIncludeValues(t *testing.T) {
	info := &daemon.RunInfo{ID: "r1", Status: workflows.RunFailed, Error: "step pay: card declined: " + canaryValue,
		Calls: []daemon.CallInfo{{Path: "pay", Step: "pay", State: workflows.AttemptFailed, ErrorClass: workflows.ClassToolError, Error: "card declined: " + canaryValue}}}
	hidden := &UI{opts: Options{}}
	for what, got := range map[string]string{
		"call":    hidden.callError(workflows.ClassToolError, "card declined: "+canaryValue),
		"expr":    hidden.callError(workflows.ClassExpression, "cannot index "+canaryValue),
		"run":     hidden.runError(info),
		"finally": hidden.finallyError("step notify: " + canaryValue),
	} {
		if strings.Contains(got, canaryValue) || !strings.Contains(got, "audit.include_values") {
			t.Errorf("%s without include_values: %q", what, got)
		}
	}
	if got := hidden.runError(info); !strings.Contains(got, "pay (tool_error)") {
		t.Errorf("the run's error does not say where it failed: %q", got)
	}
	if got := hidden.callError(workflows.ClassRefused, "the policy refuses echo -> shop"); got != "the policy refuses echo -> shop" {
		t.Errorf("mediator's own refusal is hidden: %q", got)
	}
	blocked := &daemon.RunInfo{ID: "r2", Status: workflows.RunBlocked, Error: "run r2 cannot resume on its own: book (shop.book, attempt 1 cancelled)"}
	if got := hidden.runError(blocked); got != blocked.Error {
		t.Errorf("a blocked run's own message is hidden: %q", got)
	}
	shown := &UI{opts: Options{IncludeValues: true}}
	if got := shown.callError(workflows.ClassToolError, "card declined: "+canaryValue); !strings.Contains(got, canaryValue) {
		t.Errorf("with include_values the message is hidden: %q", got)
	}
	if got := shown.runError(info); got != info.Error {
		t.Errorf("with include_values the run's error is %q", got)
	}
}
