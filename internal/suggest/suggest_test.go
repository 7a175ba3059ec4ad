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

func TestStem(t *testing.T) {
	known := []string{"steps", "retry", "timeout", "for_each"}
	for word, want := range map[string]string{
		"stpes":   "steps",
		"retries": "retry",
		"forEach": "for_each",
		"zzz":     "",
	} {
		if got := Stem(word, known); got != want {
			t.Errorf("Stem(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestRanked(t *testing.T) {
	got := Ranked("pth", []string{"path", "paths", "depth", "mode"})
	want := []string{"path", "depth", "paths"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Ranked = %q, want %q", got, want)
	}
	if s := DidYouMean(got[:2]); s != `; did you mean "path" or "depth"?` {
		t.Errorf("DidYouMean = %q", s)
	}
	if DidYouMean(nil) != "" {
		t.Error("DidYouMean(nil) should be empty")
	}
}

func TestDistanceCountsTranspositionOnce(t *testing.T) {
	if d := Distance("stpes", "steps"); d != 1 {
		t.Errorf("Distance = %d, want 1", d)
	}
}
