package suggest

import (
	"fmt"
	"testing"
)

func TestClosest(t *testing.T) {
	cands := []string{"none", "api-key", "bearer"}
	for _, tc := range []struct{ word, want string }{
		{"baerer", "bearer"},
		{"bearr", "bearer"},
		{"apikey", "api-key"},
		{"api", "api-key"},
		{"oauth", ""},
		{"", ""},
	} {
		if got := Closest(tc.word, cands); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

func ExampleHint() {
	fmt.Printf("unknown server %q%s\n", "wether", Hint("wether", []string{"weather", "calendar"}))
	// Output: unknown server "wether" (did you mean "weather"?)
}
