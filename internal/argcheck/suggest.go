package argcheck

import (
	"fmt"
	"sort"
	"strings"
)

// Suggest returns up to three known names close to name, closest first, so
// a typo gets a "did you mean".
func Suggest(name string, known []string) []string {
	type cand struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	limit := max(2, len(name)/3)
	var cands []cand
	for _, k := range known {
		lk := strings.ToLower(k)
		d := levenshtein(lname, lk)
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

// DidYouMean renders suggestions as a sentence tail, or "".
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

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
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
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
