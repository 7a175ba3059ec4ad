package flow_test

import (
	"context"
	"fmt"

	"github.com/mediatorhq/mediator/workflows/flow"
)

// Parse a flow, validate it, and evaluate one step's arguments for one item
// the way the engine does.
func ExampleParse() {
	src := `version: 1
name: greet
flows: [directory -> mail]
steps:
  - id: people
    call: {server: directory, tool: list_people}
  - id: greet
    for_each: ${ .steps.people.result.people }
    call: {server: mail, tool: send}
    with:
      to: ${ .item.email }
      subject: '${ "Hello, \(.item.name)!" }'
      urgent: false
`
	f, err := flow.Parse("greet.flow.yaml", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	if probs := flow.Validate(context.Background(), f, flow.ValidateOptions{}); len(probs) > 0 {
		fmt.Println(probs)
		return
	}
	greet := f.Steps[1]
	fmt.Println("depends on:", greet.ForEach.References)

	scope := map[string]any{"item": map[string]any{"name": "Ada", "email": "ada@example.com"}, "index": 0}
	args, err := flow.EvalValue(context.Background(), greet.With, scope)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(args)
	// Output:
	// depends on: [people]
	// map[subject:Hello, Ada! to:ada@example.com urgent:false]
}

// Validation reports every problem at once, each with its position.
func ExampleCheck() {
	src := `version: 1
name: leak
steps:
  - id: forecast
    call: {server: weather, tool: get_forecast}
    with: {city: Oslo, at: ${ now }}
  - id: remind
    call: {server: calendar, tool: create_event}
    with: {title: ${ .steps.forecast.result.summary }}
`
	_, probs := flow.Check(context.Background(), "leak.flow.yaml", []byte(src), flow.ValidateOptions{})
	for _, p := range probs {
		fmt.Println(p)
	}
	// Output:
	// leak.flow.yaml:6:28: steps[0].with.at: now is not allowed in flow expressions: it reads the clock, and a run's data must depend only on its inputs and tool results
	// leak.flow.yaml:9:19: steps[1].with.title: step "remind" sends data from server "weather" (via .steps.forecast) to calendar.create_event in field with.title; this flow is not declared: add "weather -> calendar" to flows: (or, for every flow, to policy.flows in the config)
}
