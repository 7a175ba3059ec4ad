package auth

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
)

// DefaultLoginTimeout bounds a login: the user's time in the browser or at
// the other device.
const DefaultLoginTimeout = 10 * time.Minute

// LoginOptions of `mediator auth login`.
type LoginOptions struct {
	deps
	Server    string
	NoBrowser bool
	Device    bool
	Timeout   time.Duration
	// Messages is where the login talks to the user (the URL to open, the
	// device code, the outcome); nil means stderr.
	Messages io.Writer
}

// Login logs in to server as `mediator auth login SERVER` does, with the
// default timeout, telling the user what to do on out: the chat's
// `/auth login SERVER`.
func Login(ctx context.Context, f *cmdutil.Factory, server string, out io.Writer) error {
	opts := &LoginOptions{deps: newDeps(f), Server: server, Timeout: DefaultLoginTimeout, Messages: out}
	return loginRun(ctx, opts)
}

// messages is where the login talks to the user.
func (opts *LoginOptions) messages() io.Writer {
	if opts.Messages != nil {
		return opts.Messages
	}
	return opts.IO.ErrOut
}

// NewCmdLogin returns `mediator auth login SERVER`.
func NewCmdLogin(f *cmdutil.Factory, runF func(context.Context, *LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "login SERVER [--no-browser | --device]",
		Short: "Log in to an OAuth server and keep the token in the keyring",
		Long: `Logs you in to SERVER (auth type oauth) and stores the token in the keyring,
as an item of SERVER only. mediator refreshes it before it expires; log in
again when the refresh stops working.

By default the system browser opens the authorization server's page, and a
one-shot listener on 127.0.0.1 (the redirect_url port) takes the answer,
checking that it belongs to this login. --no-browser prints the URL to open
yourself instead. --device is for machines without a browser: it shows a
URL and a code to enter on any other device (RFC 8628), where the
authorization server offers that.

For the machine auth types (client-credentials, jwt-bearer, enterprise) the
command only checks that a token can be obtained.

Exit codes: 0 logged in, 2 usage or config error, 3 the login failed (see
` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator auth login github
  mediator auth login github --no-browser
  mediator auth login github --device`,
		Args: cmdutil.ExactArgs(1, "SERVER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return loginRun(cmd.Context(), opts)
		},
		ValidArgsFunction: completeOAuthServers(f),
	}
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "print the authorization URL instead of opening the browser")
	cmd.Flags().BoolVar(&opts.Device, "device", false, "log in on another device with a code (device authorization grant)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", DefaultLoginTimeout, "how long to wait for the login")
	return cmd
}

func loginRun(ctx context.Context, opts *LoginOptions) error {
	if opts.Device && opts.NoBrowser {
		return cmdutil.UsageErrorf("--device and --no-browser exclude each other: the device login never opens a browser")
	}
	if opts.Timeout <= 0 {
		return cmdutil.UsageErrorf("--timeout must be positive, e.g. 10m")
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	s, err := cmdutil.CheckServer(cfg, opts.Server)
	if err != nil {
		return err
	}
	switch {
	case !s.Auth.IsOAuth():
		return cmdutil.UsageErrorf("server %q has auth type %s, which has no login: %s", s.Name, displayType(s.Auth.Type), noLoginHint(s))
	case opts.Device && s.Auth.Type != connectors.AuthOAuth:
		return cmdutil.UsageErrorf("--device logs a person in (auth type oauth); server %q has auth type %s, which gets its tokens without one", s.Name, s.Auth.Type)
	}
	store, err := opts.Secrets(ctx, cfg)
	if err != nil {
		return err
	}
	copts := opts.connectorOptions(cfg, s, store)
	copts.Config.Timeout = opts.Timeout
	if s.Auth.Type == connectors.AuthOAuth {
		copts.Login = opts.login(s.Name)
	}
	c, err := connectors.New(copts)
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return err
	}
	st := c.OAuth().Status()
	var b strings.Builder
	fmt.Fprintf(&b, "Logged in to %s", s.Name)
	if st.ClientID != "" {
		fmt.Fprintf(&b, " as client %s", st.ClientID)
	}
	fmt.Fprintf(&b, " of %s", st.Issuer)
	if len(st.Scopes) > 0 {
		fmt.Fprintf(&b, ", scopes %s", strings.Join(st.Scopes, " "))
	}
	if !st.Expiry.IsZero() {
		fmt.Fprintf(&b, "; the token expires at %s and is renewed before then", st.Expiry.Local().Format(time.DateTime))
	}
	fmt.Fprintln(opts.messages(), b.String())
	return nil
}

// login is how this login reaches the user: a browser, a printed URL, or a
// device code.
func (opts *LoginOptions) login(server string) *connectors.Login {
	w := opts.messages()
	if opts.Device {
		return &connectors.Login{Device: func(_ context.Context, da *oauth.DeviceAuthorization) error {
			// Each URL and the code on a line of its own: terminals make a
			// bare URL clickable, and a code inside a sentence gets
			// mistyped.
			fmt.Fprintf(w, "To log in to %s, open this URL on any device:\n\n  %s\n\nand enter the code:\n\n  %s\n\n", server, da.VerificationURI, da.UserCode)
			if da.VerificationURIComplete != "" {
				fmt.Fprintf(w, "Or open this URL, which carries the code:\n\n  %s\n\n", da.VerificationURIComplete)
			}
			fmt.Fprintf(w, "Enter the code only if you started this login yourself, just now. It expires at %s.\nWaiting for the approval...\n", da.ExpiresAt.Local().Format(time.TimeOnly))
			return nil
		}}
	}
	return &connectors.Login{OpenURL: func(ctx context.Context, authURL string) error {
		if opts.NoBrowser {
			fmt.Fprintf(w, "To log in to %s, open this URL in a browser:\n\n  %s\n\nWaiting for the login...\n", server, authURL)
			return nil
		}
		fmt.Fprintf(w, "Opening the browser to log in to %s. If it does not open, visit:\n\n  %s\n\nWaiting for the login...\n", server, authURL)
		if err := opts.OpenBrowser(ctx, authURL); err != nil {
			// The URL is on the screen; the user can still open it.
			fmt.Fprintf(w, "warning: %v\n", err)
		}
		return nil
	}}
}

func displayType(t string) string {
	if t == "" {
		return connectors.AuthNone
	}
	return t
}
