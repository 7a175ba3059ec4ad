package argcheck_test

import (
	"context"
	"fmt"

	"github.com/mediatorhq/mediator/internal/argcheck"
)

// A workflow checks each flow input under its own name; a tool's
// arguments are checked with the zero Label.
func ExampleSchema_Check() {
	s, err := argcheck.Resolve(map[string]any{"type": "number", "maximum": 1})
	if err != nil {
		panic(err)
	}
	viols, err := s.Check(context.Background(), 2.0, argcheck.Label{Noun: "input", Root: "threshold"})
	if err != nil {
		panic(err) // the schema is too complex to check this value
	}
	for _, v := range viols {
		fmt.Println(v.Sentence())
		fmt.Println(v.AuditLine())
	}
	// Output:
	// input "threshold" must be at most 1 (got 2)
	// input "threshold": maximum
}
