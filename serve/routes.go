package serve

import (
	"strings"
	"sync"
)

// routes map what the gateway offers back to its server, for the
// requests that name a prompt or resource outside their go-sdk handler
// (completion/complete, resources/subscribe). refresh sets a server's
// under s.mu; requests read them under routes' own lock, so a slow
// listing holds none of them.
type routes struct {
	mu sync.RWMutex
	m  map[string]serverRoutes // by server
}

type serverRoutes struct {
	prompts   map[string]string // host's name -> the server's own
	resources map[string]bool   // URIs
	templates map[string]bool   // URI templates
}

// set records what off offers of server; own maps a prompt's host name
// to the server's own name.
func (r *routes) set(server string, off *offering, own func(string) string) {
	sr := serverRoutes{prompts: map[string]string{}, resources: map[string]bool{}, templates: map[string]bool{}}
	for name := range off.prompts {
		sr.prompts[name] = own(name)
	}
	for uri := range off.resources {
		sr.resources[uri] = true
	}
	for t := range off.templates {
		sr.templates[t] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]serverRoutes{}
	}
	r.m[server] = sr
}

// prompt is the server offering the prompt the host calls name, and
// that prompt's own name; "" when none does.
func (r *routes) prompt(name string) (server, own string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for srv, sr := range r.m {
		if o, ok := sr.prompts[name]; ok {
			return srv, o
		}
	}
	return "", ""
}

// resource is the server offering the resource at uri (template: the
// resource template uri), or "".
func (r *routes) resource(uri string, template bool) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for srv, sr := range r.m {
		m := sr.resources
		if template {
			m = sr.templates
		}
		if m[uri] {
			return srv
		}
	}
	return ""
}

// ownPrompt is the server's own name of a prompt offered to the host as
// name.
func (s *Server) ownPrompt(server string) func(string) string {
	return func(name string) string {
		if s.opts.NoPrefix {
			return name
		}
		return strings.TrimPrefix(name, server+"__")
	}
}
