package stack

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/personality"
)

// SYN options, one of each kind a SYN-ACK layout depends on.
var (
	optMSS  = layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
	optSACK = layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
	optTS   = layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x30, 0x39, 0, 0, 0, 0}}
	optNOP  = layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	optWS   = layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}}
)

// synOffer builds a SYN's options offering what offer names (MSS always).
func synOffer(offer personality.Offer) []layers.TCPOption {
	o := []layers.TCPOption{optMSS}
	if offer&personality.OfferSACK != 0 {
		o = append(o, optSACK)
	}
	if offer&personality.OfferTS != 0 {
		o = append(o, optTS)
	}
	if offer&personality.OfferWS != 0 {
		o = append(o, optNOP, optWS)
	}
	return o
}

// maskTSVal walks a SYN-ACK's options and replaces our timestamp value
// (a clock plus a per-connection offset) by ff ff ff ff.
func maskTSVal(o []byte) {
	for len(o) > 0 {
		switch {
		case o[0] <= 1:
			o = o[1:]
		case len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o):
			return
		default:
			if o[0] == 8 && o[1] == 10 {
				copy(o[2:6], []byte{0xff, 0xff, 0xff, 0xff})
			}
			o = o[o[1]:]
		}
	}
}

// Option bytes used in the expectations below (our timestamp masked, the
// client's 12345 echoed).
var (
	mss4   = []byte{2, 4, 0x05, 0xb4}
	mss6   = []byte{2, 4, 0x05, 0xa0}
	nopWS7 = []byte{1, 3, 3, 7}
	nopWS8 = []byte{1, 3, 3, 8}
	sackTS = []byte{4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x30, 0x39}
	nnTS   = []byte{1, 1, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x30, 0x39}
	nnSACK = []byte{1, 1, 4, 2}
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestSYNACKLayouts checks the SYN-ACK bytes (IP TTL / hop limit, DF,
// window, options and their order) of the windows and linux personalities
// for SYNs offering every combination of window scale, SACK and
// timestamps, over IPv4 and IPv6. Windows' layouts are p0f's
// "Windows:7 or 8" [tcp:response] sigs (mss,nop,ws,sok,ts and the rest);
// Linux's are its "Linux:3.x" sigs, the bytes the stack always sent.
func TestSYNACKLayouts(t *testing.T) {
	const (
		WS   = personality.OfferWS
		SACK = personality.OfferSACK
		TS   = personality.OfferTS
	)
	type want struct {
		win  uint16
		opts []byte // after the MSS option
	}
	tests := []struct {
		p       *personality.Personality
		ttl     uint8
		mss     [2][]byte // IPv4, IPv6
		byOffer map[personality.Offer][2]want
	}{
		{personality.Windows(), 128, [2][]byte{mss4, mss6}, map[personality.Offer][2]want{
			0:              {{8192, nil}, {8192, nil}},
			WS:             {{8192, nopWS8}, {8192, nopWS8}},
			SACK:           {{8192, nnSACK}, {8192, nnSACK}},
			TS:             {{8192, nnTS}, {8192, nnTS}},
			SACK | TS:      {{8192, sackTS}, {8192, sackTS}},
			WS | SACK:      {{8192, cat(nopWS8, nnSACK)}, {8192, cat(nopWS8, nnSACK)}},
			WS | TS:        {{8192, cat(nopWS8, nnTS)}, {8192, cat(nopWS8, nnTS)}},
			WS | SACK | TS: {{8192, cat(nopWS8, sackTS)}, {8192, cat(nopWS8, sackTS)}},
		}},
		// Linux: window 44 * 1460 (64240) or 45 * 1448 with timestamps
		// (65160); IPv6 45 * 1440 (64800) or 45 * 1428 (64260).
		{personality.Linux(), 64, [2][]byte{mss4, mss6}, map[personality.Offer][2]want{
			0:              {{64240, nil}, {64800, nil}},
			WS:             {{64240, nopWS7}, {64800, nopWS7}},
			SACK:           {{64240, nnSACK}, {64800, nnSACK}},
			TS:             {{65160, nnTS}, {64260, nnTS}},
			SACK | TS:      {{65160, sackTS}, {64260, sackTS}},
			WS | SACK:      {{64240, cat(nnSACK, nopWS7)}, {64800, cat(nnSACK, nopWS7)}},
			WS | TS:        {{65160, cat(nnTS, nopWS7)}, {64260, cat(nnTS, nopWS7)}},
			WS | SACK | TS: {{65160, cat(sackTS, nopWS7)}, {64260, cat(sackTS, nopWS7)}},
		}},
	}
	for _, tc := range tests {
		e := newEnv(t, tc.p)
		ids := map[uint16]bool{}
		for offer, ws := range tc.byOffer {
			for i, v6 := range []bool{false, true} {
				out := e.handle(synFrame(t, v6, synOffer(offer)))
				if len(out) != 1 {
					t.Fatalf("%s offer %03b v6 %v: %d replies (%q)", tc.p.Name, offer, v6, len(out), e.ev.Reason)
				}
				p := decode(t, out[0])
				seg := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				w := ws[i]
				if flagsOf(seg) != personality.SYN|personality.ACK || seg.Ack != 1001 || seg.Window != w.win {
					t.Errorf("%s offer %03b v6 %v: flags %#x ack %d window %d, want window %d",
						tc.p.Name, offer, v6, flagsOf(seg), seg.Ack, seg.Window, w.win)
				}
				raw := append([]byte(nil), seg.Contents[20:]...)
				maskTSVal(raw)
				if wantRaw := cat(tc.mss[i], w.opts); !bytes.Equal(raw, wantRaw) {
					t.Errorf("%s offer %03b v6 %v: options % x, want % x", tc.p.Name, offer, v6, raw, wantRaw)
				}
				if v6 {
					ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
					if ip.HopLimit != tc.ttl {
						t.Errorf("%s offer %03b: hop limit %d", tc.p.Name, offer, ip.HopLimit)
					}
					continue
				}
				ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if ip.TTL != tc.ttl || ip.Flags != layers.IPv4DontFragment {
					t.Errorf("%s offer %03b: TTL %d flags %v", tc.p.Name, offer, ip.TTL, ip.Flags)
				}
				ids[ip.Id] = true
			}
		}
		// Linux: ID 0 with DF; Windows: a non-zero ID with DF (p0f's id+)
		if tc.p.Name == "linux" && (len(ids) != 1 || !ids[0]) {
			t.Errorf("linux: IP IDs %v, want 0", ids)
		}
		if tc.p.Name == "windows" && (len(ids) < 2 || ids[0]) {
			t.Errorf("windows: IP IDs %v, want random", ids)
		}
	}
}

// TestWindowsSYNACKRaw checks one whole Windows SYN-ACK header byte by
// byte: a Linux client's SYN (mss, sok, ts, nop, ws) gets p0f's
// "4:128+0:0:1460:8192,8:mss,nop,ws,sok,ts:df,id+:0".
func TestWindowsSYNACKRaw(t *testing.T) {
	e := newEnv(t, personality.Windows())
	out := e.handle(synFrame(t, false, linuxSYNOpts))
	if len(out) != 1 {
		t.Fatalf("%d replies (%q)", len(out), e.ev.Reason)
	}
	ip := out[0][14:]
	if ip[0] != 0x45 || ip[6] != 0x40 || ip[7] != 0 || ip[8] != 128 || ip[9] != 6 {
		t.Errorf("IPv4 header % x", ip[:20])
	}
	if binary.BigEndian.Uint16(ip[2:]) != 20+20+20 {
		t.Errorf("IPv4 length %d", binary.BigEndian.Uint16(ip[2:]))
	}
	tcp := ip[20:]
	if tcp[12] != 10<<4 || tcp[13] != 0x12 || binary.BigEndian.Uint16(tcp[14:]) != 8192 || tcp[18] != 0 || tcp[19] != 0 {
		t.Errorf("TCP header % x", tcp[:20])
	}
	o := append([]byte(nil), tcp[20:40]...)
	maskTSVal(o)
	if want := cat(mss4, nopWS8, sackTS); !bytes.Equal(o, want) {
		t.Errorf("options % x, want % x", o, want)
	}
}

// TestWindowsECNAndData: Windows answers an ECN-setup SYN with ECE (nmap's
// ECN line: CC=Y, O=M5B4NW8NNS for its SYN without timestamps), and the
// connection's data segments carry timestamps and the 8192 window.
func TestWindowsECNAndData(t *testing.T) {
	e := newEnv(t, personality.Windows(), withLineApp)
	ecn := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{10}}, optNOP, optMSS, optSACK, optNOP, optNOP,
	}
	out := e.handle(tcpFrame(t, false, personality.SYN|personality.ECE|personality.CWR, 1000, 0, "", ecn))
	if len(out) != 1 {
		t.Fatalf("ECN SYN: %d replies", len(out))
	}
	seg := tcpOf(t, out[0])
	if flagsOf(seg) != personality.SYN|personality.ACK|personality.ECE {
		t.Errorf("ECN SYN: flags %#x", flagsOf(seg))
	}
	if want := cat(mss4, nopWS8, nnSACK); !bytes.Equal(seg.Contents[20:], want) {
		t.Errorf("ECN SYN: options % x, want % x", seg.Contents[20:], want)
	}

	out = e.handle(synFrame(t, false, linuxSYNOpts))
	isn := tcpOf(t, out[0]).Seq
	ts := []layers.TCPOption{optNOP, optNOP,
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 42, 0, 0, 0, 1}}}
	out = e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "PING t\n", ts))
	if len(out) != 1 {
		t.Fatalf("data: %d replies (%q)", len(out), e.ev.Reason)
	}
	seg = tcpOf(t, out[0])
	o := seg.Contents[20:]
	if len(o) != 12 || o[2] != 8 || binary.BigEndian.Uint32(o[8:]) != 42 || seg.Window != 8192 {
		t.Errorf("data: options % x window %d", o, seg.Window)
	}
}
