package flow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/internal/argcheck"
	"github.com/mediatorhq/mediator/internal/problem"
)

// MaxUsesDepth bounds how deep sub-flows nest: a flow, the flow it uses,
// the one that uses, and so on. Deeper chains are refused when loading.
const MaxUsesDepth = 8

// UsesPathSep joins a uses step's path and a path inside its sub-flow, in
// journals and events: "sync" + UsesPathSep + "remind[3]" is item 3 of
// step remind of the flow step sync uses.
const UsesPathSep = ".uses/"

// uses parses `uses: path/to/other.flow.yaml`: a fixed path, relative to
// the calling file's directory.
func (p *parser) uses(n *yaml.Node, field string) *Uses {
	s, ok := p.stringValue(n, field)
	if !ok {
		return nil
	}
	u := &Uses{Path: s, Pos: p.pos(n)}
	switch {
	case strings.TrimSpace(s) == "":
		p.errf(n, field, "must name a flow file, e.g. uses: remind.flow.yaml")
	case strings.Contains(s, "${"):
		p.errf(n, field, "must be a fixed path: which flow a step runs is known before the run, so it can be checked; write e.g. uses: remind.flow.yaml")
	case filepath.IsAbs(s) || strings.HasPrefix(s, "/") || strings.HasPrefix(s, `\`):
		p.errf(n, field, "absolute path %q: write the path relative to this file's directory (e.g. uses: lib/remind.flow.yaml), so the flows can move together", s)
	default:
		return u
	}
	u.Path = ""
	return u
}

// usesState is what loading a tree of sub-flows shares: the chain of
// files being loaded (for cycles and depth) and the files loaded so far.
type usesState struct {
	chain []string
	done  map[string]*loadedFlow
}

type loadedFlow struct {
	f    *Flow
	errs int
}

// UsesFile is where the sub-flow of a uses step written in the file
// caller lives: Path relative to caller's directory.
func UsesFile(caller, path string) string {
	return filepath.Clean(filepath.Join(filepath.Dir(caller), filepath.FromSlash(path)))
}

// resolveUses loads every sub-flow of f not loaded yet (Uses.Flow),
// reading each file with opts.ReadFile and parsing and validating it
// with opts, recursively. It returns the sub-flows' problems, at their
// positions in their own files, and the uses steps' own: a file that
// cannot be read, a cycle, nesting past MaxUsesDepth, a sub-flow that
// has errors.
func resolveUses(ctx context.Context, f *Flow, opts ValidateOptions) Problems {
	st := opts.uses
	if st == nil {
		st = &usesState{chain: []string{filepath.Clean(f.Source)}, done: map[string]*loadedFlow{}}
	}
	var probs Problems
	add := func(s *Step, format string, args ...any) {
		probs = append(probs, Problem{Pos: s.Uses.Pos, Field: s.field + ".uses", Message: fmt.Sprintf(format, args...)})
	}
	for _, s := range f.AllSteps() {
		u := s.Uses
		if u == nil || u.Flow != nil || u.Path == "" {
			continue
		}
		if opts.ReadFile == nil {
			add(s, "sub-flow %q is not loaded: this check reads no files", u.Path)
			continue
		}
		path := UsesFile(f.Source, u.Path)
		if i := slices.Index(st.chain, path); i >= 0 {
			chain := append(append([]string(nil), st.chain[i:]...), path)
			add(s, "sub-flows call each other in a cycle: %s; a flow may not run itself, directly or through others", strings.Join(chain, " -> "))
			continue
		}
		if len(st.chain) >= MaxUsesDepth {
			add(s, "sub-flows nest more than %d deep (%s -> %s); flatten some of them", MaxUsesDepth, strings.Join(st.chain, " -> "), path)
			continue
		}
		if l, ok := st.done[path]; ok {
			u.Flow = l.f
			if l.errs > 0 {
				add(s, "sub-flow %s has %d problem(s), listed at their positions in it", path, l.errs)
			}
			continue
		}
		data, err := opts.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				add(s, "sub-flow file %s does not exist (uses: paths are relative to the calling file's directory, %s)", path, filepath.Dir(f.Source))
			} else {
				add(s, "cannot read sub-flow file %s: %v", path, err)
			}
			continue
		}
		sub, perr := Parse(path, data)
		var sp Problems
		if perr != nil {
			sp, _ = perr.(Problems)
		}
		if sub != nil {
			subOpts := opts
			subOpts.uses = &usesState{chain: append(slices.Clone(st.chain), path), done: st.done}
			sp = append(sp, Validate(ctx, sub, subOpts)...)
			u.Flow = sub
		}
		errs := len(sp.Errors())
		st.done[path] = &loadedFlow{f: sub, errs: errs}
		probs = append(probs, sp...)
		if errs > 0 {
			add(s, "sub-flow %s has %d problem(s), listed at their positions in it", path, errs)
		}
	}
	return probs
}

// CheckInputValue checks v, as encoding/json decodes it, against input
// in's JSON Schema: the check `run` applies to a flow's inputs and a uses
// step to its sub-flow's. It returns one sentence per violation; err
// means the schema could not be applied.
func CheckInputValue(ctx context.Context, in *Input, v any) ([]string, error) {
	rs, err := argcheck.Resolve(in.Schema)
	if err != nil {
		return nil, fmt.Errorf("its schema is invalid: %w", err)
	}
	viols, err := rs.Check(ctx, v, argcheck.Label{Noun: "input", Root: in.Name})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(viols))
	for i := range viols {
		out[i] = viols[i].Sentence()
	}
	return out, nil
}

// usesInputs checks each uses step's with: against its sub-flow's
// inputs: every name declared, every input without a default given, and
// every value written without expressions valid against its schema (the
// others are checked when the step runs).
func (v *validator) usesInputs(ctx context.Context) {
	for _, s := range v.all {
		if s.Uses == nil || s.Uses.Flow == nil {
			continue
		}
		sub := s.Uses.Flow
		names := sortedInputNames(sub.Inputs)
		given := map[string]*Value{}
		if s.With != nil {
			for _, k := range s.With.Keys {
				val := s.With.Object[k]
				given[k] = val
				in, ok := sub.Inputs[k]
				field := s.field + ".with." + k
				if !ok {
					v.add(val.Pos, field, "sub-flow %s declares no input %q%s; its inputs: %s", sub.Source, k, didYouMean(k, names), namesOrNone(names))
					continue
				}
				if hasExpr(val) {
					continue
				}
				lit, err := JSONRoundTrip(literalOf(val))
				if err != nil {
					continue
				}
				say, err := CheckInputValue(ctx, in, lit)
				if err != nil {
					continue // the sub-flow's own validation reports its schema
				}
				for _, sentence := range say {
					v.add(val.Pos, field, "%s (as sub-flow %s declares it at line %d)", sentence, sub.Source, in.Pos.Line)
				}
			}
		}
		for _, n := range names {
			if _, ok := given[n]; ok {
				continue
			}
			if _, has := sub.Inputs[n].Schema["default"]; !has {
				pos, field := s.Pos, s.field
				if s.With != nil {
					pos, field = s.ValuePos("with"), s.field+".with"
				}
				v.add(pos, field, "missing input %q of sub-flow %s (it has no default); add it under with:", n, sub.Source)
			}
		}
	}
}

func namesOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// usesOutput checks .steps.<id>.result.<name> of uses step t against its
// sub-flow's outputs.
func (v *validator) usesOutput(e *Expr, r exprRef, t *Step, name string) {
	sub := t.Uses.Flow
	if _, ok := sub.Outputs[name]; ok {
		return
	}
	v.add(e.Pos, r.field, "sub-flow %s has no output %q (in .steps.%s.result.%s)%s; its outputs: %s", sub.Source, name, t.ID, name, didYouMean(name, sub.OutputOrder), namesOrNone(sub.OutputOrder))
}

// RunDigest is the digest a run journals for f: Digest when f uses no
// sub-flow, else the hash of Digest and every sub-flow's RunDigest, so a
// change to any file of the tree refuses a resume as a change to f does.
func (f *Flow) RunDigest() string {
	var subs []string
	for _, s := range f.AllSteps() {
		if s.Uses != nil && s.Uses.Flow != nil {
			subs = append(subs, s.Path+"="+s.Uses.Flow.RunDigest())
		}
	}
	if len(subs) == 0 {
		return f.Digest
	}
	sort.Strings(subs)
	h := sha256.New()
	h.Write([]byte(f.Digest))
	for _, x := range subs {
		h.Write([]byte{'\n'})
		h.Write([]byte(x))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Files lists the files f runs: its own Source and every sub-flow's,
// without repeats, in the order uses steps are written.
func (f *Flow) Files() []string {
	var out []string
	var walk func(x *Flow)
	walk = func(x *Flow) {
		if slices.Contains(out, x.Source) {
			return
		}
		out = append(out, x.Source)
		for _, s := range x.AllSteps() {
			if s.Uses != nil && s.Uses.Flow != nil {
				walk(s.Uses.Flow)
			}
		}
	}
	walk(f)
	return out
}

// LoadUses loads f's sub-flows as Validate does (opts.ReadFile reads
// them; each is parsed and validated with opts) without validating f
// itself, for a caller that validates separately or not at all. It
// returns the problems of loading, sorted.
func LoadUses(ctx context.Context, f *Flow, opts ValidateOptions) Problems {
	probs := resolveUses(ctx, f, opts)
	problem.Sort(probs)
	return probs
}
