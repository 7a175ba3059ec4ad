package workflows

import (
	"context"
	"fmt"
	"os"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Load reads and parses the flow file at path, and loads the sub-flows its
// uses steps run (each parsed and validated, flow.LoadUses). It lives
// here, not in package flow, so that the format package stays free of
// I/O. On failure the error is flow.Problems (every problem in the files,
// each with file:line:column) or a read error.
func Load(path string) (*flow.Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flow file: %w", err)
	}
	f, err := flow.Parse(path, data)
	if err != nil {
		return f, err
	}
	if probs := flow.LoadUses(context.Background(), f, flow.ValidateOptions{ReadFile: os.ReadFile, RetryAtRunTime: true}).Errors(); len(probs) > 0 {
		return f, probs
	}
	return f, nil
}

// LoadForRun reads the flow file at path and validates it as a flow about
// to run, as `mediator run` does: under opts (the config's policy.flows
// and servers), with the sub-flows its uses steps run (read from disk
// unless opts.ReadFile says otherwise), and with the retry rule left to
// the engine (RetryAtRunTime), which applies it before each call with the
// live annotations. It returns
// every problem found, each at FILE:LINE:COL; the flow may run only when
// problems.Errors() is empty (warnings do not stop it). The error is a
// read error.
func LoadForRun(ctx context.Context, path string, opts flow.ValidateOptions) (*flow.Flow, flow.Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read flow file: %w", err)
	}
	opts.RetryAtRunTime = true
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	f, ps := flow.Check(ctx, path, data, opts)
	return f, ps, nil
}
