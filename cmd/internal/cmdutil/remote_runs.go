package cmdutil

import (
	"context"
	"errors"
	"time"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// RemoteRuns is a flow engine outside this process (Temporal), as `run`
// and `runs` use it under engine: temporal. Its runs are the engine's
// records, not the journal's: results, steps and events come from it,
// in the journal's vocabulary (workflows.Run*, workflows.Status*).
type RemoteRuns interface {
	// Start reads the flow file (and the sub-flows it uses) under
	// Validate and starts the run; a file with problems is an
	// *ExitError with ExitUsage, a run id already taken wraps
	// ErrRemoteRunExists.
	Start(ctx context.Context, s RemoteStart) error
	// Follow reports the run's events to progress as the engine gives
	// them (converted to workflows.Event, steps resolved in f) until it
	// ends, and returns how it ended. It returns ctx's error when ctx
	// ends first; the run goes on.
	Follow(ctx context.Context, id string, f *flow.Flow, progress func(workflows.Event)) (*workflows.RunResult, error)
	// Cancel cancels the run as Ctrl-C cancels a local one: its calls in
	// flight are cancelled, its finally steps run.
	Cancel(ctx context.Context, id string) error
	// List returns up to limit runs (0: all), newest first, as the
	// journal records them (no inputs, no pid).
	List(ctx context.Context, limit int) ([]*workflows.RunRecord, error)
	// Show returns one run; an unknown id wraps workflows.ErrRunNotFound.
	Show(ctx context.Context, id string) (*RemoteRun, error)
	// Resolve settles the calls run id waits on (blocked: their worker
	// was lost and the retry rule may not send them again) as `resume`
	// settles a journalled run's: action is workflows.ResolveRerun or
	// workflows.ResolveMarkDone, calls are call paths, step paths or step
	// ids (none: all). A run that is not blocked, or a name that is none
	// of its blocked calls', is an *ExitError with ExitUsage.
	Resolve(ctx context.Context, id, action string, calls []string) error
	// Idle says which queues a run of servers needs no worker polled
	// lately (the flow workers', the servers' domains'), one message each
	// naming the worker to start.
	Idle(ctx context.Context, servers []string) ([]string, error)
	Close() error
}

// ErrRemoteRunExists is RemoteRuns.Start's error for a run id taken.
var ErrRemoteRunExists = errors.New("a run with this id exists")

// RemoteStart is one run to start.
type RemoteStart struct {
	RunID    string
	FlowPath string
	// Validate are the options the file was validated with locally
	// (flowrun.ValidateOptions); the engine reads it again with them.
	Validate flow.ValidateOptions
	Inputs   map[string]any
	// PolicyFlows are the config's policy.flows; TrustedServers the
	// flow's servers whose annotations the retry rule believes.
	PolicyFlows    []flow.FlowEdge
	TrustedServers []string
	// ServerTimeouts are the configured servers' call timeouts.
	ServerTimeouts map[string]time.Duration
	// Servers are the servers the flow calls; Warn, when set, is told of
	// each queue the run needs that no worker polls (the run waits for
	// one), once the run started.
	Servers []string
	Warn    func(msg string)
}

// RemoteRun is one run as `runs show` shows it under a remote engine.
type RemoteRun struct {
	Record *workflows.RunRecord
	// Steps are the run's steps as its events report them, in the order
	// they started.
	Steps []RemoteStep
	// EventsError says why the events could not be read, if they could
	// not.
	EventsError string
	// Blocked are the calls a blocked run waits on (Record.Status is
	// then workflows.RunBlocked).
	Blocked []RemoteBlockedCall
}

// RemoteBlockedCall is a call a blocked remote run waits on: its path,
// its step's path and id, server, tool and attempt.
type RemoteBlockedCall struct {
	Path    string `json:"path"`
	Step    string `json:"step"`
	StepID  string `json:"step_id"`
	Server  string `json:"server"`
	Tool    string `json:"tool"`
	Attempt int    `json:"attempt"`
}

// RemoteStep is one step instance of a remote run: path ("remind[3]"),
// status ("running" until it ends), when, the attempts that failed
// before the last, and its error.
type RemoteStep struct {
	Path       string    `json:"path"`
	Step       string    `json:"step"`
	Status     string    `json:"status"`
	Items      int       `json:"items,omitempty"`
	Retries    int       `json:"retries,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`
	ErrorClass string    `json:"error_class,omitempty"`
}
