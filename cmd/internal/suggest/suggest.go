// Package suggest finds the closest known word to a mistyped one, for the
// "did you mean" hints of config errors and unknown servers or tools.
package suggest

import (
	"sort"
	"strings"
)

// Closest returns the candidate nearest to word, or "" when none is close
// enough to be a plausible typo. Close means an edit distance of at most a
// third of the word's length (at least 1), or one being a prefix of the other.
func Closest(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	lw := strings.ToLower(word)
	best, bestDist := "", -1
	limit := max(1, len([]rune(word))/3)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := distance(lw, lc)
		if d > limit && !(len(lw) >= 3 && strings.HasPrefix(lc, lw)) {
			continue
		}
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// Hint formats ` (did you mean "x"?)` for the closest candidate, or "".
func Hint(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

// List joins choices for a "valid: a, b, c" tail, sorted.
func List(choices []string) string {
	s := append([]string(nil), choices...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// distance is the optimal string alignment distance: Levenshtein plus
// adjacent transpositions, which are the commonest typo.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
