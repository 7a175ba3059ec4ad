// Package call implements `mediator call SERVER TOOL`: one mediated tool
// call from the command line.
package call

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/prompter"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Options of `mediator call`.
type Options struct {
	cmdutil.ServerDeps
	// Terminal shows the call's progress (and, through the
	// orchestrator, asks what a server asks); nil shows nothing.
	Terminal func() *prompter.Terminal
	// ReadFile reads --args @FILE.
	ReadFile func(string) ([]byte, error)

	Server, Tool string
	// ArgsJSON is --args: a JSON object, @FILE or - for stdin.
	ArgsJSON string
	// Pairs are the -a key=value flags, in order.
	Pairs []string
	JSON  bool
	// Output is -o: the file the result's binary content (image, audio,
	// blob resource) is saved to, or "-" for stdout.
	Output string
}

// NewCmdCall returns `mediator call SERVER TOOL`.
func NewCmdCall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{ServerDeps: cmdutil.NewServerDeps(f), ReadFile: os.ReadFile, Terminal: f.Terminal}
	cmd := &cobra.Command{
		Use:   "call SERVER TOOL [--args JSON | -a KEY=VALUE ...]",
		Short: "Call one tool of one server through mediator",
		Long: `Calls TOOL of SERVER. Mediator checks that the tool exists, is allowed by
the server's tools filter and is pinned, validates the arguments against its
input schema before anything is sent, makes the call with that server's own
credential, and writes an audit record.

Arguments come from --args (a JSON object, @FILE to read one from a file, or
- for stdin) and -a KEY=VALUE flags, which override --args. A VALUE is read
as the tool's input schema types that argument: for a string, -a zip=01234
or -a version=1.10 stays the text typed. Where the schema gives no type, a
VALUE that is valid JSON (42, true, null, [1,2], {"a":1}, "quoted") is
taken as that JSON value, anything else as a string. A dotted KEY nests:
-a a.b=1 sets {"a": {"b": 1}}.

Output: text content as text, structured content as indented JSON, other
content summarized; --json prints the raw MCP CallToolResult. Binary
content (an image, audio, an embedded blob) is never printed as such: -o
FILE saves it to FILE (several blocks to FILE-1.EXT, FILE-2.EXT, ...), and
-o - writes it to stdout unchanged when stdout is not a terminal.

While the call runs, the server may ask you for input (elicitation, if
its elicitation setting is ask, the default). On a terminal mediator
names the server, shows a form with the server's defaults filled in,
and sends your answer only once it fits the server's form and you chose
to send it; a web page the server asks you to open is shown in full,
its domain set apart, and never opened by mediator. Without a terminal
such requests are declined. On a terminal a line on stderr shows the
server's progress reports.

A tool that runs as a task (MCP tasks) is waited for within the server's
timeout, its status shown on stderr when that is a terminal; Ctrl-C
cancels the task on the server (tasks/cancel).

Exit codes: 0 success; 1 the tool returned an error result; 2 refused
before sending (usage, config, an unknown server or tool, a tool not
allowed or with changes not accepted, invalid arguments); 3 the server
could not be used (unreachable, no answer in time, credential rejected or
missing, a JSON-RPC error); 130 interrupted (Ctrl-C). See ` + "`mediator help exit-codes`" + `.`,
		Example: `  mediator call weather get_forecast -a location=Oslo -a days=3
  mediator call calendar create_event --args '{"title": "Walk", "start": "2026-05-01T10:00"}'
  mediator call calendar list_events --args @args.json --json`,
		Args: cmdutil.ExactArgs(2, "SERVER TOOL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Tool = args[0], args[1]
			if opts.Output == "-" && opts.JSON {
				return cmdutil.UsageErrorf("-o - and --json both write to stdout; save the binary content to a file with -o FILE")
			}
			if opts.Output == "-" && opts.IO.IsStdoutTTY() {
				return cmdutil.UsageErrorf("-o -: stdout is a terminal, and mediator does not write binary data to one; name a file with -o FILE, or pipe stdout")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return callRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServerTools(f),
	}
	cmd.Flags().StringVar(&opts.ArgsJSON, "args", "", "arguments as a JSON object, @FILE, or - for stdin")
	cmd.Flags().StringArrayVarP(&opts.Pairs, "arg", "a", nil, "one argument as KEY=VALUE (repeatable; VALUE read by the tool's input schema, else as JSON when it is valid JSON)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the raw MCP CallToolResult as JSON")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "save the result's binary content (image, audio, blob) to FILE, or - for stdout when it is not a terminal")
	_ = cmd.RegisterFlagCompletionFunc("arg", completeArg(f))
	return cmd
}

func callRun(ctx context.Context, opts *Options) error {
	args, err := ReadArgs(opts.ArgsJSON, opts.IO.In, opts.ReadFile)
	if err != nil {
		return err
	}
	pairs, err := ParsePairs(opts.Pairs)
	if err != nil {
		return err
	}
	o, err := opts.OpenCaller(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	term := &prompter.Terminal{} // shows nothing
	if opts.Terminal != nil {
		term = opts.Terminal()
	}

	var schema any
	if NeedsSchema(pairs) {
		// The audit log opens (reading its key from the keyring) while
		// the server starts, as in Call; Call reports a failure.
		go func() { _ = o.OpenAudit(ctx) }()
		// Listing connects the server, as the call would. A failure here
		// is the call's failure: nothing was sent, and trying again in
		// Call would only make the user wait a second timeout.
		tools, err := o.Tools(ctx, opts.Server)
		if err != nil {
			return err
		}
		for _, t := range tools {
			if t.Name == opts.Tool && t.Tool != nil {
				schema = t.Tool.InputSchema
			}
		}
	}
	if err := ApplyPairs(args, pairs, schema); err != nil {
		return err
	}

	res, callErr := o.Call(connectors.WithProgress(ctx, term.Progress), opts.Server, opts.Tool, args)
	term.ClearProgress()
	if res == nil {
		return callErr
	}
	var saved map[int]string
	var saveErr error
	if opts.Output != "" && !res.IsError {
		saved, saveErr = saveBinary(opts, opts.Redactor(), res.CallToolResult)
		if saveErr == nil && len(saved) == 0 {
			saveErr = cmdutil.Errorf(cmdutil.ExitUsage, "-o %s: nothing saved: the result holds no image, audio or blob resource (it is printed instead)", opts.Output)
		}
	}
	// A result with an error after it (the audit log failed) is still
	// the server's answer and is printed before the error.
	if err := printResult(opts, res, saved); err != nil {
		return err
	}
	if callErr != nil {
		return callErr
	}
	// The record is written behind the call; a lost one is an error of
	// this command, not something for a deferred Close to swallow.
	if err := o.SyncAudit(ctx); err != nil {
		return err
	}
	if res.IsError {
		return &cmdutil.ExitError{Code: cmdutil.ExitToolError, Err: fmt.Errorf("%s returned an error", orchestrator.QualifiedName(res.Server, res.Tool))}
	}
	return saveErr
}

// printResult prints res as text or, with --json, as JSON; saved names
// where binary blocks went (by content index), which the text says. With
// the binary content on stdout (-o -), the text goes to stderr.
func printResult(opts *Options, res *orchestrator.Result, saved map[int]string) error {
	red := opts.Redactor()
	if opts.JSON {
		out, err := cmdutil.MarshalJSON(res.CallToolResult)
		if err != nil {
			return fmt.Errorf("encoding the result: %w", err)
		}
		return cmdutil.WriteRedacted(opts.IO.Out, red, out)
	}
	out := renderHuman(res.CallToolResult, saved)
	// An error result is a message about the call, not data.
	w := opts.IO.Out
	if res.IsError || opts.Output == "-" {
		w = opts.IO.ErrOut
	}
	return cmdutil.WriteRedacted(w, red, out)
}

// renderHuman prints text as text and structured content as indented
// JSON, skipping a text block that merely repeats the structured content
// (go-sdk servers send both). Binary content is summarized, with where it
// was saved when saved names it.
func renderHuman(res *mcp.CallToolResult, saved map[int]string) []byte {
	var buf bytes.Buffer
	var structured []byte
	if res.StructuredContent != nil {
		structured, _ = cmdutil.MarshalJSON(res.StructuredContent)
	}
	line := func(s string) {
		buf.WriteString(s)
		if len(s) == 0 || s[len(s)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	binary := func(i int, s string) {
		if to, ok := saved[i]; ok {
			s += ", saved to " + to
		}
		line(s + "]")
	}
	for i, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			if structured != nil && sameJSON(c.Text, res.StructuredContent) {
				continue
			}
			line(c.Text)
		case *mcp.ImageContent:
			binary(i, fmt.Sprintf("[image: %s, %d bytes", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			binary(i, fmt.Sprintf("[audio: %s, %d bytes", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			s := "[resource link: " + c.URI
			if c.Name != "" {
				s += " (" + c.Name + ")"
			}
			line(s + "]")
		case *mcp.EmbeddedResource:
			if c.Resource == nil {
				line("[resource]")
				continue
			}
			if c.Resource.Text != "" {
				line(fmt.Sprintf("[resource %s]", c.Resource.URI))
				line(c.Resource.Text)
			} else {
				binary(i, fmt.Sprintf("[resource %s: %s, %d bytes", c.Resource.URI, c.Resource.MIMEType, len(c.Resource.Blob)))
			}
		default:
			b, _ := json.Marshal(c)
			var probe struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(b, &probe)
			line(fmt.Sprintf("[%s content]", probe.Type))
		}
	}
	if structured != nil {
		buf.Write(structured)
	}
	return buf.Bytes()
}

func sameJSON(text string, v any) bool {
	var t any
	if err := json.Unmarshal([]byte(text), &t); err != nil {
		return false
	}
	a, err1 := json.Marshal(t)
	b, err2 := json.Marshal(v)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}
