package resources

import (
	"bytes"
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ReadOptions of `mediator read`.
type ReadOptions struct {
	cmdutil.ServerDeps

	Server, URI string
	JSON        bool
	// Output is -o: the file the binary contents are saved to, or "-" for
	// stdout when it is not a terminal.
	Output string
}

// NewCmdRead returns `mediator read SERVER URI`.
func NewCmdRead(f *cmdutil.Factory, runF func(context.Context, *ReadOptions) error) *cobra.Command {
	opts := &ReadOptions{ServerDeps: cmdutil.NewServerDeps(f)}
	cmd := &cobra.Command{
		Use:   "read SERVER URI [--json] [-o FILE]",
		Short: "Read one resource of one server through mediator",
		Long: `Reads the resource at URI from SERVER. Mediator checks that the server's
resources filter allows the URI, reads it with that server's own credential,
and writes an audit record (method resources/read). A resource larger than
the server's max_resource_bytes (default 16 MiB) is refused, never read
whole.

Output: text contents as text; --json prints the raw MCP ReadResourceResult
(blobs as base64). Binary contents are never printed to a terminal: -o FILE
saves them to FILE (several to FILE-1.EXT, FILE-2.EXT, ...), and -o -
writes one to stdout unchanged when stdout is not a terminal.

Exit codes: 0 success; 2 refused before sending (usage, config, an unknown
server, a URI the filter excludes, binary contents without -o); 3 the
server could not be used (unreachable, no answer in time, credential
rejected, a JSON-RPC error such as an unknown resource, a resource over
max_resource_bytes). See ` + "`mediator help exit-codes`" + `.`,
		Example: `  mediator read everything demo://resource/static/document/features.md
  mediator read everything demo://resource/dynamic/blob/1 -o blob.bin
  mediator read docs file:///srv/handbook/intro.md --json`,
		Args: cmdutil.ExactArgs(2, "SERVER URI"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.URI = args[0], args[1]
			if opts.Output == "-" && opts.JSON {
				return cmdutil.UsageErrorf("-o - and --json both write to stdout; save the binary contents to a file with -o FILE")
			}
			if opts.Output == "-" && opts.IO.IsStdoutTTY() {
				return cmdutil.UsageErrorf("-o -: stdout is a terminal, and mediator does not write binary data to one; name a file with -o FILE, or pipe stdout")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return readRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the raw MCP ReadResourceResult as JSON")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "save the binary contents to FILE, or - for stdout when it is not a terminal")
	return cmd
}

func readRun(ctx context.Context, opts *ReadOptions) error {
	o, err := opts.OpenCaller(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	// The URI is the user's own: it carries no server's data.
	rc, readErr := o.ReadResource(ctx, opts.Server, opts.URI, orchestrator.Provenance{})
	if rc == nil {
		return readErr
	}
	red := opts.Redactor()
	var saved map[int]string
	var saveErr error
	blocks := binaryContents(rc.Contents)
	switch {
	case opts.JSON:
		out, err := cmdutil.MarshalJSON(rc.ReadResourceResult)
		if err != nil {
			return fmt.Errorf("encoding the resource: %w", err)
		}
		if err := cmdutil.WriteRedacted(opts.IO.Out, red, out); err != nil {
			return err
		}
	case opts.Output != "":
		saved, saveErr = cmdutil.SaveBinary(opts.IO, red, opts.Output, blocks)
		if saveErr == nil && len(saved) == 0 {
			saveErr = cmdutil.Errorf(cmdutil.ExitUsage, "-o %s: nothing saved: the resource holds no binary contents (its text is printed instead)", opts.Output)
		}
		fallthrough
	default:
		// With the binary contents on stdout (-o -), the text goes to stderr.
		w := opts.IO.Out
		if opts.Output == "-" {
			w = opts.IO.ErrOut
		}
		if err := cmdutil.WriteRedacted(w, red, renderContents(rc.Contents, saved)); err != nil {
			return err
		}
		if opts.Output == "" && len(blocks) > 0 {
			b := blocks[0]
			saveErr = cmdutil.UsageErrorf("resource %s holds binary contents (%s, %d bytes), which mediator does not print; save them with -o FILE, e.g. -o resource%s (or pipe them with -o -)",
				opts.URI, orUnknown(b.MIME), len(b.Data), cmdutil.Extension(b.MIME))
		}
	}
	if readErr != nil {
		return readErr
	}
	// The record is written behind the read; a lost one is an error of
	// this command.
	if err := o.SyncAudit(ctx); err != nil {
		return err
	}
	return saveErr
}

// binaryContents lists the blobs among contents.
func binaryContents(contents []*mcp.ResourceContents) []cmdutil.BinaryBlock {
	var out []cmdutil.BinaryBlock
	for i, c := range contents {
		if c != nil && c.Blob != nil {
			out = append(out, cmdutil.BinaryBlock{Index: i, Kind: "resource's blob", MIME: c.MIMEType, Data: c.Blob})
		}
	}
	return out
}

// renderContents prints texts as text and summarizes blobs, with where
// each was saved. A read of several contents heads each with its URI.
func renderContents(contents []*mcp.ResourceContents, saved map[int]string) []byte {
	var buf bytes.Buffer
	for i, c := range contents {
		if c == nil {
			continue
		}
		if len(contents) > 1 {
			fmt.Fprintf(&buf, "[resource %s]\n", c.URI)
		}
		if c.Blob != nil {
			s := fmt.Sprintf("[blob: %s, %d bytes", orUnknown(c.MIMEType), len(c.Blob))
			if to, ok := saved[i]; ok {
				s += ", saved to " + to
			}
			buf.WriteString(s + "]\n")
			continue
		}
		buf.WriteString(c.Text)
		if c.Text != "" && c.Text[len(c.Text)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

func orUnknown(mime string) string {
	if mime == "" {
		return "type unknown"
	}
	return mime
}
