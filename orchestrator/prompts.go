package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// PromptInfo is one prompt a server lists, and whether its prompts filter
// lets it be got.
type PromptInfo struct {
	Server  string
	Prompt  *mcp.Prompt
	Allowed bool
}

// PromptMessages is a prompt got through the orchestrator, with where its
// data came from.
type PromptMessages struct {
	Server   string
	Name     string
	CallID   string
	Duration time.Duration
	*mcp.GetPromptResult
	// Provenance is the server plus the provenance of the arguments: a
	// prompt's messages usually quote them.
	Provenance Provenance
}

// Prompts lists the prompts of one server (connecting it if needed), or of
// every connected server that offers prompts when server is "".
func (o *Orchestrator) Prompts(ctx context.Context, server string) ([]PromptInfo, error) {
	var infos []PromptInfo
	err := o.eachServer(ctx, server, func(caps *mcp.ServerCapabilities) bool { return caps.Prompts != nil },
		func(ctx context.Context, cfg ServerConfig, conn *connectors.Connector) error {
			ps, err := listUpTo(ctx, o, cfg.Name, "prompts", conn.ListPrompts)
			if err != nil {
				return err
			}
			for _, p := range ps {
				infos = append(infos, PromptInfo{Server: cfg.Name, Prompt: p, Allowed: cfg.Prompts.excludes("prompts", p.Name) == ""})
			}
			return nil
		})
	return infos, err
}

// GetPrompt gets the prompt name of server with its arguments. The
// server's prompts filter must allow the name, and the data-flow policy
// must let data of provenance prov (where the arguments came from) go to
// server; either refusal sends nothing. It is audited as method
// "prompts/get", the arguments recorded as a call's are.
func (o *Orchestrator) GetPrompt(ctx context.Context, server, name string, args map[string]string, prov Provenance) (*PromptMessages, error) {
	m := make(map[string]any, len(args))
	for k, v := range args {
		m[k] = v
	}
	argsJSON, err := paramsJSON(m)
	if err != nil {
		return nil, err
	}
	var res *mcp.GetPromptResult
	req := request{server: server, method: "prompts/get", target: name, tool: name, argsJSON: argsJSON, prov: prov,
		allowed: func(cfg ServerConfig) string { return cfg.Prompts.excludes("prompts", name) }}
	id, d, _, err := o.send(ctx, req, func(ctx context.Context, conn *connectors.Connector) error {
		var err error
		if res, err = conn.GetPrompt(ctx, name, args); err != nil {
			e := o.connErr(server, name, err)
			e.Msg = fmt.Sprintf("getting prompt %q of server %q", name, server)
			return e
		}
		return nil
	})
	if res == nil {
		return nil, err
	}
	return &PromptMessages{Server: server, Name: name, CallID: id, Duration: d, GetPromptResult: res,
		Provenance: ProvenanceOf(server).Union(prov)}, err
}

// paramsJSON is the JSON an audit record digests for params.
func paramsJSON(params map[string]any) ([]byte, error) {
	_, b, err := jsonArgs(params)
	return b, err
}
