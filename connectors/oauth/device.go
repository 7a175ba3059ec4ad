package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
)

// DeviceAuthorization is what the user needs to approve a device login
// (RFC 8628 §3.2) on another device: where to go and which code to enter.
// It holds no secret; the device code that the handler polls with stays
// inside the handler.
type DeviceAuthorization struct {
	// Issuer is the authorization server the user logs in to.
	Issuer string
	// VerificationURI is where the user goes; VerificationURIComplete, when
	// the server sends one, already carries the user code.
	VerificationURI         string
	VerificationURIComplete string
	UserCode                string
	// ExpiresAt is when the user code stops working.
	ExpiresAt time.Time
}

// DevicePrompt shows a DeviceAuthorization to the user. It returns at once;
// the handler then polls until the user has approved, denied or the code
// expired.
type DevicePrompt func(ctx context.Context, da *DeviceAuthorization) error

// Defaults of RFC 8628 §3.2 and §3.5.
const (
	defaultDeviceInterval = 5 * time.Second
	slowDownStep          = 5 * time.Second
	defaultDeviceExpiry   = 10 * time.Minute
)

// deviceResponse is RFC 8628 §3.2.
type deviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceGrant runs the device authorization grant: request a device and a
// user code (with resource, RFC 8707), show the user code, poll the token
// endpoint at the server's interval.
func (h *Handler) deviceGrant(ctx context.Context, d *discovered, ca clientAuth, scopes []string, useDPoP bool) (*Token, error) {
	if err := checkDeviceSupport(d); err != nil {
		return nil, err
	}
	ep := d.meta.DeviceAuthorizationEndpoint
	if _, err := h.guardPolicy().checkURL(ep); err != nil {
		return nil, fmt.Errorf("device_authorization_endpoint: %w", err)
	}
	form := url.Values{"resource": {d.resource}}
	if len(scopes) > 0 {
		form.Set("scope", joinScopes(scopes))
	}
	dr, err := h.deviceAuthorization(ctx, ep, d.issuer, ca, form)
	if err != nil {
		return nil, err
	}
	now := h.now()
	expiry := defaultDeviceExpiry
	if dr.ExpiresIn > 0 {
		expiry = time.Duration(dr.ExpiresIn) * time.Second
	}
	da := &DeviceAuthorization{Issuer: d.issuer, VerificationURI: dr.VerificationURI, UserCode: dr.UserCode, ExpiresAt: now.Add(expiry)}
	if dr.VerificationURIComplete != "" && h.checkDisplayURL(dr.VerificationURIComplete) == nil {
		da.VerificationURIComplete = dr.VerificationURIComplete
	}
	if err := h.cfg.Device(ctx, da); err != nil {
		return nil, fmt.Errorf("showing the device login: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, expiry)
	defer cancel()
	interval := defaultDeviceInterval
	if dr.Interval > 0 {
		interval = time.Duration(dr.Interval) * time.Second
	}
	poll := url.Values{"grant_type": {grantDeviceCode}, "device_code": {dr.DeviceCode}, "resource": {d.resource}}
	for {
		if err := h.sleep(ctx, interval); err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("the device login was not approved before the code expired (after %s); start the login again", expiry)
			}
			return nil, fmt.Errorf("waiting for the device login: %w", err)
		}
		tok, _, err := h.tokenRequestFor(ctx, d, ca, poll, useDPoP)
		if err == nil {
			return tok, nil
		}
		var te *TokenError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("polling for the device login: %w", err)
		}
		switch te.Code {
		case "authorization_pending":
		case "slow_down":
			// RFC 8628 §3.5: this and every later poll waits 5 s longer.
			interval += slowDownStep
		case "expired_token":
			return nil, errors.New("the device code expired before the login was approved; start the login again")
		case "access_denied":
			return nil, fmt.Errorf("the device login was denied at %s", d.issuer)
		default:
			return nil, fmt.Errorf("device login: %w", err)
		}
	}
}

// checkDeviceSupport refuses an authorization server that does not offer
// the device authorization grant.
func checkDeviceSupport(d *discovered) error {
	if d.meta.DeviceAuthorizationEndpoint == "" {
		return fmt.Errorf("authorization server %s does not offer the device authorization grant (its metadata has no device_authorization_endpoint); log in with the browser instead", d.issuer)
	}
	if !offersDevice(d.meta) {
		return fmt.Errorf("authorization server %s does not list the device_code grant in grant_types_supported; log in with the browser instead", d.issuer)
	}
	return nil
}

// offersDevice reports whether the metadata offers the device grant.
func offersDevice(m *ServerMetadata) bool {
	gt := m.GrantTypesSupported
	return m.DeviceAuthorizationEndpoint != "" && (len(gt) == 0 || slices.Contains(gt, grantDeviceCode))
}

func (h *Handler) sleep(ctx context.Context, d time.Duration) error {
	if h.cfg.Sleep != nil {
		return h.cfg.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deviceAuthorization is the request of RFC 8628 §3.1, with the client
// authenticated as at the token endpoint.
func (h *Handler) deviceAuthorization(ctx context.Context, endpoint, issuer string, ca clientAuth, form url.Values) (*deviceResponse, error) {
	form = cloneValues(form)
	user, pass, err := h.authenticateClient(form, ca, issuer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := h.guardPolicy().fetchContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("device_authorization_endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("device authorization request to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the device authorization response of %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, &TokenError{Endpoint: endpoint, Status: resp.StatusCode, Code: e.Error, Description: e.ErrorDescription}
	}
	var dr deviceResponse
	if err := json.Unmarshal(body, &dr); err != nil {
		return nil, fmt.Errorf("device authorization response of %s is not JSON: %w", endpoint, err)
	}
	switch {
	case dr.DeviceCode == "":
		return nil, fmt.Errorf("device authorization response of %s has no device_code", endpoint)
	case !displayable(dr.UserCode, 64):
		return nil, fmt.Errorf("device authorization response of %s has no usable user_code (empty, too long, or with control characters)", endpoint)
	}
	if err := h.checkDisplayURL(dr.VerificationURI); err != nil {
		return nil, fmt.Errorf("device authorization response of %s: verification_uri: %w", endpoint, err)
	}
	return &dr, nil
}

// checkDisplayURL vets a URL that the user is told to open: mediator never
// fetches it, but it must be one a browser can open safely (https, or http
// to loopback when allowed) and print without terminal control characters.
func (h *Handler) checkDisplayURL(raw string) error {
	if !displayable(raw, 2048) {
		return errors.New("empty, too long, or with control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("not an absolute URL without user info")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && h.guardPolicy().AllowInsecureLocalhost && isLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("scheme %q is not allowed; only https is", u.Scheme)
	}
	return nil
}

func displayable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) < 0
}
