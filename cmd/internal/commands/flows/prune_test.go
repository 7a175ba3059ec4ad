package flows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// execTTY runs `mediator runs ...` as on a terminal, with stdin.
func (e *env) execTTY(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ios, in, out, errOut := iostreams.Test()
	ios.SetTTY(true, true, true)
	in.WriteString(stdin)
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	cmd := runsCmd(f)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(errOut, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: cmdutil.ExitCode(err)}
}

// runIDs lists the journal's run ids, newest first.
func (e *env) runIDs() []string {
	e.t.Helper()
	r := e.exec(runsCmd, "list", "--json", "--limit", "0")
	want(e.t, r, 0, "runs list")
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	return ids
}

// `runs prune` deletes the runs asked for and gives their space back: a
// run with a 3 MB input no longer weighs on runs.db once pruned. It lists
// before deleting with --dry-run, asks on a terminal, and needs --yes
// elsewhere.
func TestRunsPrune(t *testing.T) {
	calc, url := startCalc(t)
	e := newEnv(t, url)
	big := e.writeFlow("big.flow.yaml", "version: 1\nname: big\ninputs:\n  blob: {type: string}\nsteps:\n  - id: a\n    call: {server: calc, tool: add}\n    with: {a: 1, b: 2}\noutputs:\n  size: ${ .inputs.blob | length }\n")
	inputs := filepath.Join(e.dir, "inputs.json")
	blob, _ := json.Marshal(map[string]string{"blob": strings.Repeat("0123456789abcdef", 3<<20/16)})
	if err := os.WriteFile(inputs, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	flow := e.writeFlow("sums.flow.yaml", sumFlow)
	want(t, e.exec(runCmd, big, "--inputs", inputs), 0, "big run")
	calc.setBroken(true)
	want(t, e.exec(runCmd, flow), 1, "failing run")
	calc.setBroken(false)
	want(t, e.exec(runCmd, flow), 0, "run")
	ids := e.runIDs()
	if len(ids) != 3 {
		t.Fatalf("%d runs", len(ids))
	}
	bigID, failedID := ids[2], ids[1]
	db := filepath.Join(e.dir, "state", "mediator", "runs.db")

	r := e.exec(runsCmd, "prune", "--dry-run")
	want(t, r, 0, "prune --dry-run")
	for _, id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("dry run does not list %s:\n%s", id, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "would delete 3 of 3 run(s)") {
		t.Errorf("dry run stderr:\n%s", r.stderr)
	}
	r = e.exec(runsCmd, "prune")
	want(t, r, cmdutil.ExitUsage, "prune without --yes off a terminal")
	if !strings.Contains(r.stderr, "pass --yes") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	r = e.exec(runsCmd, "prune", "--older-than", "30d", "--yes")
	want(t, r, 0, "prune of nothing that old")
	if !strings.Contains(r.stderr, "nothing to prune") || len(e.runIDs()) != 3 {
		t.Errorf("--older-than 30d pruned new runs:\n%s", r.stderr)
	}

	r = e.exec(runsCmd, "prune", "--status", "failed", "--yes")
	want(t, r, 0, "prune --status failed")
	if got := e.runIDs(); len(got) != 2 || strings.Contains(strings.Join(got, " "), failedID) {
		t.Errorf("after pruning the failed run: %v", got)
	}
	if !regexp.MustCompile(`Deleted 1 run\(s\) and their \d+ call attempt\(s\); .*runs.db went from`).MatchString(r.stderr) {
		t.Errorf("stderr:\n%s", r.stderr)
	}

	// On a terminal it asks; only yes deletes.
	r = e.execTTY("n\n", "prune")
	want(t, r, cmdutil.ExitUsage, "prune declined")
	if !strings.Contains(r.stderr, "Delete 2 of 2 run(s)") || len(e.runIDs()) != 2 {
		t.Errorf("declined prune:\n%s", r.stderr)
	}
	before := size(t, db)
	r = e.execTTY("y\n", "prune")
	want(t, r, 0, "prune confirmed")
	if got := e.runIDs(); len(got) != 0 {
		t.Errorf("runs left: %v (big run was %s)", got, bigID)
	}
	// The 3 MB input is gone from the file, not only from the table.
	if after := size(t, db); after*10 > before {
		t.Errorf("runs.db went from %d to %d bytes: not compacted", before, after)
	}

	for _, bad := range [][]string{{"prune", "--status", "running"}, {"prune", "--status", "done"}, {"prune", "--older-than", "30"}} {
		r = e.exec(runsCmd, bad...)
		want(t, r, cmdutil.ExitUsage, strings.Join(bad, " "))
	}
}

func size(t *testing.T, db string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{db, db + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
