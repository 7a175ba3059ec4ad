package flow

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// toleranceValid says what tolerate_failures accepts, for problems.
const toleranceValid = `write a number of items (0 or more, e.g. 3) or a share of the items from 0% to 100% in quotes (e.g. "10%")`

// String is the tolerance as written: "3" or "10%".
func (t *Tolerance) String() string {
	if t == nil {
		return "0"
	}
	if t.Percent > 0 {
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(t.Count)
}

// Hopeless reports whether failed failures among total items exceed t
// whatever the items not yet finished do: failures only grow, so once
// Allows is false it stays false. The engine stops a for_each there.
func (t *Tolerance) Hopeless(failed, total int) bool { return !t.Allows(failed, total) }

// stepTolerance parses a step's tolerate_failures:, which only a for_each
// step may have.
func (p *parser) stepTolerance(n *yaml.Node, field string, s *Step, fields map[string]*yaml.Node) {
	v, ok := fields["tolerate_failures"]
	if !ok {
		return
	}
	t := p.tolerance(v, field+".tolerate_failures")
	if _, each := fields["for_each"]; !each {
		p.errf(p.keyNode(n, "tolerate_failures"), field+".tolerate_failures",
			"tolerate_failures applies only to a for_each step: it is how many of its items may fail while the step still succeeds")
		return
	}
	s.TolerateFailures = t
}

// tolerance parses `3` or `"10%"`.
func (p *parser) tolerance(n *yaml.Node, field string) *Tolerance {
	vn := p.deref(n)
	t := &Tolerance{Pos: p.pos(n)}
	if vn.Kind == yaml.ScalarNode {
		switch vn.Tag {
		case "!!int":
			var i int64
			if err := vn.Decode(&i); err == nil && i >= 0 && i <= math.MaxInt32 {
				t.Count = int(i)
				return t
			}
			if strings.HasPrefix(strings.TrimSpace(vn.Value), "-") {
				p.errf(n, field, "must not be negative, found %s; %s", vn.Value, toleranceValid)
				return nil
			}
		case "!!str":
			num, isPercent := strings.CutSuffix(strings.TrimSpace(vn.Value), "%")
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			switch {
			case !isPercent || err != nil || math.IsNaN(f) || math.IsInf(f, 0):
			case f < 0:
				p.errf(n, field, "must not be negative, found %q; %s", vn.Value, toleranceValid)
				return nil
			case f > 100:
				p.errf(n, field, "must be at most 100%%, found %q; %s", vn.Value, toleranceValid)
				return nil
			default:
				t.Percent = f
				return t
			}
		}
	}
	p.errf(n, field, "must be a number of items or a percentage, found %s; %s", kindName(vn), toleranceValid)
	return nil
}

// toleranceNote is the graph's note for a step's tolerate_failures.
func toleranceNote(s *Step) []string {
	if s.TolerateFailures == nil {
		return nil
	}
	return []string{fmt.Sprintf("tolerate %s failed", s.TolerateFailures)}
}
