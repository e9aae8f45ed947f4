//go:build linux

package afxdp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/masscanned-go/masscanned/internal/wire"
)

// withCsum fills the L4 checksum of an ipv4()/ipv6() frame (see
// prog_test.go): full (the checksum a wire frame carries) or partial (the
// pseudo-header sum a local kernel leaves with checksum offload).
func withCsum(f []byte, partial bool) []byte {
	f = append([]byte(nil), f...)
	off := 14
	if binary.BigEndian.Uint16(f[12:]) == 0x8100 {
		off = 18
	}
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	if f[off]>>4 == 4 {
		src, dst = netip.AddrFrom4([4]byte(f[off+12:])), netip.AddrFrom4([4]byte(f[off+16:]))
		proto, l4 = f[off+9], f[off+20:]
	} else {
		src, dst = netip.AddrFrom16([16]byte(f[off+8:])), netip.AddrFrom16([16]byte(f[off+24:]))
		proto, l4 = f[off+6], f[off+40:]
	}
	field := 16
	if proto == 17 {
		field = 6
	}
	binary.BigEndian.PutUint16(l4[field:], 0)
	full := wire.L4Checksum(src, dst, proto, l4)
	if partial {
		// the pseudo-header alone: sum of an all-zero segment of that length
		zero := make([]byte, len(l4))
		binary.BigEndian.PutUint16(l4[field:], ^wire.L4Checksum(src, dst, proto, zero))
	} else {
		binary.BigEndian.PutUint16(l4[field:], full)
	}
	return f
}

func udp(payload string) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], 5353)
	binary.BigEndian.PutUint16(b[2:], 53)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

func TestPartialChecksum(t *testing.T) {
	synData := append(syn(), []byte("GET / HTTP/1.1\r\n\r\n")...)
	v4 := ipv4("198.51.100.1", "198.51.100.2", 6, synData)
	v6 := ipv6("2001:db8:100::1", "2001:db8:100::2", 6, synData)
	u4 := ipv4("198.51.100.1", "198.51.100.2", 17, udp("query"))
	u6 := ipv6("2001:db8:100::1", "2001:db8:100::2", 17, udp("query"))
	frag := withCsum(v4, true)
	binary.BigEndian.PutUint16(frag[14+6:], 0x2000) // more fragments
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"IPv4 TCP, full checksum", withCsum(v4, false), false},
		{"IPv4 TCP, partial", withCsum(v4, true), true},
		{"IPv6 TCP, full checksum", withCsum(v6, false), false},
		{"IPv6 TCP, partial", withCsum(v6, true), true},
		{"IPv4 UDP, full", withCsum(u4, false), false},
		{"IPv4 UDP, partial", withCsum(u4, true), true},
		{"IPv6 UDP, partial", withCsum(u6, true), true},
		{"tagged IPv4 TCP, partial", withCsum(vlan(0x8100, v4), true), true},
		{"tagged IPv4 TCP, full", withCsum(vlan(0x8100, v4), false), false},
		{"IPv4 fragment", frag, false},
		{"ICMP", ipv4("198.51.100.1", "198.51.100.2", 1, make([]byte, 8)), false},
		{"ARP", arp(1, "198.51.100.1", "198.51.100.2"), false},
		{"truncated TCP header", withCsum(v4, true)[:14+20+10], false},
		{"IPv4 total length beyond the frame", withCsum(v4, true)[:60], false},
		{"empty", nil, false},
	} {
		if got := partialChecksum(c.frame); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPartialChecksumNoAlloc(t *testing.T) {
	f := withCsum(ipv4("198.51.100.1", "198.51.100.2", 6, syn()), true)
	if n := testing.AllocsPerRun(100, func() { partialChecksum(f) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzPartialChecksum(f *testing.F) {
	f.Add(withCsum(ipv4("198.51.100.1", "198.51.100.2", 6, syn()), true))
	f.Add(withCsum(ipv6("2001:db8:100::1", "2001:db8:100::2", 17, udp("q")), false))
	f.Add(withCsum(vlan(0x8100, ipv4("198.51.100.1", "198.51.100.2", 17, udp("x"))), true))
	f.Add(arp(1, "198.51.100.1", "198.51.100.2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		partialChecksum(b)
	})
}
