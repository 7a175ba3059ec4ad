package temporal

import (
	"slices"
	"sort"
)

// Domains maps credential domains to their servers: the servers whose
// credentials live together on the workers of one domain. A server in no
// domain is a domain of its own, named after it. Every call to a domain's
// servers is an activity on the domain's queue (DomainQueue), which only
// that domain's workers poll.
type Domains map[string][]string

// DomainQueue is the task queue of a domain's activities: "mcp.<domain>".
func DomainQueue(domain string) string { return "mcp." + domain }

// Of returns the domain of server.
func (d Domains) Of(server string) string {
	for _, name := range d.Names() {
		if slices.Contains(d[name], server) {
			return name
		}
	}
	return server
}

// Queue returns the task queue of server's activities, the queue of its
// domain; it is Runtime.Queue and Flows.Queue.
func (d Domains) Queue(server string) string { return DomainQueue(d.Of(server)) }

// Servers returns the servers of domain: its list, or the server of that
// name when no domain is named so.
func (d Domains) Servers(domain string) []string {
	if s, ok := d[domain]; ok {
		return slices.Clone(s)
	}
	return []string{domain}
}

// Names returns the domains' names, sorted.
func (d Domains) Names() []string {
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
