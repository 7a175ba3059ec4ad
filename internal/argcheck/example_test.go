package argcheck_test

import (
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
	for _, v := range s.Check(2.0, argcheck.Label{Noun: "input", Root: "threshold"}) {
		fmt.Println(v.Sentence())
		fmt.Println(v.AuditLine())
	}
	// Output:
	// input "threshold" must be at most 1 (got 2)
	// input "threshold": maximum
}
