package slash

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// refreshTimeout bounds one server's listing when a notification says it
// changed: a stuck server must not pile up goroutines.
const refreshTimeout = 30 * time.Second

// cache holds the listings completion and /help read, so that neither
// waits on a server: each server's tools, prompts and resources as last
// listed.
type cache struct {
	orch *orchestrator.Orchestrator

	mu        sync.Mutex
	tools     map[string][]orchestrator.ToolInfo
	prompts   map[string][]orchestrator.PromptInfo
	resources map[string][]string // URIs, templates' included
	wg        sync.WaitGroup      // background refreshes
}

func newCache(o *orchestrator.Orchestrator) *cache {
	return &cache{orch: o, tools: map[string][]orchestrator.ToolInfo{},
		prompts: map[string][]orchestrator.PromptInfo{}, resources: map[string][]string{}}
}

// Refresh lists the tools, prompts and resources of every connected
// server for completion and /help. The chat calls it once the servers are
// connected; a server whose listing fails is left out.
func (c *Commands) Refresh(ctx context.Context) {
	for _, s := range c.env.Orchestrator.Servers() {
		c.cache.refreshTools(ctx, s.Name)
		c.cache.refreshPrompts(ctx, s.Name)
		c.cache.refreshResources(ctx, s.Name)
	}
}

// PromptsChanged relists server's prompts in the background (hook it to
// orchestrator.Host.PromptsChanged; it does not block).
func (c *Commands) PromptsChanged(server string) { c.cache.background(server, c.cache.refreshPrompts) }

// ResourcesChanged relists server's resources in the background (hook it
// to orchestrator.Host.ResourcesChanged).
func (c *Commands) ResourcesChanged(server string) {
	c.cache.background(server, c.cache.refreshResources)
}

// ToolsChanged relists server's tools in the background (hook it to
// orchestrator.Host.ToolsChanged).
func (c *Commands) ToolsChanged(server string, _ error) {
	c.cache.background(server, c.cache.refreshTools)
}

// Wait returns once the background refreshes started so far are done.
func (c *Commands) Wait() { c.cache.wg.Wait() }

func (c *cache) background(server string, refresh func(context.Context, string)) {
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		refresh(ctx, server)
	})
}

func (c *cache) refreshTools(ctx context.Context, server string) {
	if !c.ready(server) {
		return
	}
	ts, err := c.orch.Tools(ctx, server)
	if err != nil {
		return
	}
	c.setTools(server, ts)
}

func (c *cache) setTools(server string, ts []orchestrator.ToolInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tools[server] = ts
}

func (c *cache) refreshPrompts(ctx context.Context, server string) {
	if !c.ready(server) {
		return
	}
	ps, err := c.orch.Prompts(ctx, server)
	if err != nil {
		ps = nil // a server without prompts has none to complete
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prompts[server] = slices.DeleteFunc(ps, func(p orchestrator.PromptInfo) bool {
		// A name a command line cannot hold is left out.
		return !p.Allowed || p.Prompt == nil || p.Prompt.Name == "" || strings.ContainsFunc(p.Prompt.Name, unicode.IsSpace)
	})
}

func (c *cache) refreshResources(ctx context.Context, server string) {
	if !c.ready(server) {
		return
	}
	rs, ts, err := c.orch.Resources(ctx, server)
	if err != nil {
		rs, ts = nil, nil
	}
	var uris []string
	for _, r := range rs {
		if r.Allowed && r.Resource != nil {
			uris = append(uris, r.Resource.URI)
		}
	}
	for _, t := range ts {
		if t.Template != nil {
			uris = append(uris, t.Template.URITemplate)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resources[server] = uris
}

// ready reports whether server is connected: listing one that is not
// would connect it, which a refresh must not wait for.
func (c *cache) ready(server string) bool {
	for _, s := range c.orch.Servers() {
		if s.Name == server {
			return s.State == connectors.StateReady
		}
	}
	return false
}

func (c *cache) toolsOf(server string) []orchestrator.ToolInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.tools[server])
}

func (c *cache) resourcesOf(server string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.resources[server])
}

// promptsOf returns server's prompts and whether they were listed.
func (c *cache) promptsOf(server string) ([]orchestrator.PromptInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.prompts[server]
	return slices.Clone(ps), ok
}

// promptList is every server's prompts, by server then prompt name.
func (c *cache) promptList() []orchestrator.PromptInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []orchestrator.PromptInfo
	for _, ps := range c.prompts {
		out = append(out, ps...)
	}
	slices.SortFunc(out, func(a, b orchestrator.PromptInfo) int {
		if a.Server != b.Server {
			return cmp.Compare(a.Server, b.Server)
		}
		return cmp.Compare(a.Prompt.Name, b.Prompt.Name)
	})
	return out
}
