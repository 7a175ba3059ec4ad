//go:build !linux

package daemon

import (
	"errors"
	"net"
)

// errNoPeerCred: the platform gives no peer credentials, so no peer is
// trusted.
var errNoPeerCred = errors.New("peer credentials are not available on this platform")

// PeerUID is not implemented off Linux: every peer is refused.
func PeerUID(c *net.UnixConn) (int, error) { return -1, errNoPeerCred }
