package flowrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/progress"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/termtext"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// RunFunc runs a flow, reporting every engine event to progress.
type RunFunc func(ctx context.Context, progress func(workflows.Event)) (*workflows.RunResult, error)

// Execute runs fn with progress on stderr: a live view (per-step status,
// counts, elapsed time) when stderr is a terminal, plain lines otherwise.
// Ctrl-C in the live view cancels the run; the run then ends on its own,
// with in-flight calls cancelled and journalled as such (and its finally
// steps run), before Execute returns.
func Execute(ctx context.Context, env Env, f *flow.Flow, red *credentials.Redactor, fn RunFunc) (*workflows.RunResult, error) {
	if n := f.FinallyDepth(); n > 0 {
		// After Ctrl-C (SIGINT) the finally steps (a sub-flow's, then
		// its caller's) still run, each within its own time; mediator
		// waits for them.
		cmdutil.Linger(ctx, time.Duration(n)*flow.FinallyTimeout+cmdutil.InterruptGrace)
	}
	t := NewTracker(f, time.Now())
	if !env.IO.IsStderrTTY() {
		return fn(ctx, NewPlainPrinter(env.IO.ErrOut, red, t).Event)
	}
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	// The view owns the terminal: a server's question is declined
	// rather than drawn over it.
	if env.Terminal != nil {
		defer env.Terminal().Hold()()
	}
	// The live view reads keys itself, so Ctrl-C arrives as a key press
	// rather than SIGINT; the cause says so in the run's error.
	cancel := func() { cancelRun(errInterrupted) }
	// The view draws with escape sequences of its own; render sanitizes
	// the server text it shows.
	opts := []tea.ProgramOption{tea.WithOutput(env.IO.TermErrOut), tea.WithoutSignalHandler()}
	if env.IO.IsStdinTTY() {
		opts = append(opts, tea.WithInput(env.IO.In))
	} else {
		opts = append(opts, tea.WithInput(nil))
	}
	prog := tea.NewProgram(newViewModel(t, red, cancel), opts...)
	var (
		res  *workflows.RunResult
		err  error
		last string // the run's final line, printed once the view is gone
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		res, err = fn(runCtx, func(ev workflows.Event) {
			line := t.Handle(ev)
			if ev.Kind == workflows.EventRunFinished {
				last = line
			}
		})
		prog.Send(runDoneMsg{})
	}()
	if _, perr := prog.Run(); perr != nil {
		// Without the view the run still goes on; report that it is blind.
		fmt.Fprintf(env.IO.ErrOut, "progress view failed (%v); waiting for the run to finish\n", perr)
	}
	<-done
	// The live view is redrawn in place and may be cleared on exit; the
	// outcome and duration stay on screen as one plain line, as without
	// a terminal.
	if last != "" {
		_ = cmdutil.WriteRedacted(env.IO.ErrOut, red, []byte(last+"\n"))
	}
	return res, err
}

// errInterrupted is why a run stopped when Ctrl-C was pressed in the view.
var errInterrupted = errors.New("interrupted (Ctrl-C)")

type runDoneMsg struct{}
type refreshMsg struct{}

// viewModel renders the tracker; the engine updates the tracker directly
// and the view redraws it on a timer, so a 10,000-item loop does not send
// 10,000 messages through the UI.
type viewModel struct {
	t          *Tracker
	red        *credentials.Redactor
	cancel     func()
	cancelling bool
	done       bool
	spin       spinner.Model
	bar        progress.Model
	width      int
}

func newViewModel(t *Tracker, red *credentials.Redactor, cancel func()) *viewModel {
	return &viewModel{
		t: t, red: red, cancel: cancel, width: 80,
		spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		bar:  progress.New(progress.WithWidth(24), progress.WithoutPercentage()),
	}
}

func refresh() tea.Cmd {
	return tea.Tick(100*time.Millisecond, func(time.Time) tea.Msg { return refreshMsg{} })
}

func (m *viewModel) Init() tea.Cmd { return tea.Batch(m.spin.Tick, refresh()) }

func (m *viewModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" && !m.cancelling {
			m.cancelling = true
			m.cancel()
		}
		return m, nil
	case tea.WindowSizeMsg:
		m.width = msg.Width
		return m, nil
	case runDoneMsg:
		m.done = true
		return m, tea.Quit
	case refreshMsg:
		return m, refresh()
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *viewModel) View() tea.View { return tea.NewView(m.render()) }

func (m *viewModel) render() string {
	rows, runID, status, elapsed := m.t.Snapshot()
	var b strings.Builder
	head := fmt.Sprintf("%s · run %s · %s", termtext.Sanitize(m.t.flow.Name), runID, elapsed.Round(100*time.Millisecond))
	if status != "" && status != "running" {
		head += " · " + status
	} else if m.cancelling {
		head += " · cancelling (waiting for in-flight calls to stop)"
	} else if left := m.t.timeLeft(elapsed); left > 0 {
		head += " · times out in " + left.Round(time.Second).String()
	}
	b.WriteString(head + "\n")
	nameWidth := 0
	for _, r := range rows {
		nameWidth = max(nameWidth, 2*r.Depth+len(r.Name))
	}
	for _, r := range rows {
		icon := mark(r.Status)
		switch r.Status {
		case "":
			icon = " "
		case "running":
			icon = strings.TrimSpace(m.spin.View())
		}
		name := strings.Repeat("  ", r.Depth) + r.Name
		line := fmt.Sprintf("  %s %-*s", icon, nameWidth, name)
		switch {
		case r.ForEach && r.Total > 0:
			n := r.finished()
			line += "  " + m.bar.ViewAs(float64(n)/float64(r.Total)) + fmt.Sprintf("  %d/%d", n, r.Total)
			if f := r.Done[workflows.StatusFailed]; f > 0 {
				line += fmt.Sprintf("  %d failed", f)
			}
			if r.Reused > 0 {
				line += fmt.Sprintf("  %d reused", r.Reused)
			}
		case r.ForEach:
			line += "  " + r.Status
		default:
			if n := r.finished(); n > 0 {
				line += fmt.Sprintf("  %d done", n)
			} else if r.Status != "" && r.Status != "running" {
				line += "  " + r.Status
			}
		}
		if r.Retries > 0 {
			line += fmt.Sprintf("  %d retries", r.Retries)
		}
		if !r.Started.IsZero() {
			end := r.Finished
			if r.Status == "running" || end.IsZero() {
				end = time.Now()
			}
			line += "  " + end.Sub(r.Started).Round(100*time.Millisecond).String()
		}
		if r.Progress != "" && r.Status == "running" {
			line += "  " + r.Progress
		}
		if r.LastErr != "" && r.Status == workflows.StatusFailed {
			line += "  " + ErrorLine(termtext.Sanitize(r.LastErr), max(20, m.width-len(line)-4))
		}
		b.WriteString(line + "\n")
	}
	out := b.String()
	if m.red != nil {
		out = m.red.Redact(out)
	}
	return out
}
