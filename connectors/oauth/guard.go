package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Limits of the guarded client. A metadata document or token response is a
// few kilobytes; anything far larger is a server trying to exhaust memory.
const (
	DefaultFetchTimeout = 30 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	maxRedirects        = 5
)

// ErrBlockedURL is wrapped by every refusal of the guarded client, so
// callers and tests can tell a policy refusal from a network failure.
var ErrBlockedURL = errors.New("URL refused by the SSRF guard")

// GuardPolicy says which URLs a server-steered fetch may reach. Every URL
// that a server supplied (resource_metadata, authorization_servers,
// metadata endpoints, a redirect Location) goes through it.
type GuardPolicy struct {
	// AllowInsecureLocalhost permits plain http to loopback hosts. The
	// conformance suite and local development need it; nothing else may.
	AllowInsecureLocalhost bool
	// AllowLoopback and AllowPrivate open loopback and private (RFC 1918,
	// ULA, CGNAT) addresses. PolicyFor and ResolveServer set them only when
	// the configured server URL is itself on such a network, so a public
	// server can never steer mediator into the user's LAN.
	AllowLoopback bool
	AllowPrivate  bool
	// Timeout bounds one whole fetch including redirects; zero means
	// DefaultFetchTimeout.
	Timeout time.Duration
	// MaxBodyBytes caps a response body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Resolver looks up host names, both of the configured server (in
	// ResolveServer) and of every URL the client dials, whose addresses
	// are then checked one by one before any is dialed. Nil means
	// net.DefaultResolver; tests point names at chosen addresses.
	Resolver Resolver
	// ServerTLS is the TLS of the configured server's own origin: its CA
	// bundle, minimum version and client certificate. Only requests to that
	// origin use it, so the client certificate is never shown to another
	// host. Nil means the defaults.
	ServerTLS *tls.Config
	// RootCAs verify every other origin (the authorization server); nil
	// means the system's roots.
	RootCAs *x509.CertPool

	// serverHost and serverOrigin are of the configured server URL.
	serverHost   string
	serverOrigin string
}

// Resolver is the part of *net.Resolver the guard uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// PolicyFor derives the policy from the user-configured server URL: the
// networks the user chose to reach are the only non-public ones allowed.
// It looks only at the URL (an IP literal, localhost); ResolveServer adds
// what a host name resolves to.
func PolicyFor(serverURL string, allowInsecureLocalhost bool) (GuardPolicy, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" {
		return GuardPolicy{}, fmt.Errorf("server URL %q is not an absolute URL", serverURL)
	}
	p := GuardPolicy{AllowInsecureLocalhost: allowInsecureLocalhost, serverHost: u.Hostname(), serverOrigin: originKey(u)}
	if isLoopbackName(p.serverHost) {
		p.AllowLoopback = true
	}
	if ip, err := netip.ParseAddr(p.serverHost); err == nil {
		p.allowClassOf(ip)
	}
	return p, nil
}

// allowClassOf opens the address class of one of the configured server's
// addresses. Link-local and metadata addresses stay closed: checkIP refuses
// them whatever the flags say.
func (p *GuardPolicy) allowClassOf(ip netip.Addr) {
	ip = ip.Unmap()
	addrs := []netip.Addr{ip}
	for _, e := range embeddedIPv4(ip) {
		addrs = append(addrs, e.v4)
	}
	for _, a := range addrs {
		switch {
		case a.IsLoopback():
			p.AllowLoopback = true
		case isPrivate(a):
			p.AllowPrivate = true
		}
	}
}

// isPrivate is an address of a private network: RFC 1918, ULA, CGNAT,
// and the local-use NAT64 prefix, which only a local translator serves.
func isPrivate(ip netip.Addr) bool {
	return ip.IsPrivate() || cgnat.Contains(ip) || localNAT64.Contains(ip)
}

// ResolveServer opens the address classes that the configured server's
// host name resolves to: an intranet server reached as https://vm:8443/mcp
// may have its metadata and authorization server on the same network, just
// as one configured by IP may. Without a host name (an IP literal,
// localhost) it changes nothing.
func (p GuardPolicy) ResolveServer(ctx context.Context) (GuardPolicy, error) {
	h := p.serverHost
	if h == "" || isLoopbackName(h) {
		return p, nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return p, nil
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", h)
	if err != nil {
		return p, fmt.Errorf("resolving the server's host %q: %w", h, err)
	}
	for _, a := range addrs {
		p.allowClassOf(a)
	}
	return p, nil
}

func (p GuardPolicy) resolver() Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// originKey is scheme://host:port with the default port spelled out, so
// that https://h and https://h:443 are one origin.
func originKey(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10")
	// Cloud metadata endpoints that are not link-local.
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"),
		netip.MustParseAddr("fd00:ec2::254"),
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	}
)

func isLoopbackName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// checkURL refuses schemes other than https (and http to loopback with
// AllowInsecureLocalhost) and IP literals the policy forbids. Host names are
// checked again at dial time, after resolution.
func (p GuardPolicy) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q does not parse as a URL", ErrBlockedURL, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %s carries user info", ErrBlockedURL, redactURL(u))
	}
	host := u.Hostname()
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		if host == "" {
			return nil, fmt.Errorf("%w: %q has no host", ErrBlockedURL, raw)
		}
	default:
		return nil, fmt.Errorf("%w: scheme %q of %s is not allowed; only https is", ErrBlockedURL, u.Scheme, redactURL(u))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !p.AllowInsecureLocalhost || !isLoopbackHost(host) {
			return nil, fmt.Errorf("%w: %s uses http; only https is allowed (http only to localhost with allow_insecure_localhost: true)", ErrBlockedURL, redactURL(u))
		}
	default:
		return nil, fmt.Errorf("%w: scheme %q of %s is not allowed; only https is", ErrBlockedURL, u.Scheme, redactURL(u))
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if err := p.checkIP(ip); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBlockedURL, redactURL(u), err)
		}
	} else if isLoopbackName(host) && !p.AllowLoopback {
		return nil, fmt.Errorf("%w: %s is a loopback host and the configured server is not local", ErrBlockedURL, redactURL(u))
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if isLoopbackName(host) {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// checkIP is the address policy. Link-local and metadata addresses are never
// allowed, whatever the configuration. An IPv6 address that carries an
// IPv4 address (NAT64, 6to4, Teredo, ...) passes only if every address it
// carries would pass too.
func (p GuardPolicy) checkIP(ip netip.Addr) error {
	ip = ip.Unmap()
	if err := p.checkAddr(ip); err != nil {
		return err
	}
	for _, e := range embeddedIPv4(ip) {
		if err := p.checkAddr(e.v4); err != nil {
			return fmt.Errorf("address %s carries %s (%s): %w", ip, e.v4, e.form, err)
		}
	}
	return nil
}

// checkAddr applies the policy to one address as it is.
func (p GuardPolicy) checkAddr(ip netip.Addr) error {
	for _, m := range metadataAddrs {
		if ip == m {
			return fmt.Errorf("address %s is a cloud metadata endpoint", ip)
		}
	}
	switch {
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return fmt.Errorf("address %s is link-local", ip)
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("address %s is not a unicast address", ip)
	case ip.IsLoopback():
		if !p.AllowLoopback {
			return fmt.Errorf("address %s is loopback and the configured server is not local", ip)
		}
	case isPrivate(ip):
		if !p.AllowPrivate {
			return fmt.Errorf("address %s is private and the configured server is not on a private network", ip)
		}
	case ip.Is4() && ip.As4()[0] == 0, ip == netip.MustParseAddr("255.255.255.255"):
		return fmt.Errorf("address %s is reserved", ip)
	}
	return nil
}

// Client returns an *http.Client that enforces the policy on the URL of the
// request, on every redirect and, after DNS resolution, on each address it
// would dial (so a name resolving to 169.254.169.254 is refused too).
// Environment proxies are ignored: through a proxy the dial check would see
// only the proxy's address. A request other than GET or HEAD is never
// redirected: token, registration and device requests carry client secrets
// and refresh tokens, which a 307 or 308 would send on to wherever the
// Location points.
func (p GuardPolicy) Client() *http.Client {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = DefaultFetchTimeout
	}
	gt := &guardTransport{policy: p, base: p.transport(&tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12})}
	if p.ServerTLS != nil && p.serverOrigin != "" {
		cfg := p.ServerTLS.Clone()
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		gt.server = p.transport(cfg)
	}
	return &http.Client{
		Transport: gt,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
				return fmt.Errorf("%w: %s %s answered with a redirect to %s; a %s is never redirected, so what it carries stays with the endpoint it was meant for", ErrBlockedURL, m, redactURL(via[0].URL), redactURL(req.URL), m)
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrBlockedURL, maxRedirects)
			}
			if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect from https to %s", ErrBlockedURL, redactURL(req.URL))
			}
			_, err := p.checkURL(req.URL.String())
			return err
		},
	}
}

func (p GuardPolicy) transport(tlsCfg *tls.Config) *http.Transport {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		// dialContext dials checked IP addresses only; this re-check at
		// the socket keeps that true whatever dials through this dialer.
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				host = address
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: dialing non-IP address %q", ErrBlockedURL, host)
			}
			if err := p.checkIP(ip); err != nil {
				return fmt.Errorf("%w: %v", ErrBlockedURL, err)
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialContext(dialer),
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
	}
}

// dialContext resolves the host itself (through the policy's Resolver),
// checks every address, and dials only the allowed ones.
func (p GuardPolicy) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: dial address %q: %v", ErrBlockedURL, addr, err)
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = p.resolver().LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		var refused []string
		var allowed []netip.Addr
		for _, ip := range ips {
			if err := p.checkIP(ip); err != nil {
				refused = append(refused, err.Error())
				continue
			}
			allowed = append(allowed, ip)
		}
		// Addresses are tried in turn (the dialer's own fallback between
		// IPv6 and IPv4 would dial unchecked names); a share of the dial
		// timeout each keeps a dead first address from eating it all.
		per := max(2*time.Second, d.Timeout/time.Duration(max(len(allowed), 1)))
		var dialErr error
		for _, ip := range allowed {
			actx, cancel := context.WithTimeout(ctx, per)
			c, err := d.DialContext(actx, network, net.JoinHostPort(ip.Unmap().String(), port))
			cancel()
			if err == nil {
				return c, nil
			}
			dialErr = err
		}
		if dialErr != nil {
			return nil, dialErr
		}
		if len(refused) == 0 {
			return nil, fmt.Errorf("host %q has no address", host)
		}
		return nil, fmt.Errorf("%w: host %q resolves only to refused addresses: %s", ErrBlockedURL, host, strings.Join(refused, "; "))
	}
}

// guardTransport checks the URL of each request (the first one included,
// which CheckRedirect never sees), sends requests for the configured
// server's origin through the transport with its TLS settings, and caps
// the response body.
type guardTransport struct {
	policy GuardPolicy
	base   http.RoundTripper
	server http.RoundTripper // nil: base for every origin
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, err := t.policy.checkURL(req.URL.String()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	rt := t.base
	if t.server != nil && originKey(req.URL) == t.policy.serverOrigin {
		rt = t.server
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	limit := t.policy.MaxBodyBytes
	if limit == 0 {
		limit = DefaultMaxBodyBytes
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit}
	return resp, nil
}

// limitedBody fails loudly instead of truncating: a cut JSON document
// would otherwise surface as a confusing parse error.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("response body exceeds %d bytes", b.limit)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// redactURL prints a URL without its query and fragment, where codes,
// states and tokens travel.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "…"
	}
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// fetchContext bounds a fetch by the policy's timeout even when the
// caller's context has none.
func (p GuardPolicy) fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = DefaultFetchTimeout
	}
	return context.WithTimeout(ctx, timeout)
}
