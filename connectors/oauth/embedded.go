package oauth

import "net/netip"

// embedded is an IPv4 address an IPv6 address carries, and the form that
// carries it.
type embedded struct {
	v4   netip.Addr
	form string
}

var (
	nat64       = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052 well-known prefix
	localNAT64  = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215 local-use prefix
	sixToFour   = netip.MustParsePrefix("2002::/16")       // RFC 3056
	teredo      = netip.MustParsePrefix("2001::/32")       // RFC 4380
	translated  = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 IPv4-translated
	compatible  = netip.MustParsePrefix("::/96")           // RFC 4291 IPv4-compatible, deprecated
	loopbackSix = netip.IPv6Loopback()
)

// embeddedIPv4 returns every IPv4 address that a packet sent to the IPv6
// address ip may be delivered to by a translator or tunnel: NAT64 (the
// well-known and the local-use prefix), 6to4, Teredo (server and client),
// ISATAP, and the IPv4-compatible and IPv4-translated forms. The guard
// checks each one as if it had been dialed: 64:ff9b::a9fe:a9fe is
// 169.254.169.254 to a host behind NAT64. (IPv4-mapped addresses are
// unmapped before this.)
//
// The local-use NAT64 prefix leaves its layout to the operator, so the
// address is read at each RFC 6052 position a /48 allows (prefix lengths
// 48, 56, 64 and 96); positions that give 0.0.0.0/8 do not fit the
// address and are left out.
func embeddedIPv4(ip netip.Addr) []embedded {
	if !ip.Is6() || ip.Is4In6() {
		return nil
	}
	b := ip.As16()
	v4 := func(i, j, k, l int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]}) }
	var out []embedded
	switch {
	case nat64.Contains(ip):
		out = append(out, embedded{v4(12, 13, 14, 15), "NAT64"})
	case localNAT64.Contains(ip):
		for _, a := range []netip.Addr{v4(6, 7, 9, 10), v4(7, 9, 10, 11), v4(9, 10, 11, 12), v4(12, 13, 14, 15)} {
			if a.As4()[0] != 0 {
				out = append(out, embedded{a, "local-use NAT64"})
			}
		}
	case sixToFour.Contains(ip):
		out = append(out, embedded{v4(2, 3, 4, 5), "6to4"})
	case teredo.Contains(ip):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		out = append(out, embedded{v4(4, 5, 6, 7), "Teredo server"}, embedded{client, "Teredo client"})
	case translated.Contains(ip):
		out = append(out, embedded{v4(12, 13, 14, 15), "IPv4-translated"})
	case compatible.Contains(ip) && ip != loopbackSix && !ip.IsUnspecified():
		out = append(out, embedded{v4(12, 13, 14, 15), "IPv4-compatible"})
	}
	// ISATAP puts the IPv4 address in the interface identifier of any
	// prefix: ::0:5efe:a.b.c.d, or ::200:5efe:a.b.c.d when it is global.
	if (b[8]|0x02) == 0x02 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		out = append(out, embedded{v4(12, 13, 14, 15), "ISATAP"})
	}
	return out
}
