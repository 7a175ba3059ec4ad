// Package worker implements `mediator-temporal worker`: the Temporal
// workers of engine: temporal (docs/scale.md). A domain worker holds the
// sessions and credentials of one credential domain's servers and makes
// their calls; the flow worker runs the interpreter and holds none.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/temporal"
)

// DialFunc connects to the Temporal cluster of cfg as identity
// (temporalcli.Dial: TLS, the payload codec's key from the keyring).
type DialFunc func(ctx context.Context, f *cmdutil.Factory, cfg *config.Config, identity string) (client.Client, error)

// Options of `mediator-temporal worker`.
type Options struct {
	Config func() (*config.Config, error)
	// Orchestrator builds an orchestrator over the named servers only
	// (cmdutil.Factory.Orchestrator), opening the keyring if they need it.
	Orchestrator func(ctx context.Context, cfg *config.Config, servers ...string) (*orchestrator.Orchestrator, error)
	Dial         func(ctx context.Context, cfg *config.Config, identity string) (client.Client, error)
	Logger       func() *slog.Logger
	// Hostname and Pid make the workers' identities.
	Hostname func() (string, error)
	Pid      int

	Domains []string
	Flows   bool
}

// NewCmdWorker returns `mediator-temporal worker`.
func NewCmdWorker(f *cmdutil.Factory, dial DialFunc, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		Config:       f.Config,
		Orchestrator: f.Orchestrator,
		Dial: func(ctx context.Context, cfg *config.Config, identity string) (client.Client, error) {
			return dial(ctx, f, cfg, identity)
		},
		Logger:   func() *slog.Logger { return f.Logger() },
		Hostname: os.Hostname,
		Pid:      os.Getpid(),
	}
	cmd := &cobra.Command{
		Use:   "worker (--domain NAME... | --flows)",
		Short: "Run Temporal workers: a credential domain's tool calls, or the flows themselves",
		Long: `Runs Temporal workers for engine: temporal until interrupted (Ctrl-C,
SIGTERM), on the cluster of the config's temporal block.

--domain NAME makes the calls of one credential domain: the servers the
config's domains: block lists under NAME, or the server NAME when it is
in no domain. The worker opens sessions to those servers only, with
credentials from this machine's keyring, and polls only the domain's
task queue (mcp.NAME). Repeat it to serve several domains.

--flows runs the flows (the workflow interpreter) on the task queue
` + temporal.FlowQueue + `. A flow worker holds no server credentials and makes no
calls: it schedules each call on its server's domain queue.

Workers log on stderr which queue they poll and which servers they hold,
at the info level unless --log-level says otherwise.`,
		Example: `  mediator-temporal worker --domain payments
  mediator-temporal worker --domain office --domain weather
  mediator-temporal worker --flows`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl := cmd.Flags().Lookup("log-level"); fl == nil || !fl.Changed {
				f.LogLevel = "info"
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return workerRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Domains, "domain", nil, "make the calls of this credential domain's servers (repeatable)")
	cmd.Flags().BoolVar(&opts.Flows, "flows", false, "run the flows, on the task queue "+temporal.FlowQueue)
	return cmd
}

// stopTimeout is how long a stopping worker waits for its tasks in
// flight, their calls cancelled (the server gets notifications/cancelled),
// to be answered; the first Ctrl-C or SIGTERM leaves the workers a little
// longer than that before mediator exits regardless.
const stopTimeout = 5 * time.Second

// plan is one worker to run: its queue, identity and what it holds.
type plan struct {
	queue, identity string
	domain          string   // empty for the flow worker
	servers         []string // the domain's servers
}

func workerRun(ctx context.Context, opts *Options) error {
	domains, err := uniqueDomains(opts.Domains)
	if err != nil {
		return err
	}
	if len(domains) == 0 && !opts.Flows {
		return cmdutil.UsageErrorf("say what to run: --domain NAME (repeatable), --flows, or both")
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	doms := temporal.Domains(cfg.Domains)
	host, err := opts.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	suffix := "@" + host + ":" + strconv.Itoa(opts.Pid)

	var plans []plan
	for _, name := range domains {
		servers, err := domainServers(cfg, doms, name)
		if err != nil {
			return err
		}
		plans = append(plans, plan{queue: temporal.DomainQueue(name), identity: name + suffix, domain: name, servers: servers})
	}
	if opts.Flows {
		plans = append(plans, plan{queue: temporal.FlowQueue, identity: "flows" + suffix})
	}
	log := opts.Logger()

	identity := "worker" + suffix
	if len(plans) == 1 {
		identity = plans[0].identity
	}
	c, err := opts.Dial(ctx, cfg, identity)
	if err != nil {
		var ee *cmdutil.ExitError
		if errors.As(err, &ee) {
			return err
		}
		return cmdutil.Errorf(cmdutil.ExitConnect, "cannot reach the Temporal cluster (temporal.host_port %s in %s): %v", cfg.Temporal.HostPort, cfg.Path, err)
	}
	defer c.Close()

	fatal := make(chan error, len(plans))
	var (
		workers []sdkworker.Worker
		orchs   []*orchestrator.Orchestrator
	)
	// Stopping: the calls in flight are cancelled first (their servers
	// get notifications/cancelled), then each worker stops, waiting for
	// its tasks to be answered; then the sessions close.
	stopping, stopCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopCalls()
		for _, w := range slices.Backward(workers) {
			w.Stop()
		}
		for _, o := range orchs {
			o.Close()
		}
	}()
	for _, p := range plans {
		wo := sdkworker.Options{
			Identity:          p.identity,
			WorkerStopTimeout: stopTimeout,
			OnFatalError: func(err error) {
				select {
				case fatal <- fmt.Errorf("the worker on task queue %s stopped: %w", p.queue, err):
				default: // one is enough to stop
				}
			},
		}
		var w sdkworker.Worker
		if p.domain == "" {
			// The flow worker polls workflow tasks only: it never runs an
			// activity, so it needs no session and no credential.
			wo.LocalActivityWorkerOnly = true
			wo.DeadlockDetectionTimeout = temporal.DeadlockDetectionTimeout
			w = sdkworker.New(c, p.queue, wo)
			(&temporal.Flows{Queue: doms.Queue, Decides: true, ScheduleToStartTimeout: cfg.Temporal.ScheduleToStartTimeout, Limits: Limits(cfg)}).Register(w)
		} else {
			o, err := openDomain(ctx, opts, cfg, p)
			if err != nil {
				return err
			}
			orchs = append(orchs, o)
			// A domain worker polls activity tasks only.
			wo.DisableWorkflowWorker = true
			w = sdkworker.New(c, p.queue, wo)
			(&temporal.Activities{Caller: stoppableCaller{workflows.OrchestratorCaller{O: o}, stopping}}).Register(w)
		}
		if err := w.Start(); err != nil {
			return cmdutil.Errorf(cmdutil.ExitConnect, "starting the worker on task queue %s (namespace %q of %s): %v", p.queue, cfg.Temporal.Namespace, cfg.Temporal.HostPort, err)
		}
		workers = append(workers, w)
		if p.domain == "" {
			log.Info("flow worker polling", "queue", p.queue, "identity", p.identity)
		} else {
			log.Info("domain worker polling", "domain", p.domain, "queue", p.queue, "servers", strings.Join(p.servers, ","), "identity", p.identity)
		}
	}
	cmdutil.Linger(ctx, stopTimeout+cmdutil.InterruptGrace)

	select {
	case <-ctx.Done():
		log.Info("workers stopping")
		return ctx.Err()
	case err := <-fatal:
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}
}

// uniqueDomains returns names without repeats, refusing an empty one.
func uniqueDomains(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			return nil, cmdutil.UsageErrorf("--domain: empty domain name")
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// domainServers returns the servers of domain name: a domains: key, or a
// configured server in no domain.
func domainServers(cfg *config.Config, doms temporal.Domains, name string) ([]string, error) {
	if _, ok := doms[name]; !ok {
		if _, ok := cfg.Server(name); !ok {
			return nil, cmdutil.UsageErrorf("--domain %s: no such domain in %s; domains: %s", name, cfg.Path, validDomains(cfg, doms))
		}
		if d := doms.Of(name); d != name {
			return nil, cmdutil.UsageErrorf("--domain %s: server %s is in domain %s, whose workers make its calls: run --domain %s", name, name, d, d)
		}
	}
	servers := doms.Servers(name)
	if len(servers) == 0 {
		return nil, cmdutil.UsageErrorf("--domain %s: the domain lists no servers in %s", name, cfg.Path)
	}
	for _, s := range servers {
		if _, ok := cfg.Server(s); !ok {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "domain %s lists server %s, which %s does not configure; servers: %s", name, s, cfg.Path, orNone(cfg.ServerNames()))
		}
	}
	return servers, nil
}

// validDomains lists the domains a worker can serve: the domains: keys,
// then the servers in no domain.
func validDomains(cfg *config.Config, doms temporal.Domains) string {
	var alone []string
	for _, s := range cfg.ServerNames() {
		if doms.Of(s) == s && !slices.Contains(doms.Names(), s) {
			alone = append(alone, s)
		}
	}
	msg := orNone(doms.Names())
	if len(alone) > 0 {
		msg += "; servers in no domain (each its own): " + strings.Join(alone, ", ")
	}
	return msg
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// openDomain builds the orchestrator of p's servers (their sessions, and
// their credentials from this machine's keyring) and connects them: a
// server that cannot be used stops the worker before it polls.
func openDomain(ctx context.Context, opts *Options, cfg *config.Config, p plan) (*orchestrator.Orchestrator, error) {
	o, err := opts.Orchestrator(ctx, cfg, p.servers...)
	if err != nil {
		return nil, fmt.Errorf("domain %s: %w", p.domain, err)
	}
	o.Connect(ctx, p.servers...)
	if err := ctx.Err(); err != nil {
		o.Close()
		return nil, err
	}
	var errs []error
	for _, st := range o.Servers() {
		if st.State == connectors.StateReady && st.ToolsErr == nil {
			continue
		}
		why := st.Err
		if why == nil {
			why = st.ToolsErr
		}
		if why == nil {
			why = fmt.Errorf("it is %s", st.State)
		}
		errs = append(errs, fmt.Errorf("server %s cannot be used: %w", st.Name, why))
	}
	if len(errs) > 0 {
		o.Close()
		err := errors.Join(errs...)
		// A server's config problem is 2, a server that cannot be reached 3.
		return nil, &cmdutil.ExitError{Code: cmdutil.ExitCode(err), Err: fmt.Errorf("domain %s: %w", p.domain, err)}
	}
	return o, nil
}

// Limits are cfg's temporal.limits, which flow workers keep runs within;
// every client of the namespace checks runs against the same before
// starting them (temporal.Runs.Limits).
func Limits(cfg *config.Config) temporal.Limits {
	l := cfg.Temporal.Limits
	return temporal.Limits{Events: l.HistoryEvents, Bytes: l.HistoryBytes, BatchItems: l.BatchItems}
}
