package cmdutil

import (
	"context"
	"errors"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ExitInterrupted is the shell's convention for a run ended by Ctrl-C.
const ExitInterrupted = 130

// ExitCode maps an error to mediator's exit-code contract (ExitCodesHelp):
// tool errors are 1, refusals (arguments, config, unknown names, pins,
// policy) 2, and failing to reach, authenticate to or talk to a server or
// the keyring 3. Errors nobody classified count as 2: the contract
// reserves 1 and 3 for what they promise. A workflow run's failures are
// classified by flowrun.ExitCode, which defers to this for the rest.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		return ExitUsage
	}
	var oe *orchestrator.Error
	if errors.As(err, &oe) {
		switch {
		case oe.Usage():
			return ExitUsage
		case oe.Kind == orchestrator.KindSkillRejected:
			// The server served a skill that breaks its own listing.
			return ExitConnect
		case oe.Kind == orchestrator.KindConnection, oe.Kind == orchestrator.KindServer, oe.Kind == orchestrator.KindClosed:
			if oe.ConnectorKind() == connectors.KindConfig {
				return ExitUsage
			}
			return ExitConnect
		}
		return ExitUsage
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		if ce.Kind == connectors.KindConfig {
			return ExitUsage
		}
		return ExitConnect
	}
	if errors.Is(err, credentials.ErrWrongPassphrase) || errors.Is(err, credentials.ErrLocked) || errors.Is(err, credentials.ErrUnreachable) {
		return ExitConnect
	}
	return ExitUsage
}
