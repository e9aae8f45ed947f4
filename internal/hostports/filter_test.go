package hostports

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/link"
)

var (
	shared4 = netip.MustParseAddr("198.51.100.1")
	other4  = netip.MustParseAddr("198.51.100.2")
	client4 = netip.MustParseAddr("203.0.113.9")
	shared6 = netip.MustParseAddr("2001:db8::1")
	other6  = netip.MustParseAddr("2001:db8::2")
	client6 = netip.MustParseAddr("2001:db8:1::9")
)

func eth(etype uint16, p []byte) []byte {
	b := make([]byte, 14, 14+len(p))
	copy(b, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], etype)
	return append(b, p...)
}

func vlan(f []byte) []byte {
	b := append([]byte{}, f[:12]...)
	b = append(b, 0x81, 0x00, 0x00, 0x07)
	return append(b, f[12:]...)
}

func ipv4(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	h[8], h[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return eth(0x0800, append(h, l4...))
}

func ipv6(src, dst netip.Addr, nh uint8, l4 []byte) []byte {
	h := make([]byte, 40, 40+len(l4))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
	h[6], h[7] = nh, 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return eth(0x86dd, append(h, l4...))
}

func ports(sport, dport uint16, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

func arp(op uint16, spa, tpa netip.Addr) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], 0x0800)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	s, t := spa.As4(), tpa.As4()
	copy(b[14:], s[:])
	copy(b[24:], t[:])
	return eth(0x0806, b)
}

func ns(target netip.Addr) []byte {
	b := make([]byte, 24)
	b[0] = 135
	t := target.As16()
	copy(b[8:], t[:])
	return b
}

func testFilter() *Filter {
	return NewFilter([]netip.Addr{shared4, shared6}, Spec{TCP: []uint16{22, 443}, UDP: []uint16{53}}, 32768, 60999)
}

func TestFilterHost(t *testing.T) {
	solicited := netip.MustParseAddr("ff02::1:ff00:1")
	hopByHop := append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, ports(40000, 22, 20)...) // then TCP
	fragFirst := append([]byte{6, 0, 0, 1, 0, 0, 0, 1}, ports(40000, 22, 20)...)
	fragLater := append([]byte{6, 0, 0, 0x10, 0, 0, 0, 1}, ports(40000, 22, 20)...)
	v4frag := ipv4(client4, shared4, 6, ports(40000, 22, 20))
	v4frag[14+6] = 0x00
	v4frag[14+7] = 0x10 // offset 16 bytes: a later fragment
	for _, c := range []struct {
		name  string
		frame []byte
		host  bool
	}{
		{"tcp to a listed port", ipv4(client4, shared4, 6, ports(40000, 22, 20)), true},
		{"tcp to another listed port", ipv4(client4, shared4, 6, ports(40000, 443, 20)), true},
		{"tcp to an unlisted port", ipv4(client4, shared4, 6, ports(40000, 80, 20)), false},
		{"tcp to a port listed for udp", ipv4(client4, shared4, 6, ports(40000, 53, 20)), false},
		{"udp to a listed port", ipv4(client4, shared4, 17, ports(40000, 53, 8)), true},
		{"udp to a port listed for tcp", ipv4(client4, shared4, 17, ports(40000, 22, 8)), false},
		{"tcp reply to an ephemeral port", ipv4(client4, shared4, 6, ports(443, 40000, 20)), true},
		{"udp reply to an ephemeral port", ipv4(client4, shared4, 17, ports(53, 32768, 8)), true},
		{"udp at the top of the ephemeral range", ipv4(client4, shared4, 17, ports(53, 60999, 8)), true},
		{"udp above the ephemeral range", ipv4(client4, shared4, 17, ports(53, 61000, 8)), false},
		{"tcp below the ephemeral range", ipv4(client4, shared4, 6, ports(53, 32767, 20)), false},
		{"tcp to a listed port of another address", ipv4(client4, other4, 6, ports(40000, 22, 20)), false},
		{"icmp echo", ipv4(client4, shared4, 1, []byte{8, 0, 0, 0, 0, 0, 0, 0}), false},
		{"truncated tcp", ipv4(client4, shared4, 6, []byte{0, 1, 0}), false},
		{"a later fragment", v4frag, false},
		{"tagged tcp to a listed port", vlan(ipv4(client4, shared4, 6, ports(40000, 22, 20))), true},
		{"tagged tcp to an unlisted port", vlan(ipv4(client4, shared4, 6, ports(40000, 8080, 20))), false},
		{"arp request for the shared address", arp(1, client4, shared4), true},
		{"arp reply to the shared address", arp(2, client4, shared4), true},
		{"arp request for another address", arp(1, client4, other4), false},
		{"tcp6 to a listed port", ipv6(client6, shared6, 6, ports(40000, 22, 20)), true},
		{"tcp6 to an unlisted port", ipv6(client6, shared6, 6, ports(40000, 80, 20)), false},
		{"udp6 reply to an ephemeral port", ipv6(client6, shared6, 17, ports(53, 50000, 8)), true},
		{"tcp6 to another address", ipv6(client6, other6, 6, ports(40000, 22, 20)), false},
		{"tcp6 after a hop-by-hop header", ipv6(client6, shared6, 0, hopByHop), true},
		{"tcp6 in a first fragment", ipv6(client6, shared6, 44, fragFirst), true},
		{"tcp6 in a later fragment", ipv6(client6, shared6, 44, fragLater), false},
		{"neighbour solicitation for the shared address", ipv6(client6, solicited, 58, ns(shared6)), true},
		{"neighbour solicitation (DAD) from ::", ipv6(netip.IPv6Unspecified(), solicited, 58, ns(shared6)), true},
		{"neighbour solicitation for another address", ipv6(client6, solicited, 58, ns(other6)), false},
		{"echo6 to the shared address", ipv6(client6, shared6, 58, []byte{128, 0, 0, 0, 0, 0, 0, 0}), false},
		{"runt", []byte{1, 2, 3}, false},
		{"unknown ethertype", eth(0x88cc, make([]byte, 40)), false},
		{"truncated ipv6", eth(0x86dd, make([]byte, 39)), false},
	} {
		if got := testFilter().Host(c.frame); got != c.host {
			t.Errorf("%s: Host = %v, want %v", c.name, got, c.host)
		}
	}
	// without an ephemeral range, replies are not singled out
	f := NewFilter([]netip.Addr{shared4}, Spec{TCP: []uint16{22}}, 0, 0)
	if f.Host(ipv4(client4, shared4, 17, ports(53, 40000, 8))) {
		t.Error("no ephemeral range: a UDP datagram to 40000 is the host's")
	}
}

func TestFilterNoAlloc(t *testing.T) {
	f := testFilter()
	frames := [][]byte{
		ipv4(client4, shared4, 6, ports(40000, 22, 20)),
		ipv4(client4, shared4, 6, ports(40000, 80, 20)),
		ipv6(client6, shared6, 17, ports(53, 50000, 8)),
		arp(1, client4, shared4),
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, fr := range frames {
			f.Host(fr)
		}
	}); n != 0 {
		t.Fatalf("Host allocates %v times", n)
	}
}

func BenchmarkFilterHost(b *testing.B) {
	f := testFilter()
	fr := ipv4(client4, shared4, 6, ports(40000, 80, 20))
	for b.Loop() {
		f.Host(fr)
	}
}

func FuzzFilterHost(f *testing.F) {
	f.Add(ipv4(client4, shared4, 6, ports(40000, 22, 20)))
	f.Add(ipv6(client6, shared6, 0, append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, ports(40000, 22, 20)...)))
	f.Add(ipv6(client6, shared6, 58, ns(shared6)))
	f.Add(vlan(arp(1, client4, shared4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		testFilter().Host(b) // must not panic
	})
}

// fakeLink returns its frames, then io.EOF.
type fakeLink struct {
	frames [][]byte
	stats  link.Stats
}

// Recv returns one frame per call (the filter must wait past batches of
// host frames), then io.EOF, or ErrTimeout with a timeout.
func (l *fakeLink) Recv(f []link.Frame, timeout time.Duration) (int, error) {
	if len(l.frames) == 0 {
		if timeout > 0 {
			return 0, link.ErrTimeout
		}
		return 0, io.EOF
	}
	n := 0
	for n < len(f) && n < 2 && len(l.frames) > 0 {
		f[n].Data, l.frames = l.frames[0], l.frames[1:]
		l.stats.Received++
		n++
	}
	return n, nil
}
func (l *fakeLink) Send(fr [][]byte) (int, error) { return len(fr), nil }
func (l *fakeLink) Close() error                  { return nil }
func (l *fakeLink) Stats() link.Stats             { return l.stats }

func TestLink(t *testing.T) {
	mine := ipv4(client4, shared4, 6, ports(40000, 80, 20))
	host := ipv4(client4, shared4, 6, ports(40000, 22, 20))
	for _, timed := range []bool{false, true} {
		fl := &fakeLink{frames: [][]byte{host, mine, host, host, mine, host}}
		l := NewLink(fl, testFilter())
		var got int
		for {
			fr := make([]link.Frame, 4)
			timeout := time.Duration(0)
			if timed {
				timeout = time.Hour
			}
			n, err := l.Recv(fr, timeout)
			if errors.Is(err, io.EOF) || errors.Is(err, link.ErrTimeout) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fr[:n] {
				if string(f.Data) != string(mine) {
					t.Fatalf("timed %v: Recv returned a host frame", timed)
				}
				got++
			}
		}
		if got != 2 || l.HostFrames() != 4 || l.Stats().Received != 6 {
			t.Errorf("timed %v: %d frames to masscanned, %d to the host, %d received; want 2, 4, 6", timed, got, l.HostFrames(), l.Stats().Received)
		}
	}
}

// backlogLink is a fakeLink that tells its backlog.
type backlogLink struct {
	fakeLink
	n int
}

func (b *backlogLink) Backlog() int { return b.n }

// The wrapper passes the wrapped link's backlog on (the worker paces by
// it), and says 0 for a link that cannot tell.
func TestLinkBacklog(t *testing.T) {
	if b := NewLink(&backlogLink{n: 700}, testFilter()).Backlog(); b != 700 {
		t.Errorf("backlog %d, want the wrapped link's 700", b)
	}
	if b := NewLink(&fakeLink{}, testFilter()).Backlog(); b != 0 {
		t.Errorf("backlog %d of a link that cannot tell, want 0", b)
	}
}
