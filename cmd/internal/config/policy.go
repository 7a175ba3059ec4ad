package config

import (
	"fmt"
	"strings"

	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Policy is the policy block: rules every command and workflow run obeys.
type Policy struct {
	// Flows are cross-server data flows ("weather -> calendar") every
	// request may make: the orchestrator's data-flow policy
	// (OrchestratorPolicy), which a flow file's flows: adds to.
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
// parser, so the syntax and its errors are those of a flow's flows:, and
// checks the servers each names (cfg.Servers is built). A config has no
// warnings, so an entry from a server to itself is an error here.
func (w *walker) buildPolicy(raw rawPolicy, cfg *Config) {
	for i, s := range raw.Flows {
		field := fmt.Sprintf("policy.flows[%d]", i)
		e, err := flow.ParseFlowEdge(s)
		if err == nil {
			err = e.Redundant()
		}
		if err != nil {
			w.at(field, "%v", err)
			continue
		}
		e.Pos = flow.Pos{File: w.file}
		if n := w.node(field); n != nil {
			e.Pos.Line, e.Pos.Column = n.Line, n.Column
		}
		w.checkPolicyServer(cfg, field, e.From)
		w.checkPolicyServer(cfg, field, e.To)
		cfg.Policy.Flows = append(cfg.Policy.Flows, e)
	}
	cfg.Policy.TrustAnnotations = raw.TrustAnnotations
	if _, set := w.locs["policy.trust_annotations"]; set && cfg.Policy.TrustAnnotations == nil {
		cfg.Policy.TrustAnnotations = []string{}
	}
}

// validatePolicy reports servers policy.trust_annotations names but the
// file does not configure: a typo there would silently trust nothing.
func (w *walker) validatePolicy(cfg *Config) {
	for i, name := range cfg.Policy.TrustAnnotations {
		w.checkPolicyServer(cfg, fmt.Sprintf("policy.trust_annotations[%d]", i), name)
	}
}

// checkPolicyServer reports a server the policy names at field that the
// file does not configure: a typo there would silently allow nothing.
func (w *walker) checkPolicyServer(cfg *Config, field, name string) {
	names := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		if s.Name == name {
			return
		}
		names = append(names, s.Name)
	}
	w.at(field, "unknown server %q%s; configured: %s", name, suggest.Hint(name, names), strings.Join(names, ", "))
}
