package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

type sumIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type sumOut struct {
	Sum float64 `json:"sum"`
}

// Run a flow in-process: a go-sdk server, a session to it, the local
// runtime over that session. `mediator run` does the same with an
// orchestrator (workflows.OrchestratorCaller) and a journal.
func ExampleRun() {
	ctx := context.Background()
	srv := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in sumIn) (*mcp.CallToolResult, sumOut, error) {
			return nil, sumOut{Sum: in.A + in.B}, nil
		})
	st, ct := mcp.NewInMemoryTransports()
	if _, err := srv.Connect(ctx, st, nil); err != nil {
		panic(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "example"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		panic(err)
	}
	defer cs.Close()

	fl, err := flow.Parse("sums.flow.yaml", []byte(`
version: 1
name: sums
inputs:
  xs: {type: array, items: {type: number}, default: [1, 2, 3]}
steps:
  - id: each
    for_each: ${ .inputs.xs }
    call: {server: calc, tool: add}
    with: {a: ${ .item }, b: 10}
  - id: total
    call: {server: calc, tool: add}
    with: {a: ${ [.steps.each.items[].result.sum] | add }, b: 0}
outputs:
  sums: ${ [.steps.each.items[].result.sum] }
  total: ${ .steps.total.result.sum }
`))
	if err != nil {
		panic(err)
	}
	caller := &workflows.SessionCaller{Sessions: map[string]*mcp.ClientSession{"calc": cs}}
	res, err := workflows.Run(ctx, fl, workflows.RunOptions{Runtime: workflows.NewLocalRuntime(caller)})
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(res.Outputs)
	fmt.Println(res.Status, string(out))
	// Output: succeeded {"sums":[11,12,13],"total":36}
}
