//go:build linux

package afxdp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/addrset"
)

// Crafted frames for the program's verdicts.

var (
	macUs    = []byte{0x52, 0x1c, 0x4e, 0xc2, 0xa4, 0x1f}
	macThem  = []byte{0x02, 0, 0, 0, 0, 1}
	macBcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func eth(dst []byte, typ uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst...), macThem...), byte(typ>>8), byte(typ))
	return append(b, payload...)
}

func vlan(tpid uint16, f []byte) []byte {
	b := append([]byte{}, f[:12]...)
	b = append(b, byte(tpid>>8), byte(tpid), 0x00, 0x64)
	return append(b, f[12:]...)
}

func arp(op uint16, spa, tpa string) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], unix.ETH_P_IP)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:], macThem)
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	copy(b[14:], s[:])
	copy(b[24:], t[:])
	return eth(macBcast, unix.ETH_P_ARP, b)
}

func ipv4(src, dst string, proto byte, l4 []byte) []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
	b[8], b[9] = 64, proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return eth(macUs, unix.ETH_P_IP, append(b, l4...))
}

func ipv6(src, dst string, next byte, l4 []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6], b[7] = next, 255
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return eth(macUs, unix.ETH_P_IPV6, append(b, l4...))
}

func ns(target string) []byte {
	b := make([]byte, 24)
	b[0] = 135
	t := netip.MustParseAddr(target).As16()
	copy(b[8:], t[:])
	return b
}

func syn() []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], 80)
	b[12], b[13] = 5<<4, 0x02
	return b
}

func needBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading an XDP program needs root (CAP_BPF, CAP_NET_ADMIN)")
	}
}

// load builds the program with XDP_TX as the verdict for "ours" (no
// socket in the XSK map), so that ours (3) and not ours (XDP_PASS, 2) are
// told apart without a socket.
func load(t *testing.T, self *addrset.Set) *Program {
	t.Helper()
	needBPF(t)
	p, err := LoadProgram(2, self, nil, xdpTx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func run(t *testing.T, p *Program, frame []byte) uint32 {
	t.Helper()
	ret, err := p.Prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

func mustSet(t *testing.T, list string) *addrset.Set {
	t.Helper()
	s, err := addrset.Parse("", list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const ours, theirs = xdpTx, xdpPass

var verdictCases = []struct {
	name  string
	frame []byte
	want  uint32
}{
	{"ARP request for us", arp(1, "198.51.100.1", "198.51.100.2"), ours},
	{"ARP request for an address in our prefix", arp(1, "198.51.100.1", "203.0.113.77"), ours},
	{"ARP request for another host", arp(1, "198.51.100.1", "198.51.100.3"), theirs},
	{"ARP reply to another host", arp(2, "198.51.100.2", "198.51.100.9"), theirs},
	{"tagged ARP for us", vlan(0x8100, arp(1, "198.51.100.1", "198.51.100.2")), ours},
	{"QinQ-tagged IPv4 for another host", vlan(0x88a8, ipv4("198.51.100.1", "198.51.100.3", 6, syn())), theirs},
	{"IPv4 SYN to us", ipv4("198.51.100.1", "198.51.100.2", 6, syn()), ours},
	{"IPv4 ICMP to our prefix", ipv4("198.51.100.1", "203.0.113.200", 1, make([]byte, 8)), ours},
	{"IPv4 to another host", ipv4("198.51.100.2", "198.51.100.1", 6, syn()), theirs},
	{"IPv4 broadcast", ipv4("198.51.100.1", "255.255.255.255", 17, make([]byte, 8)), theirs},
	{"tagged IPv4 to us", vlan(0x8100, ipv4("198.51.100.1", "198.51.100.2", 6, syn())), ours},
	{"IPv6 SYN to us", ipv6("2001:db8:100::1", "2001:db8:100::2", 6, syn()), ours},
	{"IPv6 to our prefix", ipv6("2001:db8:100::1", "2001:db8:200::1234", 17, make([]byte, 8)), ours},
	{"IPv6 to another host", ipv6("2001:db8:100::2", "2001:db8:100::1", 6, syn()), theirs},
	{"IPv4-mapped form of our IPv4 address is not ours", ipv6("2001:db8:100::1", "::ffff:198.51.100.2", 6, syn()), theirs},
	{"NS for us (solicited-node multicast)", ipv6("2001:db8:100::1", "ff02::1:ff00:2", 58, ns("2001:db8:100::2")), ours},
	{"NS for another host", ipv6("2001:db8:100::1", "ff02::1:ff00:1", 58, ns("2001:db8:100::1")), theirs},
	{"NS for us to another unicast destination", ipv6("2001:db8:100::1", "::1", 58, ns("2001:db8:100::2")), ours},
	{"NS for another host to our address", ipv6("2001:db8:100::1", "2001:db8:100::2", 58, ns("2001:db8:100::1")), theirs},
	{"unicast NS (NUD) for us", ipv6("2001:db8:100::1", "2001:db8:100::2", 58, ns("2001:db8:100::2")), ours},
	{"multicast UDP", ipv6("2001:db8:100::1", "ff02::fb", 17, make([]byte, 24)), theirs},
	{"MLD report to all routers", ipv6("fe80::1", "ff02::16", 58, append([]byte{143}, make([]byte, 27)...)), theirs},
	{"truncated NS", ipv6("2001:db8:100::1", "ff02::1:ff00:2", 58, ns("2001:db8:100::2")[:12]), theirs},
	{"truncated IPv4", ipv4("198.51.100.1", "198.51.100.2", 6, nil)[:30], theirs},
	{"truncated ARP", arp(1, "198.51.100.1", "198.51.100.2")[:40], theirs},
	{"LLDP", eth([]byte{0x01, 0x80, 0xc2, 0, 0, 0x0e}, 0x88cc, make([]byte, 46)), theirs},
	{"runt ethernet", make([]byte, 14), theirs},
}

func TestVerdicts(t *testing.T) {
	p := load(t, mustSet(t, "198.51.100.2,203.0.113.0/24,2001:db8:100::2,2001:db8:200::/48"))
	for _, c := range verdictCases {
		if got := run(t, p, c.frame); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
	}
}

// Without a self list masscanned answers for every address: every ARP,
// IPv4 and unicast IPv6 frame and every NS is ours; other ethertypes and
// IPv6 multicast that is not an NS still go to the kernel.
func TestVerdictsNoSelfList(t *testing.T) {
	p := load(t, nil)
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"ARP for anyone", arp(1, "198.51.100.1", "192.0.2.99"), ours},
		{"IPv4 anywhere", ipv4("198.51.100.1", "192.0.2.99", 6, syn()), ours},
		{"IPv6 anywhere", ipv6("2001:db8:100::1", "2001:db8:ffff::1", 6, syn()), ours},
		{"NS for anyone", ipv6("2001:db8:100::1", "ff02::1:ff00:9", 58, ns("2001:db8:100::9")), ours},
		{"multicast UDP", ipv6("2001:db8:100::1", "ff02::fb", 17, make([]byte, 24)), theirs},
		{"LLDP", eth([]byte{0x01, 0x80, 0xc2, 0, 0, 0x0e}, 0x88cc, make([]byte, 46)), theirs},
	} {
		if got := run(t, p, c.frame); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
	}
}

// SetSelf (SIGHUP) replaces the addresses in place.
func TestSetSelf(t *testing.T) {
	p := load(t, mustSet(t, "198.51.100.2"))
	old := ipv4("198.51.100.1", "198.51.100.2", 6, syn())
	nu := ipv4("198.51.100.1", "192.0.2.7", 6, syn())
	if run(t, p, old) != ours || run(t, p, nu) != theirs {
		t.Fatal("before reload")
	}
	if err := p.SetSelf(mustSet(t, "192.0.2.0/28")); err != nil {
		t.Fatal(err)
	}
	if got := run(t, p, old); got != theirs {
		t.Errorf("old address after reload: %d", got)
	}
	if got := run(t, p, nu); got != ours {
		t.Errorf("new prefix after reload: %d", got)
	}
	if err := p.SetSelf(nil); err != nil {
		t.Fatal(err)
	}
	if got := run(t, p, old); got != ours {
		t.Errorf("no list: %d", got)
	}
	var k, v []byte
	n := 0
	it := p.Addrs.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("map holds %d keys, want the 2 family keys", n)
	}
}

// With masscanned's own MAC (-m), every frame to it is ours, malformed or
// not; frames to other MACs follow the address rules.
func TestVerdictsOwnMAC(t *testing.T) {
	needBPF(t)
	own := [6]byte(macUs)
	p, err := LoadProgram(1, mustSet(t, "198.51.100.2"), &own, xdpTx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	toOther := func(f []byte) []byte { f = append([]byte(nil), f...); copy(f, []byte{0x02, 0, 0, 0, 0, 9}); return f }
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"unknown ethertype to our MAC", eth(macUs, 0x88b5, make([]byte, 46)), ours},
		{"truncated IPv4 to our MAC", ipv4("198.51.100.1", "198.51.100.2", 6, syn())[:24], ours},
		{"IPv4 to our MAC for another address", ipv4("198.51.100.1", "198.51.100.9", 6, syn()), ours},
		{"IPv4 to another MAC for our address", toOther(ipv4("198.51.100.1", "198.51.100.2", 6, syn())), ours},
		{"IPv4 to another MAC and address", toOther(ipv4("198.51.100.1", "198.51.100.9", 6, syn())), theirs},
		{"MAC differing in the last byte", eth([]byte{0x52, 0x1c, 0x4e, 0xc2, 0xa4, 0x20}, 0x88b5, make([]byte, 46)), theirs},
		{"MAC differing in the first byte", eth([]byte{0x53, 0x1c, 0x4e, 0xc2, 0xa4, 0x1f}, 0x88b5, make([]byte, 46)), theirs},
		{"broadcast ARP for us", arp(1, "198.51.100.1", "198.51.100.2"), ours},
	} {
		if got := run(t, p, c.frame); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for _, c := range []struct {
		p    string
		want [keySize]byte
	}{
		{"198.51.100.2/32", [keySize]byte{64, 0, 0, 0, 0, 0, 0, 4, 198, 51, 100, 2}},
		{"203.0.113.0/24", [keySize]byte{56, 0, 0, 0, 0, 0, 0, 4, 203, 0, 113}},
		{"2001:db8::/32", [keySize]byte{64, 0, 0, 0, 0, 0, 0, 6, 0x20, 0x01, 0x0d, 0xb8}},
		{"::ffff:198.51.100.2/128", [keySize]byte{64, 0, 0, 0, 0, 0, 0, 4, 198, 51, 100, 2}},
	} {
		k := addrKey(netip.MustParsePrefix(c.p))
		want := c.want
		// the prefix length is host order
		binary.NativeEndian.PutUint32(want[:], uint32(c.want[0]))
		if k != want {
			t.Errorf("%s: % x, want % x", c.p, k, want)
		}
	}
}
