package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// oneShotJSON is `chat -p --json`'s output.
type oneShotJSON struct {
	Answer    string         `json:"answer"`
	ToolCalls []toolCallJSON `json:"tool_calls"`
	Usage     agent.Usage    `json:"usage"`
	// Session is the saved session's ID (--resume ID continues it).
	Session string `json:"session"`
	// Context is what the context holds: the servers whose output the
	// model has seen.
	Context []string `json:"context"`
}

type toolCallJSON struct {
	Server string `json:"server,omitempty"`
	Tool   string `json:"tool,omitempty"`
	// Name is the tool as the model called it (server__tool).
	Name string         `json:"name"`
	Args map[string]any `json:"args,omitempty"`
	// Refused says mediator (or --approve) refused the call: nothing was
	// sent. Error is why it was refused or failed; Result what it gave.
	Refused bool   `json:"refused"`
	Error   string `json:"error,omitempty"`
	Result  string `json:"result,omitempty"`
}

// oneShotRun asks the one question, explains each refusal on stderr,
// saves the session and prints the answer.
func oneShotRun(ctx context.Context, opts *Options, sess *agent.Session, mode agent.ApproveMode, sv *saver, red *credentials.Redactor) error {
	calls := []toolCallJSON{}
	update := func(u agent.Update) {
		if u.Kind != agent.UpdateToolResult || u.Call == nil || u.Call.Result == nil {
			return
		}
		c := u.Call
		tc := toolCallJSON{Server: c.Server, Tool: c.Tool, Name: c.Result.Name, Args: c.Args, Refused: c.Refused}
		if c.Result.IsError {
			tc.Error = c.Result.Text
		} else {
			tc.Result = c.Result.Text
		}
		calls = append(calls, tc)
		if c.Refused {
			fmt.Fprintln(opts.IO.ErrOut, red.Redact(refusal(c, mode)))
		}
	}
	reply, err := sess.Send(ctx, opts.Prompt, update)
	id, serr := sv.save()
	if id != "" {
		fmt.Fprintf(opts.IO.ErrOut, "session %s saved; continue it with: mediator chat --resume %s\n", id, id)
	}
	if err != nil {
		return sendError(err)
	}
	if serr != nil {
		return serr
	}
	if !opts.JSON {
		return cmdutil.WriteRedacted(opts.IO.Out, red, []byte(strings.TrimRight(reply.Text, "\n")+"\n"))
	}
	out := oneShotJSON{Answer: reply.Text, ToolCalls: calls, Usage: reply.Usage, Session: id, Context: sess.Provenance().Servers()}
	if out.Context == nil {
		out.Context = []string{}
	}
	b, err := cmdutil.MarshalJSON(out)
	if err != nil {
		return err
	}
	return cmdutil.WriteRedacted(opts.IO.Out, red, b)
}

// refusal explains a refused call on stderr: what was refused and why
// (the orchestrator's text names the policy line to add), and the flag
// that allows it for one run: --allow-flow for a cross-server flow,
// --approve all for a call --approve read-only did not approve.
func refusal(c *agent.CallInfo, mode agent.ApproveMode) string {
	name := c.Result.Name
	if c.Server != "" {
		name = orchestrator.QualifiedName(c.Server, c.Tool)
	}
	msg := fmt.Sprintf("refused: %s: %s", name, c.Result.Text)
	var flags []string
	if m := policyLine.FindStringSubmatch(c.Result.Text); m != nil {
		var edges []string
		_ = json.Unmarshal([]byte(m[1]), &edges)
		for _, e := range edges {
			if f, err := flow.ParseFlowEdge(e); err == nil {
				flags = append(flags, "--allow-flow "+f.From+"->"+f.To)
			}
		}
	} else if strings.Contains(c.Result.Text, "the user denied") && mode != agent.ApproveAll {
		flags = append(flags, "--approve all (--approve read-only approves calls to tools annotated read-only only)")
	}
	if len(flags) > 0 {
		msg += "\n  to allow it for one run: " + strings.Join(flags, " ")
	}
	return msg
}

// policyLine finds the flows a refusal's text says to add to the
// config (orchestrator: `policy.flows: ["a -> b", ...]`).
var policyLine = regexp.MustCompile(`policy\.flows: (\[[^\]]*\])`)

// sendError is the exit an error of the conversation gives: the
// orchestrator's own (the audit log) and an interrupt keep theirs; the
// rest is the model that could not be used.
func sendError(err error) error {
	var oe *orchestrator.Error
	if errors.Is(err, context.Canceled) || errors.As(err, &oe) {
		return err
	}
	return &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: err}
}
