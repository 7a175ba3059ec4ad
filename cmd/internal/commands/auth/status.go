package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
)

// StatusOptions of `mediator auth status`.
type StatusOptions struct {
	deps
	Server string
	JSON   bool
	// Now is the clock expiries are judged by.
	Now func() time.Time
}

// NewCmdStatus returns `mediator auth status [SERVER]`.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{deps: newDeps(f), Now: time.Now}
	cmd := &cobra.Command{
		Use:   "status [SERVER]",
		Short: "Show each server's auth type and stored login, never a token",
		Long: `Shows, for each configured server (or SERVER), its auth type and what the
keyring holds for it: the authorization server (issuer), the client ID, the
granted scopes and when the token expires, and the client certificate's
expiry. It reads the keyring only and connects to nothing. No token, secret
or key is ever printed.

Exit codes: 0; 3 when SERVER is given, has auth type oauth, and has no
usable login (none, or expired without a refresh token).`,
		Args: cmdutil.MaxArgs(1, "[SERVER]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Server = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statusRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

// States of a server's authorization.
const (
	stateLoggedIn    = "logged in"
	stateRefreshable = "expired, renewable"
	stateExpired     = "expired"
	stateNoLogin     = "not logged in"
	stateNoToken     = "no token yet" // machine types get one at connect
	stateNoOAuth     = "-"
	// stateInvalid: the server's entry has problems (`mediator config
	// validate` lists them); what it names is not looked up.
	stateInvalid = "invalid config"
)

type statusRow struct {
	Server   string                `json:"server"`
	AuthType string                `json:"auth_type"`
	State    string                `json:"state"`
	Logins   []oauth.StoredLogin   `json:"logins"`
	Clients  []oauth.StoredClient  `json:"clients"`
	Cert     *certStatus           `json:"client_certificate,omitempty"`
	Secrets  []string              `json:"secret_items,omitempty"`
	auth     connectors.AuthConfig `json:"-"`
}

type certStatus struct {
	File     string    `json:"file"`
	Subject  string    `json:"subject,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	Error    string    `json:"error,omitempty"`
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	servers := cfg.Servers
	if opts.Server != "" {
		s, err := cmdutil.CheckServer(cfg, opts.Server)
		if err != nil {
			return err
		}
		servers = []config.Server{*s}
	}
	var store *credentials.Store
	for _, s := range servers {
		if s.Auth.IsOAuth() && s.Err() == nil {
			if store, err = opts.Secrets(ctx, cfg); err != nil {
				return err
			}
			break
		}
	}
	now := opts.Now()
	rows := make([]statusRow, 0, len(servers))
	for i := range servers {
		row, err := describe(ctx, &servers[i], store, now)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}

	var out []byte
	if opts.JSON {
		if out, err = cmdutil.MarshalJSON(rows); err != nil {
			return err
		}
	} else {
		out = table(rows, now)
	}
	// Nothing here came from a token, but a server could have put a secret
	// in an issuer or scope name.
	red := credentials.NewRedactor()
	if store != nil {
		red = store.Redactor()
	}
	if err := cmdutil.WriteRedacted(opts.IO.Out, red, out); err != nil {
		return err
	}
	if len(rows) == 0 && !opts.JSON {
		fmt.Fprintf(opts.IO.ErrOut, "%s configures no servers\n", cfg.Path)
	}
	if opts.Server != "" && rows[0].auth.Type == connectors.AuthOAuth && (rows[0].State == stateNoLogin || rows[0].State == stateExpired) {
		return &cmdutil.ExitError{Code: cmdutil.ExitConnect, Err: fmt.Errorf("server %q: %s; log in with `mediator auth login %s`", opts.Server, rows[0].State, opts.Server)}
	}
	return nil
}

func describe(ctx context.Context, s *config.Server, store *credentials.Store, now time.Time) (statusRow, error) {
	row := statusRow{Server: s.Name, AuthType: displayType(s.Auth.Type), State: stateNoOAuth, Logins: []oauth.StoredLogin{}, Clients: []oauth.StoredClient{}, auth: s.Auth.AuthConfig}
	if s.URL == "" && s.Auth.Type == "" {
		row.AuthType = "stdio"
	}
	if s.Err() != nil {
		row.State = stateInvalid
		return row, nil
	}
	for _, item := range []string{s.Auth.Secret, s.Auth.ClientSecret, s.Auth.PrivateKey, s.Auth.Assertion, s.Auth.IdPClientSecret, s.Auth.IDToken, s.TLS.KeySecret} {
		if item != "" {
			row.Secrets = append(row.Secrets, item)
		}
	}
	if s.TLS.Cert != "" {
		row.Cert = readCert(s.TLS.Cert)
	}
	if !s.Auth.IsOAuth() {
		return row, nil
	}
	inv, err := connectors.NewTokenStore(s.Name, store.ForServer(s.Name)).Inventory(ctx, s.Name)
	if err != nil {
		return row, err
	}
	row.Logins, row.Clients = inv.Logins, inv.Clients
	row.State = stateNoLogin
	if s.Auth.Type != connectors.AuthOAuth {
		row.State = stateNoToken
	}
	for _, l := range inv.Logins {
		switch {
		case l.Expiry.IsZero() || l.Expiry.After(now):
			row.State = stateLoggedIn
		case l.Refreshable && row.State != stateLoggedIn:
			row.State = stateRefreshable
		case row.State == stateNoLogin || row.State == stateNoToken:
			row.State = stateExpired
		}
	}
	return row, nil
}

// readCert reports a client certificate's subject and expiry; it reads the
// certificate only, never the key.
func readCert(file string) *certStatus {
	cs := &certStatus{File: file}
	data, err := os.ReadFile(file)
	if err != nil {
		cs.Error = err.Error()
		return cs
	}
	block, _ := pem.Decode(data)
	if block == nil {
		cs.Error = "no PEM certificate in the file"
		return cs
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		cs.Error = "the certificate does not parse"
		return cs
	}
	cs.Subject, cs.NotAfter = cert.Subject.String(), cert.NotAfter
	return cs
}

func table(rows []statusRow, now time.Time) []byte {
	if len(rows) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTYPE\tSTATE\tISSUER\tCLIENT\tSCOPES\tEXPIRES")
	for _, r := range rows {
		if len(r.Logins) == 0 {
			issuer, client := "", ""
			if len(r.Clients) > 0 {
				issuer, client = r.Clients[0].Issuer, r.Clients[0].ClientID
			}
			if client == "" {
				client = r.auth.ClientID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Server, r.AuthType, r.State, dash(issuer), dash(client), dash(strings.Join(r.auth.Scopes, " ")), certExpiry(r.Cert, now))
			continue
		}
		for _, l := range r.Logins {
			scopes := strings.Join(l.Scopes, " ")
			if len(l.PendingScopes) > 0 {
				// What the server asked for beyond this login, which
				// the next login requests.
				scopes = strings.TrimSpace(scopes + " (next login adds: " + strings.Join(l.PendingScopes, " ") + ")")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Server, r.AuthType, r.State, l.Issuer, dash(l.ClientID), dash(scopes), expiry(l.Expiry, now))
		}
	}
	tw.Flush()
	for _, r := range rows {
		if r.Cert != nil {
			if r.Cert.Error != "" {
				fmt.Fprintf(&buf, "%s: client certificate %s: %s\n", r.Server, r.Cert.File, r.Cert.Error)
			} else {
				fmt.Fprintf(&buf, "%s: client certificate %s (%s) valid until %s\n", r.Server, r.Cert.File, r.Cert.Subject, expiry(r.Cert.NotAfter, now))
			}
		}
	}
	return buf.Bytes()
}

func certExpiry(c *certStatus, now time.Time) string {
	if c == nil || c.NotAfter.IsZero() {
		return "-"
	}
	return "cert " + expiry(c.NotAfter, now)
}

func expiry(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now).Round(time.Minute)
	if d < 0 {
		return fmt.Sprintf("%s (%s ago)", t.Local().Format(time.DateTime), minutes(-d))
	}
	return fmt.Sprintf("%s (in %s)", t.Local().Format(time.DateTime), minutes(d))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// minutes prints a whole-minute duration without its "0s".
func minutes(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	return strings.TrimSuffix(d.String(), "0s")
}
