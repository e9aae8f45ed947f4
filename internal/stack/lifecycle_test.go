package stack

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/profile"
)

// greetApp is a server-first test protocol: it greets "HELLO\n" on the
// "ssh" service, answers lines with "OK\n" and closes on "QUIT".
type greetApp struct{}

func (greetApp) Name() string                             { return "greet" }
func (greetApp) Service() string                          { return "ssh" }
func (greetApp) Detect([]byte, app.Transport) app.Verdict { return app.No }
func (greetApp) Greet(c *app.Conn) app.Result {
	return app.Result{Reply: []byte("HELLO " + c.Banner("ssh", "default") + "\n")}
}
func (greetApp) Serve(c *app.Conn, b []byte) app.Result {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return app.Result{NeedMore: true}
	}
	if string(b[:i]) == "QUIT" {
		return app.Result{Consumed: i + 1, Reply: []byte("BYE\n"), Close: true}
	}
	return app.Result{Consumed: i + 1, Reply: []byte("OK\n")}
}

// lifeEnv is a test stack that records the events given to Emit.
type lifeEnv struct {
	*testEnv
	mu      sync.Mutex // libraries emit from their own goroutines
	emitted []event.Event
}

func newLifeEnv(t *testing.T, p *personality.Personality, prof string, mods ...func(*Config)) *lifeEnv {
	le := &lifeEnv{}
	mods = append([]func(*Config){withLineApp, func(c *Config) {
		c.Apps.Register(greetApp{}, true, "test greeter")
		c.Emit = func(e *event.Event) {
			le.mu.Lock()
			le.emitted = append(le.emitted, *e)
			le.mu.Unlock()
		}
		if prof != "" {
			pr, err := profile.Parse("test.toml", []byte(prof))
			if err != nil {
				t.Fatal(err)
			}
			c.Profile = pr
		}
	}}, mods...)
	le.testEnv = newEnv(t, p, mods...)
	return le
}

// tick runs the timers at testTime+d and returns the frames sent.
func (e *lifeEnv) tick(d time.Duration) [][]byte {
	e.tx.Reset()
	e.st.Tick(testTime.Add(d), &e.tx)
	var out [][]byte
	for i := 0; i < e.tx.Len(); i++ {
		out = append(out, append([]byte(nil), e.tx.Frame(i)...))
	}
	return out
}

// ends returns the connection-end events emitted so far.
func (e *lifeEnv) ends() []event.ConnEnd {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []event.ConnEnd
	for _, ev := range e.emitted {
		if ev.Conn.End != "" {
			out = append(out, ev.Conn)
		}
	}
	return out
}

func TestConnectionEnds(t *testing.T) {
	A, PA, FA := uint8(personality.ACK), uint8(personality.PSH|personality.ACK), uint8(personality.FIN|personality.ACK)
	for _, tc := range []struct {
		name      string
		run       func(e *lifeEnv, isn uint32)
		end       string
		in, out   uint64
		proto     string
		maxConns  int
		wantConns int // connections still in the table at the end
	}{
		{name: "client FIN", end: event.EndFIN, in: 7, out: 7, proto: "line", run: func(e *lifeEnv, isn uint32) {
			e.handle(tcpFrame(t, false, A, 1001, isn+1, "", nil))
			e.handle(tcpFrame(t, false, PA, 1001, isn+1, "PING x\n", nil))
			out := e.handle(tcpFrame(t, false, FA, 1008, isn+8, "", nil))
			if len(out) != 1 || flagsOf(tcpOf(t, out[0])) != FA {
				t.Errorf("no FIN-ACK to the client's FIN")
			}
			e.handle(tcpFrame(t, false, A, 1009, isn+9, "", nil))
		}},
		{name: "server close", end: event.EndClose, in: 12, out: 11, proto: "line", run: func(e *lifeEnv, isn uint32) {
			out := e.handle(tcpFrame(t, false, PA, 1001, isn+1, "PING a\nQUIT\n", nil))
			if len(out) != 1 || flagsOf(tcpOf(t, out[0]))&personality.FIN == 0 {
				t.Fatalf("QUIT: no FIN")
			}
			if len(e.ends()) != 0 {
				t.Errorf("ended before the client's FIN")
			}
			e.handle(tcpFrame(t, false, FA, 1013, isn+13, "", nil))
		}},
		{name: "RST", end: event.EndRST, in: 7, out: 7, proto: "line", run: func(e *lifeEnv, isn uint32) {
			e.handle(tcpFrame(t, false, PA, 1001, isn+1, "PING x\n", nil))
			e.handle(tcpFrame(t, false, personality.RST, 1008, 0, "", nil))
		}},
		{name: "idle", end: event.EndIdle, in: 3, run: func(e *lifeEnv, isn uint32) {
			e.handle(tcpFrame(t, false, PA, 1001, isn+1, "PIN", nil))
			if out := e.tick(59 * time.Second); len(out) != 0 || len(e.ends()) != 0 {
				t.Errorf("ended before the idle timeout")
			}
			out := e.tick(60 * time.Second)
			if len(out) != 1 || flagsOf(tcpOf(t, out[0])) != FA {
				t.Errorf("idle: want our FIN-ACK, got %d frames", len(out))
			}
		}, wantConns: 1},
		{name: "lingering removed", end: event.EndIdle, run: func(e *lifeEnv, isn uint32) {
			e.handle(tcpFrame(t, false, A, 1001, isn+1, "", nil))
			e.tick(60 * time.Second)
			e.tick(60*time.Second + lingerTime)
		}},
		{name: "evicted", end: event.EndEvicted, maxConns: 1, run: func(e *lifeEnv, isn uint32) {
			e.handle(tcpFrame(t, false, A, 1001, isn+1, "", nil))
			// 64 shards of one entry: open connections until one shares
			// the first one's shard
			for port := uint16(2000); len(e.ends()) == 0 && port < 3000; port++ {
				syn := tcpFrame(t, false, personality.SYN, 5000, 0, "", nil)
				fixPort(syn, port)
				out := e.handle(syn)
				ack := tcpFrame(t, false, A, 5001, tcpOf(t, out[0]).Seq+1, "", nil)
				fixPort(ack, port)
				e.handle(ack)
			}
		}, wantConns: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLifeEnv(t, personality.Linux(), "", func(c *Config) {
				if tc.maxConns > 0 {
					c.Conns = NewConnTable(c.Apps, ConnConfig{MaxConns: tc.maxConns})
				}
			})
			isn := handshake(t, e.testEnv, false)
			tc.run(e, isn)
			ends := e.ends()
			if len(ends) < 1 {
				t.Fatalf("no end event")
			}
			got := ends[0]
			if got.End != tc.end || got.BytesIn != tc.in || got.BytesOut != tc.out || got.Proto != tc.proto {
				t.Errorf("end %+v, want %s in %d out %d proto %q", got, tc.end, tc.in, tc.out, tc.proto)
			}
			if tc.end != event.EndEvicted && len(ends) != 1 {
				t.Errorf("%d end events, want 1: %+v", len(ends), ends)
			}
			if n := e.st.cfg.Conns.Stats().Conns; tc.wantConns >= 0 && tc.end != event.EndIdle && n != 0 && tc.name != "client FIN" && tc.name != "server close" {
				t.Errorf("%d connections left", n)
			}
		})
	}
}

// fixPort rewrites the client port of an IPv4 TCP test frame (and fixes
// its checksum).
func fixPort(f []byte, port uint16) {
	f[14+20], f[14+21] = byte(port>>8), byte(port)
	fixTCPChecksum(f, 14+20)
}

func TestSYNACKRetransmission(t *testing.T) {
	t.Run("linux", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), "")
		out := e.handle(synFrame(t, false, linuxSYNOpts))
		first := tcpOf(t, out[0])
		var at []time.Duration
		for d := 100 * time.Millisecond; d <= 70*time.Second; d += 100 * time.Millisecond {
			for _, f := range e.tick(d) {
				tc := tcpOf(t, f)
				if flagsOf(tc) != personality.SYN|personality.ACK || tc.Seq != first.Seq || tc.Ack != first.Ack {
					t.Fatalf("retransmission differs: %v", tc)
				}
				if !bytes.Equal(tc.Contents[:16], first.Contents[:16]) {
					t.Errorf("header differs")
				}
				at = append(at, d)
			}
		}
		want := []time.Duration{1, 3, 7, 15, 31}
		if len(at) != len(want) {
			t.Fatalf("retransmissions at %v, want %v s", at, want)
		}
		for i := range want {
			if at[i] != want[i]*time.Second {
				t.Errorf("retransmission %d at %v, want %v s", i, at[i], want[i])
			}
		}
		if n := len(e.emitted); n != 5 || e.emitted[0].Reason != event.ReasonRetransmit || e.emitted[0].Reply != "syn-ack" {
			t.Errorf("events %d %+v", n, e.emitted)
		}
	})
	t.Run("ACK stops it", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), "")
		isn := handshake(t, e.testEnv, false)
		e.tick(time.Second)
		e.handle(tcpFrame(t, false, personality.ACK, 1001, isn+1, "", nil))
		for d := 2 * time.Second; d < 40*time.Second; d += time.Second {
			if out := e.tick(d); len(out) != 0 {
				t.Fatalf("SYN-ACK after the ACK at %v", d)
			}
		}
	})
	t.Run("RST stops it", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), "")
		handshake(t, e.testEnv, false)
		e.handle(tcpFrame(t, false, personality.RST, 1001, 0, "", nil))
		if out := e.tick(2 * time.Second); len(out) != 0 {
			t.Fatalf("SYN-ACK after RST")
		}
	})
	t.Run("masscanned", func(t *testing.T) {
		e := newLifeEnv(t, personality.Masscanned(), "")
		handshake(t, e.testEnv, false)
		if out := e.tick(2 * time.Second); len(out) != 0 {
			t.Fatalf("masscanned retransmits")
		}
	})
	t.Run("queue full", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), "", func(c *Config) { c.MaxPending = 1 })
		handshake(t, e.testEnv, false)
		syn := tcpFrame(t, false, personality.SYN, 1000, 0, "", nil)
		fixPort(syn, 999)
		if out := e.handle(syn); len(out) != 1 {
			t.Fatalf("no SYN-ACK with a full queue")
		}
		if out := e.tick(time.Second); len(out) != 1 {
			t.Fatalf("%d retransmissions, want the first connection's only", len(out))
		}
	})
	t.Run("budget", func(t *testing.T) {
		d := &denyAll{}
		e := newLifeEnv(t, personality.Linux(), "")
		handshake(t, e.testEnv, false)
		e.st.cfg.Budget = d
		if out := e.tick(time.Second); len(out) != 0 || d.n != 1 {
			t.Fatalf("retransmission not charged to the budget (%d asked)", d.n)
		}
	})
}

const testProfile = `
[[host]]
addresses = ["192.0.2.1", "2001:db8::1"]
personality = "linux"
tcp = [22, 1000]
udp = [53]
[host.services]
1000 = "ssh"
[host.banners]
ssh = "custom"
`

func udpFrame(t *testing.T, v6 bool, dport uint16, payload string) []byte {
	u := &layers.UDP{SrcPort: 5353, DstPort: layers.UDPPort(dport)}
	if v6 {
		ip := ip6(layers.IPProtocolUDP)
		_ = u.SetNetworkLayerForChecksum(ip)
		return build(t, eth(layers.EthernetTypeIPv6), ip, u, gopacket.Payload(payload))
	}
	ip := ip4(layers.IPProtocolUDP)
	_ = u.SetNetworkLayerForChecksum(ip)
	return build(t, eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(payload))
}

func TestClosedPorts(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newLifeEnv(t, personality.Linux(), testProfile)
		// SYN to a closed port: RST+ACK, seq 0, ack = seq+1, window 0
		syn := tcpFrame(t, v6, personality.SYN, 1000, 0, "", nil)
		out := e.handle(syn) // port 80 in the test frames
		if len(out) != 1 {
			t.Fatalf("v6=%v closed SYN: %d replies", v6, len(out))
		}
		tc := tcpOf(t, out[0])
		if flagsOf(tc) != personality.RST|personality.ACK || tc.Seq != 0 || tc.Ack != 1001 || tc.Window != 0 || len(tc.Options) != 0 {
			t.Errorf("v6=%v closed SYN: %v", v6, tc)
		}
		p := decode(t, out[0])
		verifyL4(t, p)
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok && (ip.Flags&layers.IPv4DontFragment == 0 || ip.Id != 0 || ip.TTL != 64) {
			t.Errorf("RST IPv4 shape: %v", ip)
		}
		// an ACK to a closed port: RST with seq = its ack
		if out := e.handle(tcpFrame(t, v6, personality.ACK, 1001, 777, "", nil)); len(out) != 1 || flagsOf(tcpOf(t, out[0])) != personality.RST || tcpOf(t, out[0]).Seq != 777 {
			t.Errorf("v6=%v closed ACK: %d replies", v6, len(out))
		}
		// FIN (nmap -sF) with data: RST+ACK acknowledging data and FIN
		if out := e.handle(tcpFrame(t, v6, personality.FIN, 1001, 0, "abc", nil)); len(out) != 1 || tcpOf(t, out[0]).Ack != 1005 {
			t.Errorf("v6=%v closed FIN: %d replies", v6, len(out))
		}
		// RST: nothing
		if out := e.handle(tcpFrame(t, v6, personality.RST, 1001, 0, "", nil)); len(out) != 0 {
			t.Errorf("v6=%v RST answered", v6)
		}
		// UDP: closed port unreachable, quoting the datagram
		req := udpFrame(t, v6, 161, "PING u\n")
		out = e.handle(req)
		if len(out) != 1 {
			t.Fatalf("v6=%v closed UDP: %d replies (%q)", v6, len(out), e.ev.Reason)
		}
		p = decode(t, out[0])
		reqIP := gopacket.NewPacket(req, layers.LayerTypeEthernet, gopacket.Default).NetworkLayer()
		reqPkt := append(append([]byte(nil), reqIP.LayerContents()...), reqIP.LayerPayload()...)
		if v6 {
			ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(1, 4) || !bytes.Equal(ic.Payload[4:], reqPkt) {
				t.Errorf("v6 port unreachable: %v", ic)
			}
		} else {
			ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			ip := p.NetworkLayer().(*layers.IPv4)
			if ic == nil || ic.TypeCode != layers.CreateICMPv4TypeCode(3, 3) || !bytes.Equal(ic.Payload, reqPkt) || ip.TOS != 0xc0 {
				t.Errorf("v4 port unreachable: %v %v", ic, ip)
			}
			if csum(p.NetworkLayer().LayerPayload()) != 0 {
				t.Errorf("bad ICMP checksum")
			}
		}
		if e.ev.Reply != "port-unreachable" || e.ev.Reason != event.ReasonClosedPort {
			t.Errorf("event %q %q", e.ev.Reply, e.ev.Reason)
		}
		// an open UDP port: no ICMP (no app answers here)
		if out := e.handle(udpFrame(t, v6, 53, "x")); len(out) != 0 {
			t.Errorf("v6=%v open UDP port answered %d", v6, len(out))
		}
	}
}

func TestUnreachableRateLimit(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newLifeEnv(t, personality.Linux(), testProfile)
		req := udpFrame(t, v6, 161, "x")
		sent := 0
		for range 100 {
			sent += len(e.handle(req))
		}
		if sent != icmpPeerBurst {
			t.Errorf("v6=%v: %d answered in a burst, want %d", v6, sent, icmpPeerBurst)
		}
		if e.ev.Suppressed != "port-unreachable" || e.ev.Reason != event.ReasonRateLimited {
			t.Errorf("suppressed %q %q", e.ev.Suppressed, e.ev.Reason)
		}
		// then one per interval
		iv := icmpPeerInterval4
		if v6 {
			iv = icmpPeerInterval6
		}
		sent = 0
		for i := 1; i <= 10; i++ {
			sent += len(e.handleMeta(req, Meta{Time: testTime.Add(time.Duration(i) * iv)}))
		}
		if sent != 10 {
			t.Errorf("v6=%v: %d of 10 spaced requests answered", v6, sent)
		}
	}
	// the global limit: 50 at once over many peers
	var b bucket
	n := 0
	for range 200 {
		if b.take(testTime, icmpGlobalInterval, icmpGlobalBurst) {
			n++
		}
	}
	if n != icmpGlobalBurst {
		t.Errorf("global burst %d", n)
	}
}

func TestProtocolUnreachable(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newLifeEnv(t, personality.Linux(), testProfile)
		var f []byte
		if v6 {
			ip := ip6(layers.IPProtocol(132))
			f = build(t, eth(layers.EthernetTypeIPv6), ip, gopacket.Payload("sctp-ish"))
		} else {
			ip := ip4(layers.IPProtocol(132))
			f = build(t, eth(layers.EthernetTypeIPv4), ip, gopacket.Payload("sctp-ish"))
		}
		out := e.handle(f)
		if len(out) != 1 {
			t.Fatalf("v6=%v: %d replies", v6, len(out))
		}
		p := decode(t, out[0])
		if v6 {
			ic := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if ic.TypeCode != layers.CreateICMPv6TypeCode(4, 1) || ic.Payload[3] != 6 {
				t.Errorf("v6: %v % x", ic.TypeCode, ic.Payload[:4])
			}
		} else if ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ic.TypeCode != layers.CreateICMPv4TypeCode(3, 2) {
			t.Errorf("v4: %v", ic.TypeCode)
		}
		// without a profile: dropped, silent
		e2 := newLifeEnv(t, personality.Linux(), "")
		if out := e2.handle(f); len(out) != 0 || e2.ev.Reason != event.ReasonProtoNotHandled {
			t.Errorf("v6=%v unprofiled: %d replies", v6, len(out))
		}
	}
}

func TestGreetings(t *testing.T) {
	A := uint8(personality.ACK)
	t.Run("profile port greets at once", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), testProfile)
		syn := tcpFrame(t, false, personality.SYN, 1000, 0, "", nil)
		setDstPort(syn, 1000)
		isn := tcpOf(t, e.handle(syn)[0]).Seq
		ack := tcpFrame(t, false, A, 1001, isn+1, "", nil)
		setDstPort(ack, 1000)
		out := e.handle(ack)
		if len(out) != 1 || string(tcpOf(t, out[0]).Payload) != "HELLO custom\n" || e.ev.Reply != "greeting" {
			t.Fatalf("greeting: %d frames %q", len(out), e.ev.Reply)
		}
		data := tcpFrame(t, false, personality.PSH|A, 1001, isn+1+13, "hi\n", nil)
		setDstPort(data, 1000)
		if out := e.handle(data); len(out) != 1 || string(tcpOf(t, out[0]).Payload) != "OK\n" {
			t.Fatalf("pinned handler did not answer")
		}
	})
	t.Run("silent client greeted later", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), "")
		syn := tcpFrame(t, false, personality.SYN, 1000, 0, "", nil)
		setDstPort(syn, 22)
		isn := tcpOf(t, e.handle(syn)[0]).Seq
		ack := tcpFrame(t, false, A, 1001, isn+1, "", nil)
		setDstPort(ack, 22)
		if out := e.handle(ack); len(out) != 0 {
			t.Fatalf("greeted at once without a profile")
		}
		if out := e.tick(DefaultGreetAfter - TickInterval); len(out) != 0 {
			t.Fatalf("greeted too early")
		}
		out := e.tick(DefaultGreetAfter)
		if len(out) != 1 || string(tcpOf(t, out[0]).Payload) != "HELLO default\n" {
			t.Fatalf("no greeting after silence: %d", len(out))
		}
		if out := e.tick(DefaultGreetAfter + time.Second); len(out) != 0 {
			t.Fatalf("greeted twice")
		}
	})
	t.Run("talking client not greeted", func(t *testing.T) {
		e := newLifeEnv(t, personality.Linux(), "")
		syn := tcpFrame(t, false, personality.SYN, 1000, 0, "", nil)
		setDstPort(syn, 22)
		isn := tcpOf(t, e.handle(syn)[0]).Seq
		data := tcpFrame(t, false, personality.PSH|A, 1001, isn+1, "PING a\n", nil)
		setDstPort(data, 22)
		e.handle(data)
		if out := e.tick(DefaultGreetAfter * 2); len(out) != 0 {
			t.Fatalf("greeted a client that spoke")
		}
	})
}

// setDstPort rewrites the server port of an IPv4 TCP test frame.
func setDstPort(f []byte, port uint16) {
	f[14+22], f[14+23] = byte(port>>8), byte(port)
	fixTCPChecksum(f, 14+20)
}

// A reset reflects the segment's TOS / traffic class without its ECN bits,
// as Linux's (measured by e2e TestKernelDiffClosed: 0xb9 in, 0xb8 out).
func TestClosedPortRSTReflectsTOS(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newLifeEnv(t, personality.Linux(), testProfile)
		syn := tcpFrame(t, v6, personality.SYN, 1000, 0, "", nil)
		if v6 {
			// version 6, traffic class 0xb9: 0x6b 0x90
			syn[14], syn[15] = 0x6b, 0x90
		} else {
			syn[15] = 0xb9
			binary.BigEndian.PutUint16(syn[24:], 0)
			binary.BigEndian.PutUint16(syn[24:], csum(syn[14:34]))
		}
		out := e.handle(syn)
		if len(out) != 1 {
			t.Fatalf("v6=%v: %d replies", v6, len(out))
		}
		p := decode(t, out[0])
		verifyL4(t, p)
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			if ip.TOS != 0xb8 {
				t.Errorf("RST TOS %#x, want 0xb8", ip.TOS)
			}
		case *layers.IPv6:
			if ip.TrafficClass != 0xb8 || ip.FlowLabel == 0 {
				t.Errorf("RST traffic class %#x flow label %#x, want 0xb8 and nonzero", ip.TrafficClass, ip.FlowLabel)
			}
		}
	}
}

// TestEchoCode: nmap's IE probe (echo request code 9) is answered by
// Linux with the code copied, by Windows with code 0, and not at all by
// upstream.
func TestEchoCode(t *testing.T) {
	f := echo4(t, nil)
	icmp := f[14+20:]
	icmp[1] = 9
	icmp[2], icmp[3] = 0, 0
	c := csum(icmp)
	icmp[2], icmp[3] = byte(c>>8), byte(c)
	for _, tc := range []struct {
		p    *personality.Personality
		code int // -1: no reply
	}{{personality.Linux(), 9}, {personality.Windows(), 0}, {personality.Masscanned(), -1}} {
		e := newEnv(t, tc.p)
		out := e.handle(f)
		switch {
		case tc.code < 0 && len(out) != 0:
			t.Errorf("%s: answered", tc.p.Name)
		case tc.code >= 0 && len(out) != 1:
			t.Errorf("%s: %d replies (%q)", tc.p.Name, len(out), e.ev.Reason)
		case tc.code >= 0:
			r := out[0][14+20:]
			if r[0] != 0 || int(r[1]) != tc.code || csum(r) != 0 {
				t.Errorf("%s: reply type %d code %d", tc.p.Name, r[0], r[1])
			}
		}
	}
}

// TestIPIDPolicies: Linux's echo replies count per destination (+1 back to
// back, a random jump after a pause), Windows counts every packet.
func TestIPIDPolicies(t *testing.T) {
	id := func(f []byte) uint16 { return uint16(f[14+4])<<8 | uint16(f[14+5]) }
	e := newEnv(t, personality.Linux())
	a := id(e.handle(echo4(t, nil))[0])
	b := id(e.handle(echo4(t, nil))[0])
	if b != a+1 {
		t.Errorf("linux back-to-back echo IDs %d, %d", a, b)
	}
	later := 0
	for i := range 20 {
		c := id(e.handleMeta(echo4(t, nil), Meta{Time: testTime.Add(time.Duration(i+1) * time.Second)})[0])
		if c != b+1 {
			later++
		}
		b = c
	}
	if later == 0 {
		t.Errorf("linux IDs never jump after a pause")
	}
	w := newEnv(t, personality.Windows())
	x := id(w.handle(echo4(t, nil))[0])
	y := id(w.handle(synFrame(t, false, linuxSYNOpts))[0])
	z := id(w.handle(echo4(t, nil))[0])
	if y != x+1 || z != y+1 {
		t.Errorf("windows IDs %d %d %d", x, y, z)
	}
}
