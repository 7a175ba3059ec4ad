package oauth

import (
	"net/netip"
	"strings"
	"testing"
)

// Every way an IPv6 address can carry an IPv4 address is checked as the
// IPv4 address it carries: 64:ff9b::a9fe:a9fe reaches the metadata
// endpoint through NAT64 just as 169.254.169.254 does.
func TestCheckIPEmbeddedIPv4(t *testing.T) {
	forms := []struct {
		name string
		addr func(b [4]byte) string
	}{
		{"IPv4-mapped", func(b [4]byte) string { return "::ffff:" + dotted(b) }},
		{"IPv4-translated", func(b [4]byte) string { return "::ffff:0:" + dotted(b) }},
		{"IPv4-compatible", func(b [4]byte) string { return "::" + dotted(b) }},
		{"NAT64", func(b [4]byte) string { return "64:ff9b::" + dotted(b) }},
		{"6to4", func(b [4]byte) string { return "2002:" + hex2(b[0], b[1]) + ":" + hex2(b[2], b[3]) + "::1" }},
		{"Teredo server", func(b [4]byte) string {
			return "2001:0:" + hex2(b[0], b[1]) + ":" + hex2(b[2], b[3]) + "::f7f7:f7f7" // client 8.8.8.8
		}},
		{"Teredo client", func(b [4]byte) string {
			return "2001:0:808:808::" + hex2(^b[0], ^b[1]) + ":" + hex2(^b[2], ^b[3])
		}},
		{"ISATAP", func(b [4]byte) string { return "2a00:1450:4001::5efe:" + dotted(b) }},
		{"ISATAP global", func(b [4]byte) string { return "2a00:1450:4001::200:5efe:" + dotted(b) }},
	}
	// Local-use NAT64 is a private network itself; its layouts are tried.
	localForms := []struct {
		name string
		addr func(b [4]byte) string
	}{
		{"local-use NAT64 /96", func(b [4]byte) string { return "64:ff9b:1::" + dotted(b) }},
		{"local-use NAT64 /48", func(b [4]byte) string {
			return "64:ff9b:1:" + hex2(b[0], b[1]) + ":" + hex2(0, b[2]) + ":" + hex2(b[3], 0) + "::"
		}},
		{"local-use NAT64 /64", func(b [4]byte) string {
			return "64:ff9b:1:0:" + hex2(0, b[0]) + ":" + hex2(b[1], b[2]) + ":" + hex2(b[3], 0) + ":0"
		}},
	}
	targets := []struct {
		name, v4 string
		// want is the refusal for a public server's policy and for a
		// policy that allows loopback and private networks; "" passes.
		public, local string
	}{
		{"metadata", "169.254.169.254", "metadata", "metadata"},
		{"link-local", "169.254.10.1", "link-local", "link-local"},
		{"loopback", "127.0.0.1", "loopback", ""},
		{"RFC 1918", "10.1.2.3", "private", ""},
		{"RFC 1918 192.168", "192.168.1.1", "private", ""},
		{"CGNAT", "100.64.0.1", "private", ""},
		{"Alibaba metadata", "100.100.100.200", "metadata", "metadata"},
		{"this network", "0.1.2.3", "reserved", "reserved"},
		{"public", "8.8.8.8", "", ""},
	}
	public := GuardPolicy{}
	local := GuardPolicy{AllowLoopback: true, AllowPrivate: true}
	check := func(t *testing.T, p GuardPolicy, addr, want string) {
		t.Helper()
		err := p.checkIP(netip.MustParseAddr(addr))
		switch {
		case want == "" && err != nil:
			t.Errorf("checkIP(%s) = %v, want it allowed", addr, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("checkIP(%s) = %v, want a refusal mentioning %q", addr, err, want)
		}
	}
	for _, f := range forms {
		for _, tg := range targets {
			t.Run(f.name+"/"+tg.name, func(t *testing.T) {
				addr := f.addr(netip.MustParseAddr(tg.v4).As4())
				check(t, public, addr, tg.public)
				check(t, local, addr, tg.local)
			})
		}
	}
	for _, f := range localForms {
		for _, tg := range targets {
			if tg.v4 == "0.1.2.3" {
				continue // a layout that gives 0.0.0.0/8 is not one the address uses
			}
			t.Run(f.name+"/"+tg.name, func(t *testing.T) {
				addr := f.addr(netip.MustParseAddr(tg.v4).As4())
				check(t, public, addr, "private")
				check(t, local, addr, tg.local)
			})
		}
	}

	// The plain IPv6 special addresses keep their own meaning: ::1 is
	// loopback, not 0.0.0.1; :: is unspecified.
	check(t, public, "::1", "loopback")
	check(t, local, "::1", "")
	check(t, local, "::", "not a unicast")
	check(t, public, "2a00:1450:4001:81c::200e", "")

	// The policy a configured server's address opens follows what the
	// address carries: a server at 6to4 of 10.0.0.5 is on a private network.
	p, err := PolicyFor("https://[2002:a00:5::1]/mcp", false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.AllowPrivate {
		t.Errorf("a server at 6to4 of 10.0.0.5 does not open private addresses")
	}
}

func dotted(b [4]byte) string { return netip.AddrFrom4(b).String() }

func hex2(hi, lo byte) string {
	const digits = "0123456789abcdef"
	v := uint16(hi)<<8 | uint16(lo)
	out := []byte{digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15]}
	return string(out)
}
