// Package daemon implements `mediator daemon`: mediator running
// unattended, serving /mcp (the serve block's face), the run API and the
// CLI's local socket, and firing the configured schedules; and `mediator
// daemon token create`.
package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	servecmd "github.com/mediatorhq/mediator/cmd/internal/commands/serve"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/flowrun"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/daemon"
	"github.com/mediatorhq/mediator/daemon/ui"
	"github.com/mediatorhq/mediator/orchestrator"
	"github.com/mediatorhq/mediator/serve"
	"github.com/mediatorhq/mediator/workflows"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Options of `mediator daemon`.
type Options struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	Secrets func(context.Context, *config.Config) (*credentials.Store, error)
	// Orchestrator builds the orchestrator over every usable server,
	// answering them through host.
	Orchestrator func(ctx context.Context, cfg *config.Config, host orchestrator.Host, servers ...string) (*orchestrator.Orchestrator, error)
	// Logger is the daemon's: JSON on stderr, secrets masked.
	Logger   func() *slog.Logger
	Redactor func() *credentials.Redactor
	// Workflows are the workflow commands' dependencies (/mcp's workflow
	// tools).
	Workflows flowrun.Env
	// Listening, when set, is told the HTTP base URL once the daemon
	// serves (tests listen on port 0).
	Listening func(url string)
	// Reload delivers a reload request (SIGHUP); nil listens for SIGHUP.
	// Reloaded, when set, is told each reload's outcome (tests).
	Reload   <-chan os.Signal
	Reloaded func(err error)
	// noWatch turns off watching the config and workflow files (tests
	// that reload by Reload alone); newWatcher, when set, replaces
	// newConfigWatcher (tests).
	noWatch    bool
	newWatcher func(*slog.Logger) (*configWatcher, error)

	// Addr is --listen; "" takes daemon.listen.
	Addr           string
	InsecureListen bool
	// Grace is how long runs in progress get to finish on SIGTERM.
	Grace time.Duration

	// DaemonRuns opens the run service over Temporal for engine:
	// temporal (the Factory's Temporal hook); nil in mediator, which then
	// runs ExecTemporal (cmdutil.ExecTemporal) in its place.
	DaemonRuns   func(ctx context.Context, cfg *config.Config, deps cmdutil.DaemonRunsDeps) (cmdutil.DaemonRunService, error)
	ExecTemporal func(why string) error

	// syncRedactor, when set, makes Redactor return the Factory's
	// current one; called where the Factory may have replaced it (after
	// an orchestrator is built), so other goroutines never read the
	// Factory's field while it is written.
	syncRedactor func()
}

// DefaultGrace is --grace's default.
const DefaultGrace = 30 * time.Second

// NewCmdDaemon returns `mediator daemon` and `mediator daemon token`.
func NewCmdDaemon(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		IO:           f.IOStreams,
		Config:       f.Config,
		Secrets:      f.Secrets,
		Orchestrator: f.HostOrchestrator,
		Redactor:     func() *credentials.Redactor { return f.Redactor },
		Workflows:    flowrun.NewEnv(f),
		Grace:        DefaultGrace,
		ExecTemporal: cmdutil.ExecTemporal,
	}
	if t := f.Temporal; t != nil && t.DaemonRuns != nil {
		opts.DaemonRuns = func(ctx context.Context, cfg *config.Config, deps cmdutil.DaemonRunsDeps) (cmdutil.DaemonRunService, error) {
			return t.DaemonRuns(ctx, f, cfg, deps)
		}
	}
	cmd := &cobra.Command{
		Use:   "daemon [--listen ADDR] [--grace 30s]",
		Short: "Run unattended: scheduled and API-triggered workflow runs, /mcp, warm sessions for the CLI",
		Long: `Runs mediator unattended for this config. It holds the credentials and the
servers' open sessions, and serves:

  - /mcp: mediator as an MCP server (the serve block; see mediator serve);
  - /v1: the run API (daemon.api_tokens), /healthz, /readyz, /metrics;
  - /ui: a web page of the runs, their flow graphs, the servers and the
    audit trail, opened with an API token (docs/ui.md);
  - a Unix socket (daemon.socket) the CLI uses for warm calls;

and fires daemon.schedules. One daemon runs per state directory. It
listens on daemon.listen (default ` + config.DefaultDaemonListen + `); beyond loopback it needs
API tokens and TLS (daemon.tls), or --insecure-listen when a TLS proxy
fronts it.

SIGTERM (or Ctrl-C) stops accepting and gives runs in progress --grace to
finish; the rest are journalled interrupted and resume at the next start.
SIGHUP, or a change to the config file or to a workflow file of
daemon.workflows_dir, reloads the config's servers, schedules, tokens and
workflow files (runs and /mcp calls in progress finish on the servers they
began with; /mcp's sessions stay open unless the serve block changed); a
config with problems is not taken: the old one stays and every problem is
logged.

Logs are JSON lines on stderr, at info unless --log-level says otherwise.
The file keyring's passphrase is read from $MEDIATOR_KEYRING_PASSPHRASE,
else from the file $MEDIATOR_KEYRING_PASSPHRASE_FILE names (systemd's
LoadCredential). docs/daemon.md has the details.

Exit codes: 0 stopped; 2 refused (config, unsafe listen address, another
daemon running for the state directory); 3 the keyring, a certificate or
the address could not be used; 143 stopped by SIGTERM.`,
		Example: `  mediator daemon
  mediator daemon --listen 127.0.0.1:8080 --grace 1m
  mediator daemon token create ci --workflows 'rain-*'`,
		Args: cmdutil.ExactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Grace < 0 {
				return cmdutil.UsageErrorf("--grace %v: give a duration of 0 or more, e.g. 30s", opts.Grace)
			}
			level := slog.LevelInfo
			if fl := cmd.Flag("log-level"); fl != nil && fl.Changed {
				level, _ = cmdutil.ParseLogLevel(f.LogLevel)
			}
			var red atomic.Pointer[credentials.Redactor]
			red.Store(f.Redactor)
			opts.Redactor = red.Load
			opts.Workflows.Redactor = red.Load
			opts.syncRedactor = func() { red.Store(f.Redactor) }
			logger := NewLogger(f.IOStreams.ErrOut, level, opts.Redactor)
			opts.Logger = func() *slog.Logger { return logger }
			// The orchestrator and everything else the Factory builds log
			// as the daemon does.
			f.Logger = opts.Logger
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return daemonRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Addr, "listen", "", "serve HTTP at `ADDR` (HOST:PORT); default daemon.listen, else "+config.DefaultDaemonListen)
	fl.BoolVar(&opts.InsecureListen, "insecure-listen", false, "allow a non-loopback address without TLS (a TLS proxy in front); tokens are still required")
	fl.DurationVar(&opts.Grace, "grace", DefaultGrace, "on SIGTERM, how long runs in progress get to finish before they are interrupted")
	cmd.AddCommand(newCmdToken(f))
	return cmd
}

// NewLogger logs JSON lines to w at level, each line masked by the
// redactor red returns at that moment (it learns the keyring's secrets
// once the keyring is open).
func NewLogger(w io.Writer, level slog.Level, red func() *credentials.Redactor) *slog.Logger {
	return slog.New(slog.NewJSONHandler(&redactWriter{w: w, red: red}, &slog.HandlerOptions{Level: level}))
}

// redactWriter masks known secrets in each record the JSON handler
// writes (one Write per record).
type redactWriter struct {
	mu  sync.Mutex
	w   io.Writer
	red func() *credentials.Redactor
}

func (r *redactWriter) Write(p []byte) (int, error) {
	s := string(p)
	if red := r.red(); red != nil {
		s = red.Redact(s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// listenWords turns serve.CheckListen's words for the serve block into
// the daemon block's.
var listenWords = strings.NewReplacer(
	"serve.http.tokens", "daemon.api_tokens",
	"serve.http.tls", "daemon.tls",
	"mediator serve token create NAME", "mediator daemon token create NAME --workflows GLOB",
	"127.0.0.1:7421", config.DefaultDaemonListen)

// daemond is a running daemon: what a reload replaces and a shutdown
// takes down.
type daemond struct {
	opts   *Options
	logger *slog.Logger

	// addr, tlsOn and insecure are how the HTTP face listens, fixed
	// until a restart; baseURL is where it is reached.
	addr            string
	tlsOn, insecure bool
	baseURL         string
	// clientCerts is whether the listener verifies client certificates
	// (daemon.tls.client_ca).
	clientCerts bool

	mu    sync.Mutex
	cfg   *config.Config
	sched *daemon.Scheduler
	// runs is the run manager: local (engine: local), else a client of
	// the Temporal cluster the runs execute on.
	runs    cmdutil.DaemonRunService
	local   *daemon.Runs
	gen     *servers
	metrics *daemon.Metrics
	// uiSessions are the web page's logins, kept across reloads.
	uiSessions *ui.Sessions
	// stopping is closed when the shutdown begins: the page's event
	// streams end before the HTTP server waits for its connections.
	stopping chan struct{}
	// retired counts the server generations a reload replaced that are
	// still open for the runs that use them.
	retired sync.WaitGroup
	// handler is the HTTP face, replaced by a reload.
	handler atomic.Pointer[http.Handler]
	// watch asks for reloads on file changes; nil when not watching.
	watch *configWatcher
}

// servers is one generation of the daemon's servers: the orchestrator,
// /mcp's face over it, and the CLI's socket served with it. A reload
// that changes the servers or the policy builds another orchestrator
// and retires this one once the runs and the /mcp requests begun on it
// have ended; the face is shared with the next generation unless the
// serve block changed too.
type servers struct {
	orch *orchestrator.Orchestrator
	face *face
	// unused, when the face is shared, is closed once no /mcp request
	// or task begun on orch is left (serve.Server.SetOrchestrator).
	unused    <-chan struct{}
	stopLocal context.CancelFunc
	localDone chan error
}

// face is /mcp: the serve.Server and its handler. A reload that leaves
// the serve block alone keeps it, handing it the new orchestrator, so
// the hosts' sessions stay open.
type face struct {
	srv *serve.Server
	// mcp is /mcp's handler; nil when /mcp is not served.
	mcp http.Handler
}

// current is the servers new runs and calls use.
func (d *daemond) current() *servers {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// mcpOptions is cfg's /mcp face, and whether it is served: it is when
// serve.http has tokens or says auth: none, and its rules allow the
// daemon's address.
func (d *daemond) mcpOptions(cfg *config.Config) (serve.HTTPOptions, bool, error) {
	o := cfg.ServeHTTPOptions(d.baseURL)
	if !o.NoAuth && len(o.Tokens) == 0 {
		return o, false, nil
	}
	if err := o.CheckListen(d.addr, d.tlsOn, d.insecure); err != nil {
		return o, false, fmt.Errorf("/mcp: %w", err)
	}
	o.Logger = d.logger
	return o, true, nil
}

// connect builds a generation of servers under cfg: /mcp's server, and
// the orchestrator over every usable server answering through its host.
func (d *daemond) connect(ctx context.Context, cfg *config.Config) (*servers, error) {
	mcpOpts, serveMCP, err := d.mcpOptions(cfg)
	if err != nil {
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	f := &face{}
	sopts := &servecmd.Options{IO: d.opts.IO, Config: d.opts.Config, Secrets: d.opts.Secrets, Orchestrator: d.opts.Orchestrator,
		Logger: d.opts.Logger, Redactor: d.opts.Redactor, Workflows: d.opts.Workflows}
	// /mcp's workflow tools run on the orchestrator current when they start.
	if f.srv, err = servecmd.NewServer(ctx, sopts, cfg, serveMCP && !mcpOpts.NoAuth, func() *orchestrator.Orchestrator { return f.srv.Orchestrator() }); err != nil {
		return nil, err
	}
	g := &servers{face: f}
	if g.orch, err = d.opts.Orchestrator(ctx, cfg, f.srv.Host()); err != nil {
		f.srv.Close()
		return nil, err
	}
	f.srv.SetOrchestrator(g.orch)
	if d.opts.syncRedactor != nil {
		d.opts.syncRedactor() // opening the keyring replaced it
	}
	if serveMCP {
		if f.mcp, err = serve.HTTPHandler(f.srv, mcpOpts); err != nil {
			g.close()
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
		}
	}
	return g, nil
}

// reconnect builds a generation under cfg that keeps old's face: only
// the orchestrator, answering through the face's host. The face takes it
// when the reload is taken (takeOrchestrator).
func (d *daemond) reconnect(ctx context.Context, cfg *config.Config, old *servers) (*servers, error) {
	o, err := d.opts.Orchestrator(ctx, cfg, old.face.srv.Host())
	if err != nil {
		return nil, err
	}
	if d.opts.syncRedactor != nil {
		d.opts.syncRedactor()
	}
	return &servers{orch: o, face: old.face}, nil
}

// serveLocal serves the CLI's socket with g's orchestrator, for the
// config cfg is (the CLI uses a daemon only for the config it loaded).
func (d *daemond) serveLocal(g *servers, cfg *config.Config) (string, error) {
	sock := daemon.SocketPath(cfg.Daemon.Socket, cfg.StateDir)
	id, err := daemon.IdentityOf(cfg.Path, cfg.StateDir)
	if err != nil {
		return sock, err
	}
	lln, err := daemon.ListenLocal(sock, d.logger)
	if err != nil {
		return sock, err
	}
	ctx, stop := context.WithCancel(context.Background())
	g.stopLocal, g.localDone = stop, make(chan error, 1)
	go func() {
		g.localDone <- daemon.ServeLocal(ctx, lln, g.orch, daemon.LocalOptions{Identity: id, Redactor: d.opts.Redactor(), Logger: d.logger})
	}()
	return sock, nil
}

// stopSocket stops serving the CLI's socket, letting calls under way end.
func (g *servers) stopSocket() {
	if g.stopLocal != nil {
		g.stopLocal()
		<-g.localDone
		g.stopLocal = nil
	}
}

// close closes the socket, /mcp's server (its runs still going are
// journalled cancelled), then the orchestrator.
func (g *servers) close() {
	g.stopSocket()
	g.face.srv.Close()
	g.orch.Close()
}

func daemonRun(ctx context.Context, opts *Options) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if !cfg.Found {
		return cmdutil.Errorf(cmdutil.ExitUsage, "config %s does not exist: the daemon serves the servers and workflows of a config file; write one (mediator servers add, docs/daemon.md)", cfg.Path)
	}
	if cfg.Engine == config.EngineTemporal && opts.DaemonRuns == nil {
		// The SDK is only in mediator-temporal (docs/scale.md).
		return opts.ExecTemporal("engine: temporal in " + cfg.Path)
	}
	logger := opts.Logger()
	d := &daemond{opts: opts, logger: logger, cfg: cfg, insecure: opts.InsecureListen, uiSessions: ui.NewSessions(), stopping: make(chan struct{})}

	lock, err := daemon.AcquireLock(cfg.StateDir)
	if err != nil {
		var re *daemon.RunningError
		if errors.As(err, &re) {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
		}
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}
	defer lock.Release()

	// The HTTP face's safety is decided before anything connects.
	dc := cfg.Daemon
	d.addr = opts.Addr
	if d.addr == "" {
		d.addr = dc.Listen
	}
	d.tlsOn = dc.TLS.Cert != ""
	if err := (serve.HTTPOptions{Tokens: dc.Tokens}).CheckListen(d.addr, d.tlsOn, opts.InsecureListen); err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%s", listenWords.Replace(err.Error()))
	}
	if _, _, err := d.mcpOptions(cfg); err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	var tlsCfg *tls.Config
	if d.tlsOn {
		if tlsCfg, err = loadTLS(ctx, opts, cfg); err != nil {
			return err
		}
		d.clientCerts = tlsCfg.ClientCAs != nil
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitConnect, "listening on %s: %v", d.addr, err)
	}
	defer ln.Close()
	d.baseURL = endpointBase(ln.Addr(), tlsCfg != nil)

	// The servers, behind /mcp's host.
	if d.gen, err = d.connect(ctx, cfg); err != nil {
		return err
	}
	if d.gen.face.mcp == nil {
		logger.Warn("/mcp is not served: serve.http has no tokens; add one (mediator serve token create NAME) or write serve: {http: {auth: none}} on loopback")
	}
	defer func() {
		// Runs are over by now; /mcp's tasks end with its server, so
		// the generations a reload replaced close; then the current one.
		cur := d.current()
		cur.face.srv.Close()
		d.retired.Wait()
		cur.close()
	}()

	// Runs, and the runs a shutdown or crash left.
	catalog, err := d.loadCatalog(ctx, cfg)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	pol := flowrun.PolicyOf(opts.Workflows, cfg)
	d.metrics = daemon.NewMetrics()
	tracing, err := startTracing(ctx, opts, cfg, logger)
	if err != nil {
		return err
	}
	defer stopTracing(tracing, logger) // after the runs' shutdown
	d.metrics.SetTracing(tracing)
	d.metrics.WatchServers(func() []orchestrator.ServerStatus { return d.current().orch.Servers() })
	if cfg.Engine == config.EngineTemporal {
		// Runs execute as Temporal workflows: this process only starts,
		// reads and cancels them (docs/daemon.md).
		d.runs, err = opts.DaemonRuns(ctx, cfg, cmdutil.DaemonRunsDeps{Catalog: catalog, PolicyFlows: pol.Flows, TrustAnnotations: pol.TrustAnnotations,
			Redactor: opts.Redactor, Logger: logger})
		var ee *cmdutil.ExitError
		if err != nil && !errors.As(err, &ee) {
			err = cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
		}
		if err != nil {
			return err
		}
	} else {
		d.local, err = daemon.NewRuns(daemon.RunsOptions{
			Metrics:  d.metrics,
			StateDir: cfg.StateDir, Catalog: catalog,
			Orchestrator:      func() *orchestrator.Orchestrator { return d.current().orch },
			PolicyFlows:       pol.Flows,
			TrustAnnotations:  pol.TrustAnnotations,
			Server:            flowrun.ServerCheck(cfg),
			Redactor:          opts.Redactor,
			MaxConcurrentRuns: dc.MaxConcurrentRuns,
			IncludeValues: func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return d.cfg.Audit.IncludeValues
			},
			Logger: logger,
		})
		if err != nil {
			return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
		}
		d.runs = d.local
	}
	runsDone := false
	defer func() {
		if !runsDone {
			_ = d.runs.Shutdown(context.Background())
		}
	}()
	if d.local != nil {
		if ids, err := d.local.ResumeInterrupted(ctx); err != nil || len(ids) > 0 {
			logger.Info("runs resumed after a restart", "runs", ids, "problems", errString(err))
		}
	}
	if d.sched, err = d.newScheduler(cfg); err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	if err := d.sched.Start(ctx); err != nil {
		logger.Error("scheduled runs missed while down were not all handled", "error", err.Error())
	}

	// The CLI's socket.
	sock, err := d.serveLocal(d.gen, cfg)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitConnect, "%v", err)
	}

	// The HTTP face.
	h, err := d.buildHandler(cfg, d.gen)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "%v", err)
	}
	d.handler.Store(&h)
	// A shutdown ends the event streams at once (a clean end of the
	// stream, from which a client resumes with Last-Event-ID): Shutdown
	// would wait for them, and closing the connections cuts them.
	streams, endStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer endStreams()
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isStream(r) {
				rctx, cancel := context.WithCancel(r.Context())
				defer cancel()
				defer context.AfterFunc(streams, cancel)()
				r = r.WithContext(rctx)
			}
			(*d.handler.Load()).ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	hs.RegisterOnShutdown(endStreams)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	reload := opts.Reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reload = hup
	}
	changed := make(chan struct{}, 1)
	if !opts.noWatch {
		newWatcher := opts.newWatcher
		if newWatcher == nil {
			newWatcher = newConfigWatcher
		}
		if w, err := newWatcher(logger); err != nil {
			logger.Warn("config and workflow file changes are not watched; reload with SIGHUP", "error", err.Error())
		} else {
			defer w.close()
			w.follow(cfg.Path, cfg.Daemon.WorkflowsDir)
			w.mark()
			d.watch = w
			wctx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			go w.run(wctx, changed)
		}
	}
	// The first SIGTERM must leave the runs their grace, not mediator's
	// usual second.
	cmdutil.Linger(ctx, opts.Grace+cmdutil.InterruptGrace+5*time.Second)
	logger.Info("mediator daemon serving", "url", d.baseURL, "mcp", d.gen.face.mcp != nil, "socket", sock, "state_dir", cfg.StateDir, "pid", os.Getpid())
	if opts.Listening != nil {
		opts.Listening(d.baseURL)
	}

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-reload:
			err := d.reload(ctx)
			if opts.Reloaded != nil {
				opts.Reloaded(err)
			}
		case <-changed:
			d.logger.Info("the config or a workflow file changed; reloading")
			err := d.reload(ctx)
			if opts.Reloaded != nil {
				opts.Reloaded(err)
			}
		case err := <-served:
			serveErr = cmdutil.Errorf(cmdutil.ExitConnect, "serving HTTP: %v", err)
			break loop
		}
	}

	// Shutdown: stop accepting, give runs their grace, journal the rest.
	logger.Info("mediator daemon stopping", "grace", opts.Grace.String())
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Grace)
	defer cancel()
	d.mu.Lock()
	sched := d.sched
	d.mu.Unlock()
	sched.Stop()
	close(d.stopping)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // a request still going after 5s is cut
	}
	scancel()
	runsDone = true
	if err := d.runs.Shutdown(gctx); err != nil {
		logger.Error("closing the run journal", "error", err.Error())
	}
	if serveErr != nil {
		return serveErr
	}
	return ctx.Err()
}

// isStream reports whether r asks for a stream of server-sent events:
// GET /v1/runs/{id}/events, or /mcp's.
func isStream(r *http.Request) bool {
	return r.Method == http.MethodGet && (strings.HasSuffix(r.URL.Path, "/events") || strings.Contains(r.Header.Get("Accept"), "text/event-stream"))
}

// buildHandler is the HTTP face under cfg's API tokens: g's /mcp when
// served, the web page at /ui (docs/ui.md), and the run API (/v1,
// /healthz, /readyz, /metrics) for the rest.
func (d *daemond) buildHandler(cfg *config.Config, g *servers) (http.Handler, error) {
	var certGlobs []string
	if d.clientCerts {
		// Scoped as the certificates of the client_ca the listener
		// started with; never nil, which would reach every workflow.
		certGlobs = append([]string{}, cfg.Daemon.TLS.ClientWorkflows...)
	}
	api, err := daemon.APIHandler(daemon.APIOptions{Runs: d.runs, Tokens: cfg.Daemon.Tokens, ClientCertWorkflows: certGlobs,
		Orchestrator: func() *orchestrator.Orchestrator { return d.current().orch },
		Metrics:      d.metrics.Handler(), Logger: d.logger})
	if err != nil {
		return nil, err
	}
	page, err := ui.New(ui.Options{Runs: d.runs, Tokens: cfg.Daemon.Tokens, Sessions: d.uiSessions,
		Orchestrator: func() *orchestrator.Orchestrator { return d.current().orch },
		Redactor:     d.opts.Redactor, IncludeValues: cfg.Audit.IncludeValues, Stopping: d.stopping, Logger: d.logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(ui.Prefix, page)
	mux.Handle(ui.Prefix+"/", page)
	if m := g.face.mcp; m != nil {
		mux.Handle(serve.MCPPath, m)
		mux.Handle(serve.MetadataPath, m)
		mux.Handle(serve.MetadataPath+serve.MCPPath, m)
	}
	mux.Handle("/", api)
	return mux, nil
}

func (d *daemond) loadCatalog(ctx context.Context, cfg *config.Config) (*daemon.Catalog, error) {
	dir := cfg.Daemon.WorkflowsDir
	if dir == "" {
		return nil, nil
	}
	pol := flowrun.PolicyOf(d.opts.Workflows, cfg)
	c, err := daemon.LoadCatalog(ctx, dir, flow.ValidateOptions{PolicyFlows: pol.Flows, TrustAnnotations: pol.TrustAnnotations,
		RetryAtRunTime: true, Server: flowrun.ServerCheck(cfg)})
	if err != nil {
		return nil, fmt.Errorf("daemon.workflows_dir: %w", err)
	}
	for _, w := range c.Workflows() {
		if !w.Valid() {
			d.logger.Warn("workflow cannot run", "workflow", w.Name, "file", w.Path, "problems", w.Problems)
		}
	}
	// A schedule of a file that is not there would only fail at its
	// fire time; one whose file does not validate is left to fail then
	// (the file may be fixed and reloaded before).
	var errs []error
	for i, s := range cfg.Daemon.Schedules {
		if c.Get(s.Workflow) == nil {
			errs = append(errs, fmt.Errorf("%s: daemon.schedules[%d].workflow: no workflow file %s.flow.yaml (or .flow.yml) in %s", cfg.Path, i, s.Workflow, dir))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (d *daemond) newScheduler(cfg *config.Config) (*daemon.Scheduler, error) {
	return daemon.NewScheduler(daemon.SchedulerOptions{Schedules: cfg.Daemon.Schedules, Submit: d.runs,
		StateDir: cfg.StateDir, Logger: d.logger})
}

// reload reads the config again and takes it: the servers (a new
// orchestrator, /mcp's server and the CLI's socket when the servers, the
// policy, the credentials or the serve block changed), the schedules,
// the API tokens and the workflow files. A config with any problem is
// not taken: the old one stays and every problem is logged. What a
// reload cannot change (the address, TLS, the state directory, the
// bound on runs) is logged as needing a restart.
func (d *daemond) reload(ctx context.Context) error {
	if d.watch != nil {
		d.watch.mark()
	}
	cfg, err := d.opts.Config()
	if err == nil {
		if ps := cfg.Problems(); len(ps) > 0 {
			err = ps
		} else if !cfg.Found {
			err = fmt.Errorf("config %s does not exist", cfg.Path)
		}
	}
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	d.mu.Lock()
	old, oldGen := d.cfg, d.gen
	d.mu.Unlock()
	var restart []string
	if cfg.StateDir != old.StateDir {
		restart = append(restart, "state_dir")
	}
	if cfg.Daemon.Listen != old.Daemon.Listen {
		restart = append(restart, "daemon.listen")
	}
	// client_workflows is the API handler's, which a reload replaces.
	if t, o := cfg.Daemon.TLS, old.Daemon.TLS; t.Cert != o.Cert || t.KeyFile != o.KeyFile || t.KeySecret != o.KeySecret || t.ClientCA != o.ClientCA {
		restart = append(restart, "daemon.tls")
	}
	if cfg.Daemon.MaxConcurrentRuns != old.Daemon.MaxConcurrentRuns {
		restart = append(restart, "daemon.max_concurrent_runs")
	}
	if cfg.Engine != old.Engine {
		restart = append(restart, "engine")
	}
	if !reflect.DeepEqual(cfg.Temporal, old.Temporal) {
		restart = append(restart, "temporal")
	}
	if cfg.StateDir != old.StateDir {
		// The socket and the schedules' state live there: keep them.
		cfg.StateDir = old.StateDir
	}
	if err := (serve.HTTPOptions{Tokens: cfg.Daemon.Tokens}).CheckListen(d.addr, d.tlsOn, d.insecure); err != nil {
		err = errors.New(listenWords.Replace(err.Error()))
		d.logReloadProblems(err)
		return err
	}
	catalog, err := d.loadCatalog(ctx, cfg)
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	sched, err := d.newScheduler(cfg)
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	gen := oldGen
	serversChanged := !reflect.DeepEqual(cfg.Servers, old.Servers) || !reflect.DeepEqual(cfg.Policy, old.Policy) ||
		cfg.Credentials != old.Credentials || cfg.Audit != old.Audit
	// /mcp is rebuilt (its hosts connect again) when the serve block
	// changed, or when it offers workflow files, which are checked
	// against the servers and the policy as they are loaded.
	newFace := !reflect.DeepEqual(cfg.Serve, old.Serve) || serversChanged && cfg.Serve.Workflows()
	reconnect := serversChanged || newFace
	switch {
	case newFace:
		gen, err = d.connect(ctx, cfg)
	case reconnect:
		gen, err = d.reconnect(ctx, cfg, oldGen)
	}
	if err != nil {
		d.logReloadProblems(err)
		return err
	}
	h, err := d.buildHandler(cfg, gen)
	if err != nil {
		switch {
		case gen.face != oldGen.face:
			gen.close()
		case gen != oldGen:
			gen.orch.Close()
		}
		d.logReloadProblems(err)
		return err
	}
	if gen != oldGen && gen.face == oldGen.face {
		// /mcp's sessions move to the new servers; requests in flight
		// finish on the old ones.
		oldGen.unused = gen.face.srv.SetOrchestrator(gen.orch)
	}

	// Taken. The CLI's socket moves to the new config (the CLI checks
	// it serves the config it loaded), with the new servers if any.
	oldGen.stopSocket()
	if _, err := d.serveLocal(gen, cfg); err != nil {
		d.logger.Error("the CLI's socket could not be served again; the CLI works without the daemon until a restart", "error", err.Error())
	}
	d.runs.SetCatalog(catalog)
	d.mu.Lock()
	oldSched := d.sched
	d.sched, d.cfg, d.gen = sched, cfg, gen
	d.mu.Unlock()
	d.handler.Store(&h)
	oldSched.Stop()
	if err := sched.Start(ctx); err != nil {
		d.logger.Error("scheduled runs missed during the reload were not all handled", "error", err.Error())
	}
	if gen != oldGen {
		d.retire(ctx, oldGen, gen.face == oldGen.face)
	}
	if d.watch != nil {
		d.watch.follow(cfg.Path, cfg.Daemon.WorkflowsDir)
	}
	if len(restart) > 0 {
		d.logger.Warn("config reloaded, but these changes need a restart of the daemon to apply", "fields", restart)
	}
	d.logger.Info("config reloaded", "servers_reconnected", reconnect, "mcp_rebuilt", newFace, "schedules", len(cfg.Daemon.Schedules), "api_tokens", len(cfg.Daemon.Tokens))
	return nil
}

// retire closes g once the runs running or queued now (one may have
// just taken g's orchestrator) have ended; new runs use the current
// servers. When the current generation kept g's face, only g's
// orchestrator closes, once /mcp's requests begun on it have ended too;
// else /mcp's sessions on g end with it and hosts connect again.
func (d *daemond) retire(ctx context.Context, g *servers, shared bool) {
	var ids []string
	// Runs on Temporal do not use the daemon's servers.
	for _, status := range []string{workflows.RunRunning, daemon.StatusQueued} {
		if d.local == nil {
			break
		}
		lo := daemon.ListOptions{Status: status}
		for {
			page, err := d.runs.List(context.WithoutCancel(ctx), lo)
			if err != nil {
				d.logger.Error("listing the runs in progress to retire the old servers", "error", err.Error())
				break
			}
			for _, r := range page.Runs {
				ids = append(ids, r.ID)
			}
			if page.NextCursor == "" {
				break
			}
			lo.Cursor = page.NextCursor
		}
	}
	d.retired.Add(1)
	go func() {
		defer d.retired.Done()
		for _, id := range ids {
			_ = d.local.Wait(context.Background(), id)
		}
		if !shared {
			g.close()
			return
		}
		g.stopSocket()
		<-g.unused
		g.orch.Close()
	}()
}

// logReloadProblems logs each problem of a config not taken, one record
// each.
func (d *daemond) logReloadProblems(err error) {
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			d.logger.Error("config reload refused; the old config stays", "problem", p.String())
		}
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		d.logger.Error("config reload refused; the old config stays", "problem", line)
	}
}

// loadTLS reads daemon.tls, and client_ca for client certificates.
func loadTLS(ctx context.Context, opts *Options, cfg *config.Config) (*tls.Config, error) {
	t := cfg.Daemon.TLS
	tc, err := servecmd.LoadTLS(ctx, opts.Secrets, cfg, servecmd.TLSFiles{Field: "daemon.tls", Cert: t.Cert, KeyFile: t.KeyFile, KeySecret: t.KeySecret, SecretServer: config.DaemonSecretServer})
	if err != nil {
		return nil, err
	}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, cmdutil.Errorf(cmdutil.ExitConnect, "daemon.tls.client_ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cmdutil.Errorf(cmdutil.ExitUsage, "daemon.tls.client_ca: %s holds no PEM certificate", t.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// endpointBase is the URL clients reach the listener at.
func endpointBase(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			host = name
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
