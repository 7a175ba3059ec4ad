//go:build !linux

package daemon

import "net"

// PeerUID is not implemented off Linux: every peer is refused.
func PeerUID(c *net.UnixConn) (int, error) { return -1, errNoPeerCred }
