package stack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

// lineApp answers every "PING <x>\n" line with "PONG <x>\n"; a line that is
// not a PING is invalid. It stands in for real protocols.
type lineApp struct{}

func (lineApp) Name() string { return "line" }
func (lineApp) Detect(b []byte, _ app.Transport) app.Verdict {
	const p = "PING "
	n := min(len(b), len(p))
	if string(b[:n]) != p[:n] {
		return app.No
	}
	if n < len(p) {
		return app.Maybe
	}
	return app.Yes
}
func (lineApp) Serve(c *app.Conn, b []byte) app.Result {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return app.Result{NeedMore: true}
	}
	if string(b[:i]) == "QUIT" {
		return app.Result{Consumed: i + 1, Reply: []byte("BYE\n"), Close: true}
	}
	if !bytes.HasPrefix(b, []byte("PING ")) {
		return app.Result{}
	}
	return app.Result{Consumed: i + 1, Reply: append([]byte("PONG "), b[5:i+1]...),
		Fields: []event.Field{{Key: "arg", Value: string(b[5:i])}}}
}

func withLineApp(c *Config) {
	c.Apps.Register(lineApp{}, true, "test")
}

// tcpFrame builds a TCP segment from the client with the given flags.
func tcpFrame(t testing.TB, v6 bool, flags uint8, seq, ack uint32, payload string, opts []layers.TCPOption) []byte {
	var nl gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	if v6 {
		ip := ip6(layers.IPProtocolTCP)
		nl, netl, et = ip, ip, layers.EthernetTypeIPv6
	} else {
		ip := ip4(layers.IPProtocolTCP)
		nl, netl = ip, ip
	}
	tc := tcpSeg(netl, 40000, 80, seq, ack)
	tc.FIN, tc.SYN, tc.RST, tc.PSH = flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
	tc.ACK, tc.URG, tc.ECE, tc.CWR = flags&16 != 0, flags&32 != 0, flags&64 != 0, flags&128 != 0
	tc.Options = opts
	return build(t, eth(et), nl, tc, gopacket.Payload(payload))
}

func tcpOf(t testing.TB, b []byte) *layers.TCP {
	t.Helper()
	p := decode(t, b)
	tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("no TCP in reply")
	}
	return tc
}

func flagsOf(tc *layers.TCP) uint8 {
	var f uint8
	for i, b := range []bool{tc.FIN, tc.SYN, tc.RST, tc.PSH, tc.ACK, tc.URG, tc.ECE, tc.CWR} {
		if b {
			f |= 1 << i
		}
	}
	return f
}

var linuxSYNOpts = []layers.TCPOption{
	{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
	{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
	{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x30, 0x39, 0, 0, 0, 0}},
	{OptionType: layers.TCPOptionKindNop},
	{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
}

func TestSYNACKShape(t *testing.T) {
	tests := []struct {
		name string
		p    *personality.Personality
		v6   bool
		opts []layers.TCPOption
		win  uint16
		raw  []byte // expected options bytes (timestamps value masked)
	}{
		{"linux full", personality.Linux(), false, linuxSYNOpts, 65160,
			[]byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x30, 0x39, 1, 3, 3, 7}},
		{"linux v6", personality.Linux(), true, linuxSYNOpts, 64260,
			[]byte{2, 4, 0x05, 0xa0, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x30, 0x39, 1, 3, 3, 7}},
		{"linux no options", personality.Linux(), false, nil, 64240, []byte{2, 4, 0x05, 0xb4}},
		{"linux v6 no options", personality.Linux(), true, nil, 64800, []byte{2, 4, 0x05, 0xa0}},
		{"linux sack only", personality.Linux(), false, []layers.TCPOption{{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}}, 64240,
			[]byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}},
		{"linux ts without sack", personality.Linux(), false, []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 9, 0, 0, 0, 0}}}, 65160,
			[]byte{2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9}},
		{"masscanned", personality.Masscanned(), false, linuxSYNOpts, 65535, nil},
	}
	for _, tc := range tests {
		e := newEnv(t, tc.p)
		out := e.handle(synFrame(t, tc.v6, tc.opts))
		if len(out) != 1 {
			t.Fatalf("%s: %d replies (%q)", tc.name, len(out), e.ev.Reason)
		}
		p := decode(t, out[0])
		seg := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if flagsOf(seg) != personality.SYN|personality.ACK || seg.Ack != 1001 || seg.Window != tc.win ||
			seg.SrcPort != 80 || seg.DstPort != 40000 {
			t.Errorf("%s: flags %#x ack %d win %d", tc.name, flagsOf(seg), seg.Ack, seg.Window)
		}
		raw := seg.Contents[20:]
		if len(raw) >= 12 && raw[6] == 8 {
			copy(raw[8:12], []byte{0xff, 0xff, 0xff, 0xff})
		}
		if !bytes.Equal(raw, tc.raw) {
			t.Errorf("%s: options % x, want % x", tc.name, raw, tc.raw)
		}
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			if ip.Id != 0 || ip.Flags != layers.IPv4DontFragment || ip.TTL != 64 {
				t.Errorf("%s: IP id %d flags %v ttl %d", tc.name, ip.Id, ip.Flags, ip.TTL)
			}
		}
		if e.ev.Reply != "syn-ack" || e.ev.Verdict != event.Answered {
			t.Errorf("%s: event %+v", tc.name, e.ev)
		}
	}
}

// TestFlagTable sends every one of the 256 flag combinations (no payload,
// ack 0) and checks which open a connection, per personality.
func TestFlagTable(t *testing.T) {
	for _, p := range []*personality.Personality{personality.Linux(), personality.Masscanned()} {
		e := newEnv(t, p)
		opened := 0
		for f := 0; f < 256; f++ {
			out := e.handle(tcpFrame(t, false, uint8(f), 1000, 0, "", nil))
			var want bool
			syn, ack, rst, fin := f&2 != 0, f&16 != 0, f&4 != 0, f&1 != 0
			if p.Name == "linux" {
				want = syn && !ack && !rst && !fin
			} else {
				want = syn && f&^(2|8|32|64|128) == 0 && f&0xc0 != 0xc0
			}
			if want {
				opened++
				if len(out) != 1 {
					t.Errorf("%s flags %#02x: no SYN-ACK (%q)", p.Name, f, e.ev.Reason)
					continue
				}
				seg := tcpOf(t, out[0])
				wantFlags := uint8(personality.SYN | personality.ACK)
				if p.EchoECN && f&0xc0 == 0xc0 {
					wantFlags |= personality.ECE
				}
				if flagsOf(seg) != wantFlags {
					t.Errorf("%s flags %#02x: reply flags %#02x", p.Name, f, flagsOf(seg))
				}
			} else if len(out) != 0 {
				t.Errorf("%s flags %#02x: unexpected reply (flags %#02x)", p.Name, f, flagsOf(tcpOf(t, out[0])))
			}
		}
		wantOpened := map[string]int{"linux": 16, "masscanned": 12}[p.Name]
		if opened != wantOpened {
			t.Errorf("%s: %d combinations open, want %d", p.Name, opened, wantOpened)
		}
	}
	// upstream's named cases (spec §9.2 test_tcp_syn_with_flags)
	e := newEnv(t, personality.Masscanned())
	for name, f := range map[string]uint8{"SA": 0x12, "SR": 0x06, "SF": 0x03, "SPUCE": 0xea} {
		if out := e.handle(tcpFrame(t, false, f, 1, 0, "", nil)); len(out) != 0 {
			t.Errorf("masscanned %s answered", name)
		}
	}
	for name, f := range map[string]uint8{"SP": 0x0a, "SU": 0x22, "SC": 0x82, "SE": 0x42, "SPU": 0x2a, "SPC": 0x8a, "SPE": 0x4a, "SPUC": 0xaa, "SPUE": 0x6a} {
		if out := e.handle(tcpFrame(t, false, f, 1, 0, "", nil)); len(out) != 1 {
			t.Errorf("masscanned %s not answered", name)
		}
	}
}

// handshake returns our ISN for the default client 4-tuple.
func handshake(t *testing.T, e *testEnv, v6 bool) uint32 {
	t.Helper()
	out := e.handle(tcpFrame(t, v6, personality.SYN, 1000, 0, "", nil))
	if len(out) != 1 {
		t.Fatalf("no SYN-ACK (%q)", e.ev.Reason)
	}
	return tcpOf(t, out[0]).Seq
}

func TestTCPDataPath(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newEnv(t, personality.Linux(), withLineApp)
		isn := handshake(t, e, v6)
		A, PA, FA := uint8(personality.ACK), uint8(personality.PSH|personality.ACK), uint8(personality.FIN|personality.ACK)

		// the handshake's ACK: valid, silent
		if out := e.handle(tcpFrame(t, v6, A, 1001, isn+1, "", nil)); len(out) != 0 || e.ev.Verdict == event.Dropped {
			t.Errorf("handshake ack: %d replies, %v %q", len(out), e.ev.Verdict, e.ev.Reason)
		}
		// a wrong ACK number: bad cookie
		if out := e.handle(tcpFrame(t, v6, A, 1001, isn+7, "", nil)); len(out) != 0 || e.ev.Reason != event.ReasonBadCookie {
			t.Errorf("bad ack: %d replies, %q", len(out), e.ev.Reason)
		}
		// data with a wrong ACK: no state is created, dropped
		if out := e.handle(tcpFrame(t, v6, PA, 1001, 12345, "PING x\n", nil)); len(out) != 0 || e.ev.Reason != event.ReasonBadCookie {
			t.Errorf("data bad cookie: %d replies, %q", len(out), e.ev.Reason)
		}
		// a request split in three segments, the verb itself split; data
		// without PSH is accepted too
		seq := uint32(1001)
		parts := []string{"PI", "NG hel", "lo\n"}
		for i, part := range parts {
			flags := A
			if i == len(parts)-1 {
				flags = PA
			}
			out := e.handle(tcpFrame(t, v6, flags, seq, isn+1, part, nil))
			seq += uint32(len(part))
			if len(out) != 1 {
				t.Fatalf("part %d: %d replies (%q)", i, len(out), e.ev.Reason)
			}
			seg := tcpOf(t, out[0])
			if seg.Ack != seq || seg.Seq != isn+1 {
				t.Errorf("part %d: seq %d ack %d, want %d %d", i, seg.Seq, seg.Ack, isn+1, seq)
			}
			if i < len(parts)-1 {
				if flagsOf(seg) != A || len(seg.Payload) != 0 {
					t.Errorf("part %d: flags %#x payload %q", i, flagsOf(seg), seg.Payload)
				}
				continue
			}
			if flagsOf(seg) != PA || string(seg.Payload) != "PONG hello\n" {
				t.Errorf("answer: flags %#x payload %q", flagsOf(seg), seg.Payload)
			}
			if e.ev.App == nil || e.ev.App.Proto != "line" || len(e.ev.App.Fields) != 1 || e.ev.App.Fields[0].Value != "hello" || e.ev.Reply != "data" {
				t.Errorf("event app %+v reply %q", e.ev.App, e.ev.Reply)
			}
		}
		sent := uint32(len("PONG hello\n"))
		// two pipelined requests in one segment; the client acks our data
		out := e.handle(tcpFrame(t, v6, PA, seq, isn+1+sent, "PING a\nPING b\n", nil))
		if len(out) != 1 || string(tcpOf(t, out[0]).Payload) != "PONG a\nPONG b\n" || tcpOf(t, out[0]).Seq != isn+1+sent {
			t.Fatalf("pipelined: %d replies", len(out))
		}
		seq += 14
		sent += 14
		// a retransmission is not handed to the application again
		out = e.handle(tcpFrame(t, v6, PA, seq-14, isn+1+sent, "PING a\nPING b\n", nil))
		if len(out) != 1 || len(tcpOf(t, out[0]).Payload) != 0 || tcpOf(t, out[0]).Ack != seq || e.ev.Reason != event.ReasonTCPOutOfWindow {
			t.Errorf("retransmission: %d replies %q", len(out), e.ev.Reason)
		}
		// a gap: duplicate ACK
		out = e.handle(tcpFrame(t, v6, PA, seq+100, isn+1+sent, "PING z\n", nil))
		if len(out) != 1 || tcpOf(t, out[0]).Ack != seq {
			t.Errorf("gap: %d replies", len(out))
		}
		// data the client has not acknowledged yet: our FIN still comes
		// after it in sequence space
		out = e.handle(tcpFrame(t, v6, PA, seq, isn+1+sent, "PING c\n", nil))
		if len(out) != 1 || tcpOf(t, out[0]).Seq != isn+1+sent {
			t.Fatalf("before fin: %d replies", len(out))
		}
		seq += 7
		// FIN acknowledging only older data: FIN-ACK acknowledging the FIN,
		// from our own sequence number
		out = e.handle(tcpFrame(t, v6, FA, seq, isn+1+sent, "", nil))
		sent += 7
		if len(out) != 1 || flagsOf(tcpOf(t, out[0])) != FA || tcpOf(t, out[0]).Ack != seq+1 || tcpOf(t, out[0]).Seq != isn+1+sent {
			t.Errorf("fin: %d replies (%q)", len(out), e.ev.Reason)
		}
		// the client's last ACK covers our FIN
		if out := e.handle(tcpFrame(t, v6, A, seq+1, isn+1+sent+1, "", nil)); len(out) != 0 || e.ev.Verdict == event.Dropped {
			t.Errorf("last ack: %d replies %q", len(out), e.ev.Reason)
		}
		// a retransmitted FIN gets an ACK
		if out := e.handle(tcpFrame(t, v6, FA, seq, isn+1+sent+1, "", nil)); len(out) != 1 || tcpOf(t, out[0]).Ack != seq+1 {
			t.Errorf("retransmitted fin: %d replies %q", len(out), e.ev.Reason)
		}
		// FIN with a bad ACK: ignored
		if out := e.handle(tcpFrame(t, v6, FA, 5000, 77, "", nil)); len(out) != 0 || e.ev.Reason != event.ReasonBadCookie {
			t.Errorf("spoofed fin: %d replies %q", len(out), e.ev.Reason)
		}
		// RST: ignored
		if out := e.handle(tcpFrame(t, v6, personality.RST, 1, 0, "", nil)); len(out) != 0 || e.ev.Reason != event.ReasonTCPRST {
			t.Errorf("rst: %d replies %q", len(out), e.ev.Reason)
		}
	}
}

// TestTCPReusedTuple: a new connection on the same 4-tuple within one
// cookie period (so with the same ISN) starts from a clean state.
func TestTCPReusedTuple(t *testing.T) {
	e := newEnv(t, personality.Linux(), withLineApp)
	isn := handshake(t, e, false)
	if out := e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "PING one\n", nil)); len(out) != 1 {
		t.Fatal("first connection not answered")
	}
	out := e.handle(tcpFrame(t, false, personality.SYN, 90000, 0, "", nil))
	if len(out) != 1 || tcpOf(t, out[0]).Seq != isn {
		t.Fatalf("second SYN: %d replies", len(out))
	}
	out = e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 90001, isn+1, "PING two\n", nil))
	if len(out) != 1 || string(tcpOf(t, out[0]).Payload) != "PONG two\n" || tcpOf(t, out[0]).Ack != 90010 {
		t.Errorf("second connection: %d replies %q", len(out), e.ev.Reason)
	}
}

func TestTCPUnknownProtocolAndEmptyPush(t *testing.T) {
	// masscanned personality: an empty PSH-ACK with a valid cookie gets an
	// ACK (upstream test_ipv4_tcp_psh_ack); linux stays silent.
	for _, p := range []*personality.Personality{personality.Masscanned(), personality.Linux()} {
		e := newEnv(t, p, withLineApp)
		isn := handshake(t, e, false)
		out := e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "", nil))
		want := 0
		if p.AckEmptyPush {
			want = 1
		}
		if len(out) != want {
			t.Errorf("%s empty push: %d replies", p.Name, len(out))
		}
		if want == 1 && flagsOf(tcpOf(t, out[0])) != personality.ACK {
			t.Errorf("%s: reply flags %#x", p.Name, flagsOf(tcpOf(t, out[0])))
		}
		// unrecognised data: ACK only, never classified later
		out = e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "hello\n", nil))
		if len(out) != 1 || len(tcpOf(t, out[0]).Payload) != 0 || tcpOf(t, out[0]).Ack != 1007 {
			t.Errorf("%s unknown: %d replies", p.Name, len(out))
		}
		out = e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1007, isn+1, "PING x\n", nil))
		if len(out) != 1 || len(tcpOf(t, out[0]).Payload) != 0 {
			t.Errorf("%s: dead connection answered", p.Name)
		}
	}
}

// TestTCPApplicationClose: a handler closing after its reply sends our
// FIN with the data; the peer's FIN then only needs an ACK.
func TestTCPApplicationClose(t *testing.T) {
	e := newEnv(t, personality.Linux(), withLineApp)
	isn := handshake(t, e, false)
	out := e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "PING q\nQUIT\n", nil))
	if len(out) != 1 {
		t.Fatalf("%d replies", len(out))
	}
	seg := tcpOf(t, out[0])
	if flagsOf(seg) != personality.FIN|personality.PSH|personality.ACK || string(seg.Payload) != "PONG q\nBYE\n" || e.ev.Reply != "data" {
		t.Errorf("close: flags %#x payload %q reply %q", flagsOf(seg), seg.Payload, e.ev.Reply)
	}
	sent := uint32(len(seg.Payload)) + 1
	out = e.handle(tcpFrame(t, false, personality.FIN|personality.ACK, 1013, isn+1+sent, "", nil))
	if len(out) != 1 || flagsOf(tcpOf(t, out[0])) != personality.ACK || tcpOf(t, out[0]).Ack != 1014 || tcpOf(t, out[0]).Seq != isn+1+sent {
		t.Errorf("peer fin after ours: %d replies", len(out))
	}
}

func TestTCPTimestampsOnData(t *testing.T) {
	e := newEnv(t, personality.Linux(), withLineApp)
	isn := handshake(t, e, false)
	ts := []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 42, 0, 0, 0, 1}}}
	out := e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "PING t\n", ts))
	if len(out) != 1 {
		t.Fatal("no reply")
	}
	seg := tcpOf(t, out[0])
	o := seg.Contents[20:]
	if len(o) != 12 || o[0] != 1 || o[1] != 1 || o[2] != 8 || binary.BigEndian.Uint32(o[8:]) != 42 || seg.Window != 509 {
		t.Errorf("timestamps on data: % x window %d", o, seg.Window)
	}
}

func TestTCPSegmentation(t *testing.T) {
	big := strings.Repeat("x", 3000)
	mss := func(v uint16) []layers.TCPOption {
		return []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(v >> 8), byte(v)}}}
	}
	tests := []struct {
		name    string
		p       *personality.Personality
		opts    []layers.TCPOption
		segSize int
	}{
		{"linux, client mss 1460", personality.Linux(), mss(1460), 1460},
		{"linux, client mss 9000", personality.Linux(), mss(9000), 1460},
		{"linux, client mss 1300", personality.Linux(), mss(1300), 1220},
		{"linux, no mss option", personality.Linux(), nil, 536},
		{"masscanned, client mss 1460", personality.Masscanned(), mss(1460), 1460},
	}
	for _, tc := range tests {
		e := newEnv(t, tc.p, withLineApp)
		out := e.handle(tcpFrame(t, false, personality.SYN, 1000, 0, "", tc.opts))
		isn := tcpOf(t, out[0]).Seq
		out = e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "PING "+big+"\n", nil))
		want := (len(big) + 6 + tc.segSize - 1) / tc.segSize
		if len(out) != want {
			t.Fatalf("%s: %d segments, want %d", tc.name, len(out), want)
		}
		var got []byte
		next := isn + 1
		for i, f := range out {
			seg := tcpOf(t, f)
			if seg.Seq != next || len(seg.Payload) > tc.segSize || (i < len(out)-1 && len(seg.Payload) != tc.segSize) {
				t.Errorf("%s segment %d: seq %d len %d", tc.name, i, seg.Seq, len(seg.Payload))
			}
			next += uint32(len(seg.Payload))
			got = append(got, seg.Payload...)
		}
		if string(got) != "PONG "+big+"\n" {
			t.Errorf("%s: reassembled reply differs", tc.name)
		}
	}
}

func TestTCPChecksumAndHeader(t *testing.T) {
	e := newEnv(t, personality.Linux())
	f := synFrame(t, false, nil)
	f[14+20+14] ^= 0x40 // the window (frames are padded to 60 bytes)
	if out := e.handle(f); len(out) != 0 || e.ev.Reason != event.ReasonBadChecksum {
		t.Errorf("bad checksum: %d replies %q", len(out), e.ev.Reason)
	}
	// the kernel's checksum-not-ready frames count as valid
	if out := e.handleMeta(f, Meta{Time: testTime, ChecksumNotReady: true}); len(out) != 1 {
		t.Errorf("checksum not ready: %d replies %q", len(out), e.ev.Reason)
	}
	for _, doff := range []byte{0x40, 0xf0} {
		f := synFrame(t, false, nil)
		f[14+20+12] = doff
		if out := e.handle(f); len(out) != 0 || e.ev.Reason != event.ReasonBadHeader {
			t.Errorf("data offset %#x: %d replies %q", doff, len(out), e.ev.Reason)
		}
	}
	if out := e.handle(synFrame(t, false, nil)[:14+20+19]); len(out) != 0 {
		t.Errorf("truncated TCP answered")
	}
	// options running past the header or zero-length: parsing stops, the
	// SYN is still answered (as Linux does)
	f = synFrame(t, false, []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}})
	f[14+20+20+1] = 0 // zero-length option
	fixTCPChecksum(f, 14+20)
	if out := e.handle(f); len(out) != 1 {
		t.Errorf("zero-length option: %d replies (%q)", len(out), e.ev.Reason)
	}
}

func fixTCPChecksum(f []byte, off int) {
	total := int(f[off-20+2])<<8 | int(f[off-20+3])
	seg := f[off : off-20+total]
	seg[16], seg[17] = 0, 0
	ph := append(append([]byte(nil), f[off-8:off]...), 0, 6, byte(len(seg)>>8), byte(len(seg)))
	c := csum(append(ph, seg...))
	seg[16], seg[17] = byte(c>>8), byte(c)
}

func TestCookieSlots(t *testing.T) {
	e := newEnv(t, personality.Linux())
	isn := handshake(t, e, false)
	later := testTime.Add(CookiePeriod * 1e9)
	if out := e.handleMeta(tcpFrame(t, false, personality.ACK, 1001, isn+1, "", nil), Meta{Time: later}); e.ev.Verdict == event.Dropped || len(out) != 0 {
		t.Errorf("previous slot refused: %q", e.ev.Reason)
	}
	// (a fresh handshake: the ACK above opened a connection, which
	// accepts its ACKs however late)
	e = newEnv(t, personality.Linux())
	isn = handshake(t, e, false)
	muchLater := testTime.Add(3 * CookiePeriod * 1e9)
	if e.handleMeta(tcpFrame(t, false, personality.ACK, 1001, isn+1, "", nil), Meta{Time: muchLater}); e.ev.Reason != event.ReasonBadCookie {
		t.Errorf("expired cookie accepted")
	}
	// another key gives other cookies
	e2 := newEnv(t, personality.Linux(), func(c *Config) { c.CookieKey[0] ^= 1 })
	if isn2 := handshake(t, e2, false); isn2 == isn {
		t.Errorf("cookie does not depend on the key")
	}
}

func TestUDP(t *testing.T) {
	e := newEnv(t, personality.Linux(), withLineApp)
	udp := func(v6 bool, payload string, mod func(*layers.UDP)) []byte {
		u := &layers.UDP{SrcPort: 5353, DstPort: 161}
		if mod != nil {
			mod(u)
		}
		if v6 {
			ip := ip6(layers.IPProtocolUDP)
			_ = u.SetNetworkLayerForChecksum(ip)
			return build(t, eth(layers.EthernetTypeIPv6), ip, u, gopacket.Payload(payload))
		}
		ip := ip4(layers.IPProtocolUDP)
		_ = u.SetNetworkLayerForChecksum(ip)
		return build(t, eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(payload))
	}
	for _, v6 := range []bool{false, true} {
		out := e.handle(udp(v6, "PING u\n", nil))
		if len(out) != 1 {
			t.Fatalf("v6=%v: %d replies (%q)", v6, len(out), e.ev.Reason)
		}
		p := decode(t, out[0])
		u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u.SrcPort != 161 || u.DstPort != 5353 || string(u.Payload) != "PONG u\n" {
			t.Errorf("bad UDP reply %v", u)
		}
		if e.ev.App == nil || e.ev.App.Proto != "line" {
			t.Errorf("no app in event")
		}
	}
	// no application: no reply, no ICMP unreachable
	if out := e.handle(udp(false, "hello", nil)); len(out) != 0 || e.ev.Reason != event.ReasonNoApp || e.ev.Verdict != event.Received {
		t.Errorf("unknown payload: %d replies %v %q", len(out), e.ev.Verdict, e.ev.Reason)
	}
	if out := e.handle(udp(false, "", nil)); len(out) != 0 {
		t.Errorf("empty datagram answered")
	}
	// a reply over the size cap is suppressed (ratio 3: "PING " + 20 bytes -> cap 3x)
	e.st.cfg.UDPMaxRatio = 1
	if out := e.handle(udp(false, "PING \n", nil)); len(out) != 1 {
		t.Errorf("reply within ratio 1 not sent (%q)", e.ev.Reason)
	}
	e.st.cfg.UDPMaxRatio = 3
	lying := udp(false, "PING u\n", nil)
	lying[14+20+4], lying[14+20+5] = 0x10, 0
	if out := e.handle(lying); len(out) != 0 || e.ev.Reason != event.ReasonBadLength {
		t.Errorf("lying length: %d replies %q", len(out), e.ev.Reason)
	}
	short := udp(false, "PING u\n", nil)
	short[14+20+4], short[14+20+5] = 0, 4
	if out := e.handle(short); len(out) != 0 || e.ev.Reason != event.ReasonBadLength {
		t.Errorf("length < 8: %d replies %q", len(out), e.ev.Reason)
	}
	bad := udp(false, "PING u\n", nil)
	bad[14+20+8] ^= 1
	if out := e.handle(bad); len(out) != 0 || e.ev.Reason != event.ReasonBadChecksum {
		t.Errorf("bad checksum: %d replies %q", len(out), e.ev.Reason)
	}
	zero := udp(false, "PING u\n", nil)
	zero[14+20+6], zero[14+20+7] = 0, 0
	if out := e.handle(zero); len(out) != 1 {
		t.Errorf("IPv4 zero checksum refused: %q", e.ev.Reason)
	}
	zero6 := udp(true, "PING u\n", nil)
	zero6[14+40+6], zero6[14+40+7] = 0, 0
	if out := e.handle(zero6); len(out) != 0 || e.ev.Reason != event.ReasonBadChecksum {
		t.Errorf("IPv6 zero checksum accepted")
	}
}

type denyAll struct{ n int }

func (d *denyAll) Allow(_ netip.Addr, _ BudgetClass, _ int, _ time.Time) bool { d.n++; return false }

func TestBudgetSuppresses(t *testing.T) {
	b := &denyAll{}
	e := newEnv(t, personality.Linux(), withLineApp, func(c *Config) { c.Budget = b })
	for _, f := range [][]byte{synFrame(t, false, nil), echo4(t, nil)} {
		if out := e.handle(f); len(out) != 0 || e.ev.Reason != event.ReasonRateLimited || e.ev.Suppressed == "" {
			t.Errorf("budget ignored: %d replies %q", len(out), e.ev.Reason)
		}
	}
	// ARP and ND are never rate limited
	if out := e.handle(arpReq(t, cliIP4, ourIP4, 1)); len(out) != 1 {
		t.Errorf("ARP limited")
	}
	if b.n != 2 {
		t.Errorf("budget consulted %d times, want 2", b.n)
	}
}

// TestCookieStrict: only ack = ISN+1 opens a cookie connection, for every
// MSS index; the neighbours ISN, ISN+2, ISN+3 and ISN-1 are refused,
// with and without data.
func TestCookieStrict(t *testing.T) {
	mss := []uint16{0, 536, 1220, 1440, 1460}
	for _, m := range mss {
		for _, v6 := range []bool{false, true} {
			e := newEnv(t, personality.Linux(), withLineApp)
			var opts []layers.TCPOption
			if m != 0 {
				opts = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(m >> 8), byte(m)}}}
			}
			out := e.handle(tcpFrame(t, v6, personality.SYN, 1000, 0, "", opts))
			if len(out) != 1 {
				t.Fatalf("mss %d: no SYN-ACK", m)
			}
			isn := tcpOf(t, out[0]).Seq
			for _, d := range []uint32{0, 2, 3, 4, ^uint32(0)} { // ack = isn+d
				for _, data := range []string{"", "PING x\n"} {
					fl := uint8(personality.ACK)
					if data != "" {
						fl |= personality.PSH
					}
					if out := e.handle(tcpFrame(t, v6, fl, 1001, isn+d, data, nil)); len(out) != 0 || e.ev.Reason != event.ReasonBadCookie {
						t.Errorf("mss %d v6 %v: ack ISN%+d data %q accepted (%d replies, %q)", m, v6, int32(d), data, len(out), e.ev.Reason)
					}
				}
			}
			if out := e.handle(tcpFrame(t, v6, personality.ACK, 1001, isn+1, "", nil)); e.ev.Verdict == event.Dropped || len(out) != 0 {
				t.Errorf("mss %d v6 %v: ack ISN+1 refused: %q", m, v6, e.ev.Reason)
			}
		}
	}
}
