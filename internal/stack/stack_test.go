package stack

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

func arpReq(t testing.TB, spa, tpa net.IP, op uint16) []byte {
	e := eth(layers.EthernetTypeARP)
	e.DstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: cliMAC, SourceProtAddress: spa.To4(), DstHwAddress: make([]byte, 6), DstProtAddress: tpa.To4()}
	return build(t, e, a)
}

func echo4(t testing.TB, mod func(*layers.IPv4)) []byte {
	ip := ip4(layers.IPProtocolICMPv4)
	if mod != nil {
		mod(ip)
	}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}
	return build(t, eth(layers.EthernetTypeIPv4), ip, ic, gopacket.Payload("idrinkwaytoomuchcoffee"))
}

func echo6(t testing.TB) []byte {
	ip := ip6(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	body := []byte{0, 7, 0, 1}
	body = append(body, "waytoomanynapkins"...)
	return build(t, eth(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(body))
}

func TestARP(t *testing.T) {
	e := newEnv(t, personality.Linux())
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"request for us", arpReq(t, cliIP4, ourIP4, 1), ""},
		{"request for another", arpReq(t, cliIP4, otherIP4, 1), event.ReasonNotOurIP},
		{"reply", arpReq(t, cliIP4, ourIP4, 2), event.ReasonARPOp},
		{"denied sender", arpReq(t, net.IP{203, 0, 113, 66}, ourIP4, 1), event.ReasonDenyList},
		{"gratuitous", arpReq(t, ourIP4, ourIP4, 1), event.ReasonNotOurIP},
		{"truncated", arpReq(t, cliIP4, ourIP4, 1)[:14+20], event.ReasonTruncated},
	}
	for _, tc := range tests {
		out := e.handle(tc.frame)
		if tc.reason != "" {
			if len(out) != 0 || e.ev.Reason != tc.reason || e.ev.Verdict != event.Dropped {
				t.Errorf("%s: got %d replies, verdict %v reason %q; want drop %q", tc.name, len(out), e.ev.Verdict, e.ev.Reason, tc.reason)
			}
			continue
		}
		if len(out) != 1 {
			t.Fatalf("%s: %d replies", tc.name, len(out))
		}
		p := decode(t, out[0])
		a := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		eh := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if a.Operation != 2 || !bytes.Equal(a.SourceHwAddress, ourMAC) || !net.IP(a.SourceProtAddress).Equal(ourIP4) ||
			!bytes.Equal(a.DstHwAddress, cliMAC) || !net.IP(a.DstProtAddress).Equal(cliIP4) ||
			!bytes.Equal(eh.DstMAC, cliMAC) || !bytes.Equal(eh.SrcMAC, ourMAC) {
			t.Errorf("%s: bad reply %+v", tc.name, a)
		}
		if e.ev.Verdict != event.Answered || e.ev.Reply != "arp-reply" || e.ev.ARPOp != 1 {
			t.Errorf("%s: event %+v", tc.name, e.ev)
		}
	}
	// bogus hardware/protocol lengths
	f := arpReq(t, cliIP4, ourIP4, 1)
	f[14+4] = 8
	if out := e.handle(f); len(out) != 0 || e.ev.Reason != event.ReasonARPFormat {
		t.Errorf("bad hlen: %d replies, reason %q", len(out), e.ev.Reason)
	}
}

func TestEthernet(t *testing.T) {
	e := newEnv(t, personality.Linux())
	good := echo4(t, nil)
	other := append([]byte(nil), good...)
	copy(other[0:6], []byte{0, 0, 0, 0x11, 0x11, 0x11})
	mcastSrc := append([]byte(nil), good...)
	mcastSrc[6] |= 1
	unknown := append([]byte(nil), good...)
	unknown[12], unknown[13] = 0x88, 0xcc
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"short", good[:13], event.ReasonTruncated},
		{"other mac", other, event.ReasonNotOurMAC},
		{"multicast source mac", mcastSrc, event.ReasonBadSource},
		{"unknown ethertype", unknown, event.ReasonEtherType},
		{"stacked vlan", vlanTag(vlanTag(good, 5), 6), event.ReasonVLANStacked},
		{"short vlan", vlanTag(good, 5)[:16], event.ReasonTruncated},
	}
	for _, tc := range tests {
		if out := e.handle(tc.frame); len(out) != 0 || e.ev.Reason != tc.reason {
			t.Errorf("%s: %d replies, reason %q, want %q", tc.name, len(out), e.ev.Reason, tc.reason)
		}
	}
	// 802.1Q: accepted and kept on the reply
	out := e.handle(vlanTag(good, 42))
	if len(out) != 1 {
		t.Fatalf("vlan: %d replies (%q)", len(out), e.ev.Reason)
	}
	p := decode(t, out[0])
	d, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if !ok || d.VLANIdentifier != 42 || e.ev.VLANID() != 42 {
		t.Errorf("vlan tag not kept: %v", p)
	}
	// broadcast and the IPv4 multicast MAC of our address are accepted
	for _, dst := range []net.HardwareAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x00, 0x5e, 0x00, 0x02, 0x01}} {
		f := append([]byte(nil), good...)
		copy(f[0:6], dst)
		if out := e.handle(f); len(out) != 1 {
			t.Errorf("dst %v: %d replies (%q)", dst, len(out), e.ev.Reason)
		}
	}
}

func vlanTag(f []byte, id uint16) []byte {
	out := append([]byte(nil), f[:12]...)
	out = append(out, 0x81, 0x00, byte(id>>8), byte(id))
	return append(out, f[12:]...)
}

func TestIPv4Drops(t *testing.T) {
	e := newEnv(t, personality.Linux())
	mod := func(f func(b []byte)) []byte {
		b := echo4(t, nil)
		f(b[14:])
		return b
	}
	fixsum := func(h []byte) {
		h[10], h[11] = 0, 0
		c := csum(h[:int(h[0]&15)*4])
		h[10], h[11] = byte(c>>8), byte(c)
	}
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"truncated", echo4(t, nil)[:14+19], event.ReasonTruncated},
		{"version", mod(func(h []byte) { h[0] = 0x55; fixsum(h) }), event.ReasonBadVersion},
		{"ihl < 5", mod(func(h []byte) { h[0] = 0x44 }), event.ReasonBadHeader},
		{"total length past frame", mod(func(h []byte) { h[2], h[3] = 0x05, 0xdc; fixsum(h) }), event.ReasonBadLength},
		{"total length < ihl", mod(func(h []byte) { h[2], h[3] = 0, 10; fixsum(h) }), event.ReasonBadLength},
		{"bad checksum", mod(func(h []byte) { h[10] ^= 0xff }), event.ReasonBadChecksum},
		{"more fragments", echo4(t, func(ip *layers.IPv4) { ip.Flags = layers.IPv4MoreFragments }), event.ReasonFragment},
		{"fragment offset", echo4(t, func(ip *layers.IPv4) { ip.FragOffset = 10 }), event.ReasonFragment},
		{"other destination", echo4(t, func(ip *layers.IPv4) { ip.DstIP = otherIP4 }), event.ReasonNotOurIP},
		{"broadcast destination", echo4(t, func(ip *layers.IPv4) { ip.DstIP = net.IP{255, 255, 255, 255} }), event.ReasonMulticastDst},
		{"multicast destination", echo4(t, func(ip *layers.IPv4) { ip.DstIP = net.IP{224, 0, 0, 1} }), event.ReasonMulticastDst},
		{"broadcast source", echo4(t, func(ip *layers.IPv4) { ip.SrcIP = net.IP{255, 255, 255, 255} }), event.ReasonBadSource},
		{"multicast source", echo4(t, func(ip *layers.IPv4) { ip.SrcIP = net.IP{224, 0, 0, 5} }), event.ReasonBadSource},
		{"loopback source", echo4(t, func(ip *layers.IPv4) { ip.SrcIP = net.IP{127, 0, 0, 1} }), event.ReasonBadSource},
		{"denied source", echo4(t, func(ip *layers.IPv4) { ip.SrcIP = net.IP{203, 0, 113, 66} }), event.ReasonDenyList},
		{"unknown protocol", echo4(t, func(ip *layers.IPv4) { ip.Protocol = 47 }), event.ReasonProtoNotHandled},
	}
	for _, tc := range tests {
		if out := e.handle(tc.frame); len(out) != 0 || e.ev.Reason != tc.reason || e.ev.Verdict != event.Dropped {
			t.Errorf("%s: %d replies, verdict %v reason %q, want drop %q", tc.name, len(out), e.ev.Verdict, e.ev.Reason, tc.reason)
		}
	}
	// Options are skipped; Ethernet padding is ignored.
	withOpts := echo4(t, func(ip *layers.IPv4) {
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	})
	if out := e.handle(append(withOpts, 0, 0, 0, 0)); len(out) != 1 {
		t.Errorf("options/padding: %d replies (%q)", len(out), e.ev.Reason)
	}
}

func TestEcho(t *testing.T) {
	for _, p := range []*personality.Personality{personality.Linux(), personality.Masscanned()} {
		e := newEnv(t, p)
		out := e.handle(echo4(t, func(ip *layers.IPv4) { ip.TOS = 0x10 }))
		if len(out) != 1 {
			t.Fatalf("%s: %d replies (%q)", p.Name, len(out), e.ev.Reason)
		}
		pk := decode(t, out[0])
		ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if (ip.TOS == 0x10) != p.EchoCopyTOS {
			t.Errorf("%s: echo reply TOS %#x", p.Name, ip.TOS)
		}
		ic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ic.TypeCode != layers.CreateICMPv4TypeCode(0, 0) || ic.Id != 7 || ic.Seq != 1 || string(ic.Payload) != "idrinkwaytoomuchcoffee" {
			t.Errorf("%s: bad echo reply %v", p.Name, ic)
		}
		if !ip.SrcIP.Equal(ourIP4) || !ip.DstIP.Equal(cliIP4) || ip.TTL != 64 {
			t.Errorf("%s: bad IP header %v", p.Name, ip)
		}
		df := ip.Flags&layers.IPv4DontFragment != 0
		if df != p.Echo.DF || (p.Echo.ID == personality.IDZero && ip.Id != 0) {
			t.Errorf("%s: DF %v ID %d, want DF %v policy %v", p.Name, df, ip.Id, p.Echo.DF, p.Echo.ID)
		}
		// IPv6
		out = e.handle(echo6(t))
		if len(out) != 1 {
			t.Fatalf("%s v6: %d replies (%q)", p.Name, len(out), e.ev.Reason)
		}
		pk = decode(t, out[0])
		ic6 := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		ip6 := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ic6.TypeCode != layers.CreateICMPv6TypeCode(129, 0) || !bytes.HasSuffix(ic6.Payload, []byte("waytoomanynapkins")) || ip6.HopLimit != 64 {
			t.Errorf("%s: bad echo6 reply %v", p.Name, ic6)
		}
		if (ip6.FlowLabel != 0) != p.FlowLabels {
			t.Errorf("%s: flow label %#x", p.Name, ip6.FlowLabel)
		}
	}
	e := newEnv(t, personality.Linux())
	bad := echo4(t, nil)
	bad[len(bad)-1] ^= 1
	if out := e.handle(bad); len(out) != 0 || e.ev.Reason != event.ReasonBadChecksum {
		t.Errorf("bad icmp checksum: %d replies %q", len(out), e.ev.Reason)
	}
	notEcho := echo4(t, nil)
	notEcho[34] = 13 // timestamp request
	binary.BigEndian.PutUint16(notEcho[36:], 0)
	c := csum(notEcho[34:])
	binary.BigEndian.PutUint16(notEcho[36:], c)
	if out := e.handle(notEcho); len(out) != 0 || e.ev.Reason != event.ReasonICMPType {
		t.Errorf("timestamp request: %d replies %q", len(out), e.ev.Reason)
	}
}

func nsFrame(t testing.TB, src, dst, target net.IP, hop uint8, dstMAC net.HardwareAddr, withSLLA bool) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: dst}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target}
	if withSLLA {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: cliMAC}}
	}
	e := eth(layers.EthernetTypeIPv6)
	e.DstMAC = dstMAC
	return build(t, e, ip, ic, ns)
}

func TestNeighborSolicitation(t *testing.T) {
	solicited := net.ParseIP("ff02::1:ff00:1")
	solMAC := net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}
	type want struct {
		reason   string
		override bool
		tlla     bool
		dst      string
		sol      bool
	}
	tests := []struct {
		name  string
		p     *personality.Personality
		frame []byte
		want  want
	}{
		{"multicast linux", personality.Linux(), nsFrame(t, cliIP6, solicited, ourIP6, 255, solMAC, true), want{override: true, tlla: true, dst: "2001:db8::100", sol: true}},
		{"unicast linux", personality.Linux(), nsFrame(t, cliIP6, ourIP6, ourIP6, 255, ourMAC, true), want{dst: "2001:db8::100", sol: true}},
		{"unicast to ::1 masscanned", personality.Masscanned(), nsFrame(t, cliIP6, net.ParseIP("::1"), ourIP6, 255, ourMAC, true), want{override: true, tlla: true, dst: "2001:db8::100", sol: true}},
		{"broadcast mac masscanned", personality.Masscanned(), nsFrame(t, cliIP6, solicited, ourIP6, 255, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true), want{override: true, tlla: true, dst: "2001:db8::100", sol: true}},
		{"dad", personality.Linux(), nsFrame(t, net.IPv6unspecified, solicited, ourIP6, 255, solMAC, false), want{override: true, tlla: true, dst: "ff02::1"}},
		{"other target", personality.Linux(), nsFrame(t, cliIP6, solicited, otherIP6, 255, solMAC, true), want{reason: event.ReasonNotOurIP}},
		{"hop limit 64", personality.Linux(), nsFrame(t, cliIP6, solicited, ourIP6, 64, solMAC, true), want{reason: event.ReasonNDInvalid}},
		{"dad with slla", personality.Linux(), nsFrame(t, net.IPv6unspecified, solicited, ourIP6, 255, solMAC, true), want{reason: event.ReasonNDInvalid}},
		{"multicast target", personality.Linux(), nsFrame(t, cliIP6, solicited, net.ParseIP("ff02::1"), 255, solMAC, true), want{reason: event.ReasonNDInvalid}},
		{"denied source", personality.Linux(), nsFrame(t, net.ParseIP("2001:db8:dead::1"), solicited, ourIP6, 255, solMAC, true), want{reason: event.ReasonDenyList}},
		{"truncated", personality.Linux(), nsFrame(t, cliIP6, solicited, ourIP6, 255, solMAC, false)[:14+40+20], want{reason: event.ReasonBadLength}},
	}
	for _, tc := range tests {
		e := newEnv(t, tc.p)
		out := e.handle(tc.frame)
		if tc.want.reason != "" {
			if len(out) != 0 || e.ev.Reason != tc.want.reason {
				t.Errorf("%s: %d replies, reason %q, want %q", tc.name, len(out), e.ev.Reason, tc.want.reason)
			}
			continue
		}
		if len(out) != 1 {
			t.Fatalf("%s: %d replies (%q)", tc.name, len(out), e.ev.Reason)
		}
		p := decode(t, out[0])
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		if ip.HopLimit != 255 || !ip.SrcIP.Equal(ourIP6) || ip.DstIP.String() != tc.want.dst || !na.TargetAddress.Equal(ourIP6) {
			t.Errorf("%s: bad NA header %v -> %v hop %d", tc.name, ip.SrcIP, ip.DstIP, ip.HopLimit)
		}
		if na.Router() || na.Solicited() != tc.want.sol || na.Override() != tc.want.override {
			t.Errorf("%s: flags R=%v S=%v O=%v", tc.name, na.Router(), na.Solicited(), na.Override())
		}
		hasTLLA := len(na.Options) == 1 && na.Options[0].Type == layers.ICMPv6OptTargetAddress && bytes.Equal(na.Options[0].Data, ourMAC)
		if hasTLLA != tc.want.tlla || (!tc.want.tlla && len(na.Options) != 0) {
			t.Errorf("%s: options %v", tc.name, na.Options)
		}
	}
}

func TestIPv6Drops(t *testing.T) {
	e := newEnv(t, personality.Linux())
	withExt := func(exts ...byte) []byte {
		// exts: a chain of 8-byte extension headers of these types, then ICMPv6 echo
		f := echo6(t)
		ipStart := 14
		payload := append([]byte(nil), f[ipStart+40:]...)
		var chain []byte
		for i, typ := range exts {
			next := byte(58)
			if i+1 < len(exts) {
				next = exts[i+1]
			}
			_ = typ
			chain = append(chain, next, 0, 1, 4, 0, 0, 0, 0) // PadN option
		}
		out := append([]byte(nil), f[:ipStart+40]...)
		if len(exts) > 0 {
			out[ipStart+6] = exts[0]
		}
		out = append(out, chain...)
		out = append(out, payload...)
		binary.BigEndian.PutUint16(out[ipStart+4:], uint16(len(chain)+len(payload)))
		return out
	}
	if out := e.handle(withExt(0, 60)); len(out) != 1 {
		t.Errorf("hop-by-hop + dest options: %d replies (%q)", len(out), e.ev.Reason)
	}
	tests := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"fragment", withExt(44), event.ReasonFragment},
		{"hop-by-hop not first", withExt(60, 0), event.ReasonExtHeaders},
		{"too many", withExt(60, 60, 60, 60, 60, 60, 60, 60, 60), event.ReasonExtHeaders},
		{"no next header", withExt(59), event.ReasonExtHeaders},
		{"lying payload length", func() []byte { f := echo6(t); f[14+4] = 0xff; return f }(), event.ReasonBadLength},
		{"truncated", echo6(t)[:14+39], event.ReasonTruncated},
		{"bad icmpv6 checksum", func() []byte { f := echo6(t); f[len(f)-1] ^= 1; return f }(), event.ReasonBadChecksum},
		{"other destination", func() []byte { f := echo6(t); f[14+39] = 9; return f }(), event.ReasonNotOurIP},
		{"multicast destination", func() []byte {
			f := echo6(t)
			copy(f[14+24:], net.ParseIP("ff02::1"))
			return f
		}(), event.ReasonMulticastDst},
	}
	for _, tc := range tests {
		if out := e.handle(tc.frame); len(out) != 0 || e.ev.Reason != tc.reason {
			t.Errorf("%s: %d replies, reason %q, want %q", tc.name, len(out), e.ev.Reason, tc.reason)
		}
	}
	// an extension header whose length runs past the packet
	f := withExt(60)
	f[14+40+1] = 200
	if out := e.handle(f); len(out) != 0 || e.ev.Reason != event.ReasonExtHeaders {
		t.Errorf("long ext header: %d replies, reason %q", len(out), e.ev.Reason)
	}
}
