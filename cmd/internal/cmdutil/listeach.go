package cmdutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// ListEach runs a listing command that is not `tools` (resources, prompts):
// it connects server (or every configured server when server is ""),
// lists what with list, renders the rows with render and writes them to
// stdout with secrets masked. What could not be listed is the error,
// with the exit code it calls for: 2 for an unknown server or a server
// entry with problems, 3 for a server that failed. Other servers' rows
// are printed all the same.
func ListEach(ctx context.Context, d ListingDeps, server, what string,
	list func(context.Context, *orchestrator.Orchestrator) error, render func(*bytes.Buffer) error,
) (int, error) {
	cfg, err := d.Config()
	if err != nil {
		return ExitCode(err), err
	}
	var names []string
	if server != "" {
		if _, err := CheckServer(cfg, server); err != nil {
			return ExitCode(err), err
		}
		names = []string{server}
	} else {
		d.NoConfigHint(cfg)
	}
	o, err := d.Orchestrator(ctx, cfg, names...)
	if err != nil {
		return ExitCode(err), err
	}
	defer o.Close()
	o.Connect(ctx, names...)
	listErr := list(ctx, o)
	if listErr != nil && server != "" {
		return ExitCode(listErr), listErr
	}
	var out bytes.Buffer
	if err := render(&out); err != nil {
		return ExitUsage, err
	}
	if err := WriteRedacted(d.IO.Out, d.Redactor(), out.Bytes()); err != nil {
		return ExitUsage, err
	}
	var unlisted []error
	code := ExitOK
	if server == "" {
		for i := range cfg.Servers {
			if err := cfg.Servers[i].Err(); err != nil {
				unlisted, code = append(unlisted, err), ExitUsage
			}
		}
		for _, st := range o.Servers() {
			if st.State != connectors.StateReady {
				reason := errors.New(string(st.State))
				if st.Err != nil {
					reason = st.Err
				}
				unlisted = append(unlisted, reason)
				if code == ExitOK {
					code = ExitConnect
				}
			}
		}
	}
	if listErr != nil {
		unlisted = append(unlisted, listErr)
		if code == ExitOK {
			code = ExitCode(listErr)
		}
	}
	if len(unlisted) > 0 {
		return code, fmt.Errorf("some servers' %s are not listed:\n%w", what, errors.Join(unlisted...))
	}
	return ExitOK, nil
}

// YesNo is "yes" or "no", for a table's cell.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
