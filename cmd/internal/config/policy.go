package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Policy is the policy block: rules every workflow run obeys.
type Policy struct {
	// Flows are cross-server data flows ("weather -> calendar") every flow
	// file may make in addition to those its own flows: declares.
	Flows []flow.FlowEdge
	// TrustAnnotations names the servers whose tool annotations
	// (readOnlyHint, idempotentHint) the workflow retry rule believes. Nil
	// (the key absent) trusts every server, since mediator pins tool
	// definitions; an empty list trusts none.
	TrustAnnotations []string
}

// PolicyFlows returns policy.flows (for the workflow commands).
func (c *Config) PolicyFlows() []flow.FlowEdge { return c.Policy.Flows }

// AnnotationTrust returns policy.trust_annotations and whether the key was
// written at all.
func (c *Config) AnnotationTrust() (servers []string, set bool) {
	return c.Policy.TrustAnnotations, c.Policy.TrustAnnotations != nil
}

type rawPolicy struct {
	Flows            []string `mapstructure:"flows"`
	TrustAnnotations []string `mapstructure:"trust_annotations"`
}

var policySpec = &spec{kind: kObject, fields: map[string]*spec{
	"flows":             {kind: kStrings},
	"trust_annotations": {kind: kStrings},
}}

// buildPolicy parses each "from -> to" with the workflow format's own
// parser, so the syntax and its errors are those of a flow's flows:.
func (w *walker) buildPolicy(raw rawPolicy, cfg *Config) {
	for i, s := range raw.Flows {
		field := fmt.Sprintf("policy.flows[%d]", i)
		e, err := flow.ParseFlowEdge(s)
		if err != nil {
			w.at(field, "%v", err)
			continue
		}
		e.Pos = flow.Pos{File: w.file}
		if n := w.node(field); n != nil {
			e.Pos.Line, e.Pos.Column = n.Line, n.Column
		}
		cfg.Policy.Flows = append(cfg.Policy.Flows, e)
	}
	cfg.Policy.TrustAnnotations = raw.TrustAnnotations
	if _, set := w.locs["policy.trust_annotations"]; set && cfg.Policy.TrustAnnotations == nil {
		cfg.Policy.TrustAnnotations = []string{}
	}
}

// validatePolicy reports servers the policy names but the file does not
// configure: a typo there would silently allow or trust nothing.
func (w *walker) validatePolicy(cfg *Config) {
	names := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		names = append(names, s.Name)
	}
	check := func(field, name string) {
		if !slices.Contains(names, name) {
			w.at(field, "unknown server %q%s; configured: %s", name, suggest.Hint(name, names), strings.Join(names, ", "))
		}
	}
	for i, e := range cfg.Policy.Flows {
		field := fmt.Sprintf("policy.flows[%d]", i)
		check(field, e.From)
		check(field, e.To)
	}
	for i, name := range cfg.Policy.TrustAnnotations {
		check(fmt.Sprintf("policy.trust_annotations[%d]", i), name)
	}
}
