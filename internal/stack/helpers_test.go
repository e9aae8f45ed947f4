package stack

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

// Test fixtures: documentation addresses only.
var (
	ourMAC    = net.HardwareAddr{0x52, 0x1c, 0x4e, 0xc2, 0xa4, 0x1f}
	cliMAC    = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	ourIP4    = net.IP{192, 0, 2, 1}
	cliIP4    = net.IP{192, 0, 2, 100}
	otherIP4  = net.IP{198, 51, 100, 9}
	ourIP6    = net.ParseIP("2001:db8::1")
	cliIP6    = net.ParseIP("2001:db8::100")
	otherIP6  = net.ParseIP("2001:db8:ffff::9")
	testTime  = time.Unix(1764072000, 123456789)
	testKey   = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	serialize = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
)

type testEnv struct {
	t  *testing.T
	st *Stack
	tx Tx
	ev event.Event
}

func newEnv(t testing.TB, p *personality.Personality, mods ...func(*Config)) *testEnv {
	self, err := addrset.Parse("", "192.0.2.1,2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	deny, _ := addrset.Parse("", "203.0.113.66,2001:db8:dead::/48")
	reg := &app.Registry{}
	cfg := Config{
		MAC:         [6]byte(ourMAC),
		Self:        self,
		Deny:        deny,
		Personality: p,
		CookieKey:   testKey,
		Apps:        reg,
		Conns:       NewConnTable(reg, ConnConfig{}),
		UDPMaxRatio: 3,
	}
	for _, m := range mods {
		m(&cfg)
	}
	st, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := t.(*testing.T)
	return &testEnv{t: tt, st: st}
}

// handle runs one frame and returns the reply frames.
func (e *testEnv) handle(frame []byte) [][]byte {
	return e.handleMeta(frame, Meta{Time: testTime})
}

func (e *testEnv) handleMeta(frame []byte, m Meta) [][]byte {
	e.tx.Reset()
	e.ev.Reset()
	e.st.Handle(frame, m, &e.tx, &e.ev)
	var out [][]byte
	for i := 0; i < e.tx.Len(); i++ {
		out = append(out, append([]byte(nil), e.tx.Frame(i)...))
	}
	return out
}

func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serialize, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: cliMAC, DstMAC: ourMAC, EthernetType: t}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1337, Protocol: proto, SrcIP: cliIP4, DstIP: ourIP4}
}

func ip6(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: cliIP6, DstIP: ourIP6}
}

func tcpSeg(ip gopacket.NetworkLayer, sport, dport uint16, seq, ack uint32) *layers.TCP {
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, Window: 64240}
	_ = tc.SetNetworkLayerForChecksum(ip)
	return tc
}

func synFrame(t testing.TB, v6 bool, opts []layers.TCPOption) []byte {
	if v6 {
		ip := ip6(layers.IPProtocolTCP)
		tc := tcpSeg(ip, 40000, 80, 1000, 0)
		tc.SYN, tc.Options = true, opts
		return build(t, eth(layers.EthernetTypeIPv6), ip, tc)
	}
	ip := ip4(layers.IPProtocolTCP)
	tc := tcpSeg(ip, 40000, 80, 1000, 0)
	tc.SYN, tc.Options = true, opts
	return build(t, eth(layers.EthernetTypeIPv4), ip, tc)
}

// decode parses a reply frame and checks every checksum in it.
func decode(t testing.TB, b []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("reply does not decode: %v", el.Error())
	}
	if ip, ok := p.NetworkLayer().(*layers.IPv4); ok {
		hdr := b[len(b)-len(ip.Contents)-len(ip.Payload):]
		if csum(hdr[:20]) != 0 {
			t.Errorf("bad IPv4 header checksum in reply")
		}
	}
	verifyL4(t, p)
	return p
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// verifyL4 recomputes the L4 checksum independently of the stack.
func verifyL4(t testing.TB, p gopacket.Packet) {
	t.Helper()
	nl := p.NetworkLayer()
	tl := p.TransportLayer()
	var seg []byte
	var proto byte
	switch l := tl.(type) {
	case *layers.TCP:
		seg, proto = append(append([]byte(nil), l.Contents...), l.Payload...), 6
	case *layers.UDP:
		seg, proto = append(append([]byte(nil), l.Contents...), l.Payload...), 17
	default:
		if ic := p.Layer(layers.LayerTypeICMPv6); ic != nil {
			l := ic.(*layers.ICMPv6)
			seg, proto = append(append([]byte(nil), l.Contents...), l.Payload...), 58
		} else if ic := p.Layer(layers.LayerTypeICMPv4); ic != nil {
			l := ic.(*layers.ICMPv4)
			if csum(append(append([]byte(nil), l.Contents...), l.Payload...)) != 0 {
				t.Errorf("bad ICMPv4 checksum in reply")
			}
			return
		} else {
			return
		}
	}
	var ph []byte
	switch n := nl.(type) {
	case *layers.IPv4:
		ph = append(append([]byte(nil), n.SrcIP.To4()...), n.DstIP.To4()...)
		ph = append(ph, 0, proto, byte(len(seg)>>8), byte(len(seg)))
	case *layers.IPv6:
		ph = append(append([]byte(nil), n.SrcIP.To16()...), n.DstIP.To16()...)
		ph = append(ph, 0, 0, byte(len(seg)>>8), byte(len(seg)), 0, 0, 0, proto)
	}
	if csum(append(ph, seg...)) != 0 {
		t.Errorf("bad L4 checksum (proto %d) in reply", proto)
	}
}
