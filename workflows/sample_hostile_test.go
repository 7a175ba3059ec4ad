package workflows

import (
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// A dry run samples a tool's outputSchema, which the server chose: a
// schema whose $refs fan out (20 properties, each the whole again) would
// expand to 20^8 values; the sample is as deep as its budget allows
// instead, every property present. Hostile validator schemas are sampled
// as harmlessly.
func TestSampleFromHostileSchemas(t *testing.T) {
	count := func(v any) int {
		var n func(any) int
		n = func(v any) int {
			switch x := v.(type) {
			case map[string]any:
				c := 1
				for _, e := range x {
					c += n(e)
				}
				return c
			case []any:
				c := 1
				for _, e := range x {
					c += n(e)
				}
				return c
			}
			return 1
		}
		return n(v)
	}
	got := SampleFromSchema(hostile.FanOutSchema(20))
	if n := count(got); n > sampleBudget {
		t.Errorf("the sample holds %d values", n)
	}
	if m, ok := got.(map[string]any); !ok || len(m) != 20 {
		t.Errorf("sample %T with %d properties", got, len(got.(map[string]any)))
	}
	for _, s := range []map[string]any{hostile.CyclicSchema(), hostile.ExplosiveSchema(60), hostile.DeepAlternativesSchema()} {
		SampleFromSchema(s) // returns
	}
}
