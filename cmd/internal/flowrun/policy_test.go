package flowrun

import (
	"testing"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/workflows/flow"
)

type policyBlock struct {
	flows   []flow.FlowEdge
	trusted []string
	set     bool
}

func (p policyBlock) PolicyFlows() []flow.FlowEdge                  { return p.flows }
func (p policyBlock) AnnotationTrust() (servers []string, set bool) { return p.trusted, p.set }

func TestPolicyFrom(t *testing.T) {
	flows := []flow.FlowEdge{{From: "weather", To: "calendar"}}
	p := PolicyFrom(policyBlock{flows: flows})
	if len(p.Flows) != 1 || p.Flows[0] != flows[0] || !p.TrustAnnotations("anything") {
		t.Fatalf("without trust_annotations: %+v, trusts anything %v", p.Flows, p.TrustAnnotations("anything"))
	}
	p = PolicyFrom(policyBlock{trusted: []string{"weather"}, set: true})
	if !p.TrustAnnotations("weather") || p.TrustAnnotations("calendar") {
		t.Fatal("trust_annotations: [weather] should trust weather only")
	}
	p = PolicyFrom(policyBlock{trusted: nil, set: true})
	if p.TrustAnnotations("weather") {
		t.Fatal("trust_annotations: [] should trust no server")
	}
	// A config without a policy block reads as the default policy.
	for _, d := range []Policy{PolicyOf(Env{Policy: ConfigPolicy}, nil), PolicyOf(Env{Policy: ConfigPolicy}, &config.Config{})} {
		if len(d.Flows) != 0 || !d.TrustAnnotations("weather") {
			t.Fatalf("default policy %+v", d)
		}
	}
}

var _ PolicySource = (*config.Config)(nil)
