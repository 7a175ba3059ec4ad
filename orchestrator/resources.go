package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// maxListed caps the resources, templates or prompts taken from one
// server's listing; a longer listing is cut there (and the cut logged).
const maxListed = 10_000

// ResourceInfo is one resource a server lists, and whether its resources
// filter lets it be read.
type ResourceInfo struct {
	Server   string
	Resource *mcp.Resource
	Allowed  bool
}

// ResourceTemplateInfo is one resource template a server lists. Whether a
// URI made from it may be read is up to the filter, for that URI.
type ResourceTemplateInfo struct {
	Server   string
	Template *mcp.ResourceTemplate
}

// ResourceContents is a resource read through the orchestrator, with where
// its data came from.
type ResourceContents struct {
	Server   string
	URI      string
	CallID   string
	Duration time.Duration
	*mcp.ReadResourceResult
	// Provenance is the server plus the provenance of the request: a
	// server may put into what it answers whatever the URI carried.
	Provenance Provenance
}

// Resources lists the resources and resource templates of one server
// (connecting it if needed), or of every connected server that offers
// resources when server is "" (the others' failures are joined into the
// error, next to what could be listed).
func (o *Orchestrator) Resources(ctx context.Context, server string) ([]ResourceInfo, []ResourceTemplateInfo, error) {
	var (
		infos []ResourceInfo
		temps []ResourceTemplateInfo
	)
	err := o.eachServer(ctx, server, func(caps *mcp.ServerCapabilities) bool { return caps.Resources != nil },
		func(ctx context.Context, cfg ServerConfig, conn *connectors.Connector) error {
			rs, err := listUpTo(ctx, o, cfg.Name, "resources", conn.ListResources)
			if err != nil {
				return err
			}
			for _, r := range rs {
				infos = append(infos, ResourceInfo{Server: cfg.Name, Resource: r, Allowed: cfg.Resources.excludes("resources", r.URI) == ""})
			}
			ts, err := listUpTo(ctx, o, cfg.Name, "resource templates", conn.ListResourceTemplates)
			if err != nil {
				return err
			}
			for _, t := range ts {
				temps = append(temps, ResourceTemplateInfo{Server: cfg.Name, Template: t})
			}
			return nil
		})
	return infos, temps, err
}

// ReadResource reads the resource at uri on server. The server's
// resources filter must allow the URI, and the data-flow policy must let
// data of provenance prov (where the URI came from: the zero value for
// the user's own) go to server; either refusal sends nothing. The read is
// audited as method "resources/read" (the URI a value, recorded only
// with AuditIncludeValues); a resource over the server's
// max_resource_bytes is refused, never read whole.
func (o *Orchestrator) ReadResource(ctx context.Context, server, uri string, prov Provenance) (*ResourceContents, error) {
	argsJSON, err := paramsJSON(map[string]any{"uri": uri})
	if err != nil {
		return nil, err
	}
	var res *mcp.ReadResourceResult
	req := request{server: server, method: "resources/read", target: uri, argsJSON: argsJSON, prov: prov,
		allowed: func(cfg ServerConfig) string { return cfg.Resources.excludes("resources", uri) }}
	id, d, _, err := o.send(ctx, req, func(ctx context.Context, conn *connectors.Connector) error {
		var err error
		if res, err = conn.ReadResource(ctx, uri); err != nil {
			e := o.connErr(server, "", err)
			e.Msg = fmt.Sprintf("reading resource %q of server %q", uri, server)
			e.audit = fmt.Sprintf("reading a resource of server %q", server)
			return e
		}
		return nil
	})
	if res == nil {
		return nil, err
	}
	return &ResourceContents{Server: server, URI: uri, CallID: id, Duration: d, ReadResourceResult: res,
		Provenance: ProvenanceOf(server).Union(prov)}, err
}

// eachServer runs list on server (connected first if need be), or on every
// connected server whose capabilities has says offers the feature when
// server is "". Failures of the one server are its error; of several,
// joined (the others are still listed).
func (o *Orchestrator) eachServer(ctx context.Context, name string, has func(*mcp.ServerCapabilities) bool, list func(context.Context, ServerConfig, *connectors.Connector) error) error {
	if name != "" {
		s, err := o.lookup(name)
		if err != nil {
			return err
		}
		if err := o.connected(ctx, s, ""); err != nil {
			return err
		}
		return list(ctx, s.cfg, s.conn)
	}
	var errs []error
	for _, n := range o.names {
		s := o.servers[n]
		caps := s.conn.ServerCapabilities()
		if s.conn.Status().State != connectors.StateReady || caps == nil || !has(caps) {
			continue // connected servers only; failures show in Servers()
		}
		if err := list(ctx, s.cfg, s.conn); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// listUpTo lists what (prompts, resources, ...) of server with list, at
// most maxListed of them: a longer listing is cut there, and the log says
// so.
func listUpTo[T any](ctx context.Context, o *Orchestrator, server, what string, list func(context.Context, int) ([]*T, bool, error)) ([]*T, error) {
	items, more, err := list(ctx, maxListed)
	if err != nil {
		return nil, o.connErr(server, "", fmt.Errorf("listing %s: %w", what, err))
	}
	if more {
		o.log.Warn("listing cut short", "server", server, "what", what, "max", maxListed)
	}
	return items, nil
}
