package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/problem"
	"github.com/mediatorhq/mediator/orchestrator"
)

func TestExitCode(t *testing.T) {
	conn := func(k connectors.Kind) error {
		return &orchestrator.Error{Kind: orchestrator.KindConnection, Err: &connectors.Error{Kind: k, Err: errors.New("x")}}
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{&ExitError{Code: ExitToolError, Err: errors.New("tool failed")}, ExitToolError},
		{config.Problems{{Pos: problem.Pos{File: "c.yaml"}, Message: "bad"}}, ExitUsage},
		{&orchestrator.Error{Kind: orchestrator.KindUnknownTool}, ExitUsage},
		{&orchestrator.Error{Kind: orchestrator.KindInvalidArguments}, ExitUsage},
		{&orchestrator.Error{Kind: orchestrator.KindToolChanged}, ExitUsage},
		{&orchestrator.Error{Kind: orchestrator.KindFlowRefused}, ExitUsage},
		{conn(connectors.KindAuth), ExitConnect},
		{conn(connectors.KindTimeout), ExitConnect},
		{conn(connectors.KindConfig), ExitUsage},
		{fmt.Errorf("wrapped: %w", &connectors.Error{Kind: connectors.KindTransport}), ExitConnect},
		{fmt.Errorf("opening: %w", credentials.ErrWrongPassphrase), ExitConnect},
		{fmt.Errorf("calling: %w", context.Canceled), ExitInterrupted},
		{errors.New("something else"), ExitUsage},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
