package stack

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

func TestFingerprintSYN(t *testing.T) {
	linuxOpts := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	for _, tc := range []struct {
		name string
		v6   bool
		mod  func(ip4 *layers.IPv4, ip6 *layers.IPv6, tcp *layers.TCP)
		want string
	}{
		{"linux", false, func(ip *layers.IPv4, _ *layers.IPv6, tc *layers.TCP) {
			ip.Flags = layers.IPv4DontFragment
			tc.Options = linuxOpts
		}, "4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"},
		{"v6 flow label", true, func(_ *layers.IPv4, ip *layers.IPv6, tc *layers.TCP) {
			ip.FlowLabel = 0x12345
			ip.HopLimit = 57
			tc.Options = linuxOpts
		}, "6:57+7:0:1460:mss*44,7:mss,sok,ts,nop,ws:flow:0"},
		{"nmap-like", false, func(ip *layers.IPv4, _ *layers.IPv6, tc *layers.TCP) {
			ip.TTL = 41
			tc.Window = 1024
			tc.Options = linuxOpts[:1]
		}, "4:41+23:0:1460:1024,0:mss::0"},
		{"quirks", false, func(ip *layers.IPv4, _ *layers.IPv6, tc *layers.TCP) {
			ip.Flags = layers.IPv4EvilBit
			ip.TOS = 1
			tc.Seq, tc.Ack, tc.Urgent, tc.PSH, tc.ECE, tc.CWR = 0, 5, 9, true, true, true
			tc.Window = 0
			tc.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 0, 0, 0, 0, 1}},
				{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{15}},
				{OptionType: 99, OptionLength: 2},
				{OptionType: layers.TCPOptionKindEndList},
			}
		}, "4:64+0:0:*:0,15:ts,ws,?99,eol+0:ecn,0+,seq-,ack+,uptr+,pushf+,ts1-,ts2+,exws:0"},
		{"id-, eol padding", false, func(ip *layers.IPv4, _ *layers.IPv6, tc *layers.TCP) {
			ip.Id = 0
			tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindEndList},
				{OptionType: layers.TCPOptionKindNop}}
		}, "4:64+0:0:*:64240,0:nop,eol+2:id-,opt+:0"},
		{"bad option, urg", false, func(ip *layers.IPv4, _ *layers.IPv6, tc *layers.TCP) {
			tc.URG = true
			tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 3, OptionData: []byte{1}}}
		}, "4:64+0:0:256:mss*44,0:mss:urgf+,bad:0"},
	} {
		var frame []byte
		if tc.v6 {
			ip := ip6(layers.IPProtocolTCP)
			tcp := tcpSeg(ip, 40000, 80, 1000, 0)
			tcp.SYN = true
			tc.mod(nil, ip, tcp)
			frame = build(t, eth(layers.EthernetTypeIPv6), ip, tcp)
		} else {
			ip := ip4(layers.IPProtocolTCP)
			tcp := tcpSeg(ip, 40000, 80, 1000, 0)
			tcp.SYN = true
			tc.mod(ip, nil, tcp)
			frame = build(t, eth(layers.EthernetTypeIPv4), ip, tcp)
		}
		e := newEnv(t, personality.Linux())
		e.handle(frame)
		if !e.ev.TCPFP.Set {
			t.Errorf("%s: no fingerprint: %+v", tc.name, e.ev)
			continue
		}
		if got := e.ev.TCPFP.Raw(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestFingerprintConn: a tracked handshake's fingerprint follows the
// connection: on its segments' events and on its end event.
func TestFingerprintConn(t *testing.T) {
	e := newLifeEnv(t, personality.Linux(), "")
	syn := synFrame(t, false, []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}})
	out := e.handle(syn)
	if len(out) != 1 || !e.ev.TCPFP.Set {
		t.Fatalf("SYN: %d replies, fp %v", len(out), e.ev.TCPFP.Set)
	}
	want := e.ev.TCPFP.Raw()
	sa := decode(t, out[0]).Layer(layers.LayerTypeTCP).(*layers.TCP)
	ip := ip4(layers.IPProtocolTCP)
	ack := tcpSeg(ip, 40000, 80, 1001, sa.Seq+1)
	ack.ACK, ack.RST = true, false
	e.handle(build(t, eth(layers.EthernetTypeIPv4), ip, ack))
	if !e.ev.TCPFP.Set || e.ev.TCPFP.Raw() != want {
		t.Fatalf("ACK event fp %q, want %q", e.ev.TCPFP.Raw(), want)
	}
	rst := tcpSeg(ip, 40000, 80, 1001, 0)
	rst.RST = true
	e.handle(build(t, eth(layers.EthernetTypeIPv4), ip, rst))
	e.tick(0)
	found := false
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.emitted {
		if ev.Kind == event.KindConnEnd && ev.TCPFP.Set && ev.TCPFP.Raw() == want {
			found = true
		}
	}
	if !found {
		t.Errorf("no conn-end event with the SYN's fingerprint: %+v", e.emitted)
	}
}
