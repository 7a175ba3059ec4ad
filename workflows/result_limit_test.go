package workflows

import (
	"errors"
	"testing"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// A result over the server's max_result_bytes is never retried: the server
// did answer, and would answer the same again.
func TestResultOverLimitIsNotRetried(t *testing.T) {
	for kind, want := range map[connectors.Kind]string{
		connectors.KindTooLarge:  ClassProtocol,
		connectors.KindTransport: ClassTransport,
		connectors.KindTimeout:   ClassTimeout,
	} {
		err := classifyOrchestrator(&orchestrator.Error{Kind: orchestrator.KindConnection, Server: "weather", Tool: "flood",
			Err: &connectors.Error{Server: "weather", Kind: kind, Err: errors.New("x")}})
		var ce *CallError
		if !errors.As(err, &ce) || ce.Class != want {
			t.Errorf("connector kind %s: class %v, want %s", kind, err, want)
		}
	}
}
