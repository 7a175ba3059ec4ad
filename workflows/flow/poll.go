package flow

import (
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.yaml.in/yaml/v3"
)

// untilRoots are what an until reads besides .inputs, .item, .index and
// .run: its own call's view, the latest attempt's (Step.ViewFields of a
// call step). It cannot read .steps: it decides how often the call is
// made, and another step's data deciding that is an if's job.
var untilRoots = callViewFields

const untilScopeText = "the call's own .result, .text, .content, .attempts, .status and .error, and .inputs, .item, .index and .run"

var pollFields = []string{"every", "max"}

// stepPoll parses a step's until: and poll:, which go together and only
// on a call step.
func (p *parser) stepPoll(n *yaml.Node, field string, s *Step, fields map[string]*yaml.Node) {
	u, hasUntil := fields["until"]
	pl, hasPoll := fields["poll"]
	if !hasUntil && !hasPoll {
		return
	}
	if _, call := fields["call"]; !call {
		key := "until"
		if !hasUntil {
			key = "poll"
		}
		p.errf(p.keyNode(n, key), field+"."+key, "%s applies only to a step with call: (it repeats the call until the condition holds)", key)
		return
	}
	if hasUntil {
		s.Until = p.until(u, field+".until")
		if !hasPoll {
			p.errf(p.keyNode(n, "until"), field+".until", "until needs poll: {every: <duration>, max: <duration>} beside it, e.g. poll: {every: 10s, max: 30m}: how often to call and for how long at most")
		}
	}
	if hasPoll {
		s.Poll = p.poll(pl, field+".poll")
		if !hasUntil {
			p.errf(p.keyNode(n, "poll"), field+".poll", `poll needs until: ${ ... } beside it, the condition that ends the wait, e.g. until: ${ .result.status == "done" }`)
		}
	}
}

// until parses `until:`, a whole ${ ... } expression over the call's view.
func (p *parser) until(n *yaml.Node, field string) *Expr {
	vn := p.deref(n)
	if vn.Kind == yaml.ScalarNode && vn.Tag == "!!str" {
		if src, srcPos, ok := p.exprSource(vn); ok {
			e, probs := compileExprRoots(src, p.pos(n), srcPos, field, untilRoots)
			p.probs = append(p.probs, probs...)
			return e
		}
	}
	p.errf(n, field, `must be a ${ ... } expression that yields true when the wait is over, e.g. ${ .result.status == "done" }, found %s`, kindName(vn))
	return nil
}

// poll parses `poll: {every, max}`.
func (p *parser) poll(n *yaml.Node, field string) *Poll {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "must be {every: <duration>, max: <duration>}, e.g. {every: 10s, max: 30m}, found %s", kindName(n))
		return nil
	}
	pl := &Poll{Pos: p.pos(n)}
	fields := p.mapping(n, field, pollFields)
	for _, k := range pollFields {
		v, ok := fields[k]
		if !ok {
			p.errf(n, field, "missing %s; write e.g. poll: {every: 10s, max: 30m}", k)
			continue
		}
		d, _ := p.durationValue(v, field+"."+k)
		if k == "every" {
			pl.Every = d
		} else {
			pl.Max = d
		}
	}
	if pl.Every > 0 && pl.Max > 0 && pl.Max < pl.Every {
		p.errf(fields["max"], field+".max", "max %s is shorter than every %s, so the call would never be repeated; make max at least every (e.g. every: %s, max: %s)", FormatDuration(pl.Max), FormatDuration(pl.Every), FormatDuration(pl.Every), FormatDuration(10*pl.Every))
	}
	return pl
}

// CheckPoll is the polling rule: until repeats a call every poll.every, so
// the tool must say it is read-only or idempotent (ann, nil when unknown
// or not trusted; SafeToRepeat without key or retry_unsafe, which make a
// failed call's retry safe, not a call repeated on purpose). `validate
// --connect` reports the error, and the engine applies it before the
// first call of every poll.
func (f *Flow) CheckPoll(s *Step, ann *mcp.ToolAnnotations) error {
	if s.Until == nil || s.Call == nil || SafeToRepeat(ann, false, false) {
		return nil
	}
	return fmt.Errorf("until repeats the call of %s, but the tool is not known to be read-only or idempotent (its server does not annotate it readOnlyHint or idempotentHint, or mediator does not trust that server's annotations); poll only a tool that reads state, such as a job's status",
		s.Call)
}

// polls checks what the parser cannot: an until reading .item or .index
// needs a for_each around it.
func (v *validator) polls() {
	for _, s := range v.all {
		if s.Until == nil {
			continue
		}
		for _, p := range s.Until.Paths {
			if (p[0] == "item" || p[0] == "index") && !itemBound(s, false) {
				v.add(s.Until.Pos, s.field+".until", ".%s is bound only inside a for_each step (or the group it drives)", p[0])
			}
		}
	}
}

// offlinePoll warns of each until whose tool offline validation cannot
// judge (the polling rule needs its annotations).
func (v *validator) offlinePoll() {
	for _, s := range v.all {
		if s.Until == nil || s.Call == nil || s.Call.Server == "" || s.Call.Tool == "" {
			continue
		}
		v.warn(s.FieldPos("until"), s.field+".until", "until repeats %s, which only a read-only or idempotent tool allows; offline validation cannot see its annotations: validate --connect checks them, and run refuses to poll a tool that is neither", s.Call)
	}
}

// pollNote is the graph's note for a step's until.
func pollNote(s *Step) []string {
	if s.Until == nil || s.Poll == nil {
		return nil
	}
	return []string{fmt.Sprintf("until, every %s ≤%s", FormatDuration(s.Poll.Every), FormatDuration(s.Poll.Max))}
}

// FormatDuration writes d as a flow file and people do: 30m rather than
// 30m0s, 1h30m rather than 1h30m0s. time.ParseDuration reads it back.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
