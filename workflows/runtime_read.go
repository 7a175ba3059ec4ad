package workflows

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// ReadRequest is one resources/read as the interpreter composes it for a
// read: step.
type ReadRequest struct {
	Server string
	URI    string
	// Sources are the servers whose data went into the URI or decided
	// that the read is made (its provenance), for the orchestrator's
	// data-flow check and audit, sorted.
	Sources []string
	// Flows and FlowFile are the flow file's flows: and its path, as in
	// CallRequest.
	Flows    []flow.FlowEdge
	FlowFile string
	// Run and Step are the run's ID and the read's journal path.
	Run  string
	Step string
	// Timeout is the step's timeout, as CallRequest.Timeout.
	Timeout time.Duration
}

// ReadTool is what a read's journal records and plan entries name as its
// tool: the request's method.
const ReadTool = "resources/read"

// ReadResource reads through the orchestrator: its resources filter, the
// data-flow check of the URI's sources, the size cap and the audit log
// apply as to every read mediator makes.
func (c OrchestratorCaller) ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error) {
	ctx = c.requestContext(ctx, req.Run, req.Step, req.Flows, req.FlowFile)
	rc, err := c.O.ReadResource(ctx, req.Server, req.URI, orchestrator.ProvenanceOf(req.Sources...))
	if err != nil {
		if rc != nil {
			// Read but not audited: keep the contents, report the failure.
			return rc.ReadResourceResult, classifyOrchestrator(err)
		}
		return nil, classifyOrchestrator(err)
	}
	return rc.ReadResourceResult, nil
}

// ReadResource reads over the caller's own session, without the
// orchestrator's filters, size cap or audit.
func (c *SessionCaller) ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error) {
	cs, err := c.session(req.Server)
	if err != nil {
		return nil, err
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: req.URI})
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", req.URI, req.Server, err)
	}
	return res, nil
}

// ReadResource plans a read. With CallReadOnly it reads for real (a read
// changes nothing on the server, by what the method means); otherwise a
// sample text stands in for the contents.
func (d *DryRun) ReadResource(ctx context.Context, req ReadRequest) (*mcp.ReadResourceResult, error) {
	pc := PlannedCall{Path: req.Step, Server: req.Server, Tool: ReadTool, Args: map[string]any{"uri": req.URI}}
	if d.CallReadOnly {
		res, err := d.Inner.ReadResource(ctx, req)
		pc.Called = true
		if err != nil {
			pc.Problem = err.Error()
		} else {
			pc.Result = readResultValue(res)
		}
		d.record(pc)
		return res, err
	}
	res := &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.URI, Text: "(dry run: sample resource)"}}}
	pc.Result = readResultValue(res)
	d.record(pc)
	return res, nil
}
