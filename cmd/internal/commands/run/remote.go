package run

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// RemoteCancelWait is how long mediator waits after Ctrl-C for a run on
// a remote engine to end cancelled (the cancellation reaches the worker
// of the call in flight at its next heartbeat, docs/scale.md), beside
// the time its finally steps may take; a second Ctrl-C stops at once.
const RemoteCancelWait = 10 * time.Second

// runRemote runs the flow on the engine of engine: temporal: validated and
// its inputs checked here as for a local run, started there, followed
// with the same progress, reported with the same output and exit code.
func runRemote(ctx context.Context, opts *Options, cfg *config.Config) error {
	rr, err := flowrun.OpenRemote(ctx, opts.Env, cfg, opts.Engine)
	if err != nil {
		return err
	}
	defer rr.Close()
	pol := flowrun.PolicyOf(opts.Env, cfg)
	f, err := flowrun.LoadFlow(ctx, opts.Env, cfg, opts.FlowPath)
	if err != nil {
		return err
	}
	inputs, err := BuildInputs(f, opts.InputsFile, opts.Inputs, opts.ReadFile)
	if err != nil {
		return err
	}
	// Inputs are checked before anything starts.
	if _, err := workflows.PrepareInputs(ctx, f, inputs); err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	abs, err := filepath.Abs(opts.FlowPath)
	if err != nil {
		return err
	}
	id := workflows.NewRunID(time.Now())
	trusted, timeouts := flowrun.ServerSettings(cfg, pol.TrustAnnotations)
	start := cmdutil.RemoteStart{
		RunID: id, FlowPath: abs, Validate: flowrun.ValidateOptions(opts.Env, cfg), Inputs: inputs,
		PolicyFlows: pol.Flows, TrustedServers: trusted, ServerTimeouts: timeouts,
		Servers: f.Servers(),
		Warn:    func(msg string) { fmt.Fprintln(opts.Env.IO.ErrOut, "warning: "+msg) },
	}
	if err := rr.Start(ctx, start); err != nil {
		return err
	}
	cmdutil.Linger(ctx, RemoteCancelWait)
	red := opts.Env.Redactor()
	res, runErr := flowrun.Execute(ctx, opts.Env, f, red, func(ctx context.Context, progress func(workflows.Event)) (*workflows.RunResult, error) {
		return followRemote(ctx, rr, id, f, progress)
	})
	return flowrun.ReportRemote(opts.Env, red, res, runErr, opts.JSON)
}

// followRemote follows run id until it ends; when ctx ends first (Ctrl-C)
// it cancels the run and follows it to its end (its finally steps run).
func followRemote(ctx context.Context, rr cmdutil.RemoteRuns, id string, f *flow.Flow, progress func(workflows.Event)) (*workflows.RunResult, error) {
	type ended struct {
		res *workflows.RunResult
		err error
	}
	follow, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan ended, 1)
	go func() {
		res, err := rr.Follow(follow, id, f, progress)
		done <- ended{res, err}
	}()
	select {
	case e := <-done:
		return e.res, e.err
	case <-ctx.Done():
	}
	if err := rr.Cancel(follow, id); err != nil {
		// The run goes on without us: say so rather than wait for it.
		return nil, errors.Join(context.Cause(ctx), err)
	}
	e := <-done
	return e.res, e.err
}
