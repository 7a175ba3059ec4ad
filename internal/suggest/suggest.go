// Package suggest finds the closest known word to a mistyped one, for the
// "did you mean" hints of config errors, unknown servers or tools, tool
// arguments and flow files. It is the one place typo distance is computed,
// so every error in the product judges closeness the same way. It imports
// only the standard library, because the I/O-free flow format and argcheck
// depend on it.
package suggest

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
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
		d := Distance(lw, lc)
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

// Stem returns the candidate within a third of word's length in edits
// (first in known's order on a tie), or else the one sharing the longest
// prefix of at least four letters, or "". The prefix fallback catches
// inflected forms ("retries" for "retry"), which are far in edits but share
// a stem; flow files use it for their keys and step names.
func Stem(word string, known []string) string {
	lw := strings.ToLower(word)
	best, bestD := "", -1
	for _, k := range known {
		d := Distance(lw, strings.ToLower(k))
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= utf8.RuneCountInString(word)/3 {
		return best
	}
	best, bestP := "", 0
	for _, k := range known {
		p := commonPrefix(lw, strings.ToLower(k))
		if p > bestP {
			best, bestP = k, p
		}
	}
	if bestP >= 4 {
		return best
	}
	return ""
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Ranked returns up to three known names close to name, closest first, so
// a typo in a tool argument can offer several. It is more generous than
// Closest (at least two edits, or either name containing the other) because
// argument names are short and a wrong guess costs only a line.
func Ranked(name string, known []string) []string {
	type cand struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	limit := max(2, len(name)/3)
	var cands []cand
	for _, k := range known {
		lk := strings.ToLower(k)
		d := Distance(lname, lk)
		if d <= limit || (len(lname) >= 3 && (strings.Contains(lk, lname) || strings.Contains(lname, lk))) {
			cands = append(cands, cand{k, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].d != cands[j].d {
			return cands[i].d < cands[j].d
		}
		return cands[i].s < cands[j].s
	})
	out := make([]string, 0, 3)
	for _, c := range cands {
		if len(out) == 3 {
			break
		}
		out = append(out, c.s)
	}
	return out
}

// DidYouMean renders Ranked's suggestions as a sentence tail
// (`; did you mean "a" or "b"?`), or "".
func DidYouMean(s []string) string {
	if len(s) == 0 {
		return ""
	}
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "; did you mean " + strings.Join(q, " or ") + "?"
}

// Distance is the optimal string alignment distance between a and b:
// Levenshtein plus adjacent transpositions, which are the commonest typo.
// It compares runes as given; callers fold case.
func Distance(a, b string) int {
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
