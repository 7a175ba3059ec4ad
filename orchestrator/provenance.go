package orchestrator

import (
	"slices"
)

// Provenance is the set of servers whose output went into a value: a
// tool's arguments, a resource URI, a prompt's arguments, a sampling
// request. The zero value is data from no server (the user's own). A
// Provenance is immutable; Union returns a new one.
type Provenance struct {
	servers []string // sorted, unique
}

// ProvenanceOf returns the provenance of data from the named servers.
func ProvenanceOf(servers ...string) Provenance {
	s := slices.Clone(servers)
	slices.Sort(s)
	return Provenance{servers: slices.Compact(s)}
}

// Union is the provenance of data built from both p and q.
func (p Provenance) Union(q Provenance) Provenance {
	if len(q.servers) == 0 {
		return p
	}
	if len(p.servers) == 0 {
		return q
	}
	return ProvenanceOf(append(slices.Clone(p.servers), q.servers...)...)
}

// Servers returns the servers, sorted.
func (p Provenance) Servers() []string { return slices.Clone(p.servers) }

// Has reports whether data from server went into the value.
func (p Provenance) Has(server string) bool {
	_, ok := slices.BinarySearch(p.servers, server)
	return ok
}

// IsZero reports whether the value came from no server.
func (p Provenance) IsZero() bool { return len(p.servers) == 0 }

// FlowDecision is what the data-flow policy decided about one request, as
// the audit log records it: the servers the data came from (other than
// the one it is sent to) and, for each, the flow and what allowed it
// ("a -> b (policy)", "(flows)" for the caller's own flows,
// "(approval:once)", "(approval:session)"), comma-separated; for a
// refused request only what was allowed.
type FlowDecision struct {
	Sources   []string
	AllowedBy string
}
