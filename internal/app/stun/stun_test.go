package stun

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func conn(t app.Transport, pers, client, server string) *app.Conn {
	return apptest.Conn(t, pers, client, server, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
}

// Upstream §9.2 vectors, personality masscanned.
func TestUpstream(t *testing.T) {
	h := New()
	req := unhex("000100002112a442 000000000000000000000000")
	for _, sport := range []uint16{12345, 55555, 80, 43273} {
		for _, dport := range []uint16{80, 800, 8000, 3478} {
			c := conn(app.UDP, "masscanned", netip.AddrPortFrom(netip.MustParseAddr("192.0.0.0"), sport).String(),
				netip.AddrPortFrom(netip.MustParseAddr("192.0.0.1"), dport).String())
			if h.Detect(req, app.UDP) != app.Yes {
				t.Fatal("not detected")
			}
			res := h.Serve(c, req)
			want := unhex("0101 000c 2112a442 000000000000000000000000 0001 0008 0001")
			want = binary.BigEndian.AppendUint16(want, sport)
			want = append(want, 0xc0, 0, 0, 0)
			if !bytes.Equal(res.Reply, want) || c.ReplyPort != 0 || res.Consumed != 20 {
				t.Fatalf("reply %x, want %x (replyport %d)", res.Reply, want, c.ReplyPort)
			}
			c6 := conn(app.UDP, "masscanned", netip.AddrPortFrom(netip.MustParseAddr("2001:41d0::1234:5678"), sport).String(), "[2001:db8::1]:3478")
			res = h.Serve(c6, req)
			want = unhex("0101 0018 2112a442 000000000000000000000000 0001 0014 0002")
			want = binary.BigEndian.AppendUint16(want, sport)
			want = append(want, unhex("200141d0000000000000000012345678")...)
			if !bytes.Equal(res.Reply, want) {
				t.Fatalf("v6 reply %x, want %x", res.Reply, want)
			}
		}
	}
	// change port, RFC 3489 28-byte request
	req = unhex("00010008 03a3b9464dd8eb75e19481474293845c 00030004 00000002")
	for _, dport := range []uint16{80, 800, 8000, 3478, 65534} {
		c := conn(app.UDP, "masscanned", "192.0.0.0:12345", netip.AddrPortFrom(netip.MustParseAddr("192.0.0.1"), dport).String())
		if h.Detect(req, app.UDP) != app.Yes {
			t.Fatal("not detected")
		}
		res := h.Serve(c, req)
		want := unhex("0101 000c 03a3b9464dd8eb75e19481474293845c 0001 0008 0001 3039 c0000000")
		if !bytes.Equal(res.Reply, want) || c.ReplyPort != dport+1 {
			t.Fatalf("reply %x want %x, reply port %d", res.Reply, want, c.ReplyPort)
		}
	}
	// over TCP the port change is ignored
	c := conn(app.TCP, "masscanned", "192.0.0.0:12345", "192.0.0.1:3478")
	if res := h.Serve(c, req); len(res.Reply) == 0 || c.ReplyPort != 0 {
		t.Fatalf("tcp: reply %x port %d", res.Reply, c.ReplyPort)
	}
}

type attr struct {
	typ uint16
	val []byte
}

func parseReply(t *testing.T, b []byte) []attr {
	t.Helper()
	if len(b) < 20 || binary.BigEndian.Uint16(b) != typeSuccess || int(binary.BigEndian.Uint16(b[2:]))+20 != len(b) {
		t.Fatalf("bad reply header %x", b)
	}
	var out []attr
	for off := 20; off < len(b); {
		typ := binary.BigEndian.Uint16(b[off:])
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		out = append(out, attr{typ, b[off+4 : off+4+l]})
		off += 4 + (l+3)&^3
	}
	return out
}

func TestLinux(t *testing.T) {
	h := New()
	tid := unhex("0102030405060708090a0b0c")
	req := append(unhex("00010000 2112a442"), tid...)
	c := conn(app.UDP, "linux", "203.0.113.5:40000", "198.51.100.1:3478")
	res := h.Serve(c, req)
	at := parseReply(t, res.Reply)
	if !bytes.Equal(res.Reply[4:20], req[4:20]) {
		t.Fatal("transaction id not echoed")
	}
	if len(at) != 4 || at[0].typ != attrXORMappedAddress || at[1].typ != attrMappedAddress ||
		at[2].typ != attrResponseOrigin || at[3].typ != attrSoftware {
		t.Fatalf("attrs %v", at)
	}
	x := at[0].val
	port := binary.BigEndian.Uint16(x[2:]) ^ 0x2112
	ip := binary.BigEndian.Uint32(x[4:]) ^ magicCookie
	if x[1] != 1 || port != 40000 || ip != 0xcb007105 {
		t.Fatalf("xor-mapped %x", x)
	}
	if string(at[3].val) != linuxSoftware {
		t.Fatalf("software %q", at[3].val)
	}

	// IPv6 XOR uses cookie + transaction id.
	c = conn(app.UDP, "linux", "[2001:db8::5]:40000", "[2001:db8::1]:3478")
	res = h.Serve(c, req)
	at = parseReply(t, res.Reply)
	x = at[0].val
	var a [16]byte
	copy(a[:], x[4:])
	for i := range a {
		a[i] ^= res.Reply[4+i]
	}
	if netip.AddrFrom16(a) != netip.MustParseAddr("2001:db8::5") || x[1] != 2 {
		t.Fatalf("xor-mapped v6 %x", x)
	}

	// MaxReply 3x a 20-byte request: XOR-MAPPED-ADDRESS only.
	for _, cl := range []string{"203.0.113.5:40000", "[2001:db8::5]:40000"} {
		c = conn(app.UDP, "linux", cl, "198.51.100.1:3478")
		c.MaxReply = 60
		res = h.Serve(c, req)
		at = parseReply(t, res.Reply)
		if len(res.Reply) > 60 || len(at) != 1 || at[0].typ != attrXORMappedAddress {
			t.Fatalf("capped reply %x", res.Reply)
		}
	}

	// FINGERPRINT echoed when the client used it, and valid.
	sw := []byte("pion/stun")
	body := binary.BigEndian.AppendUint16(nil, attrSoftware)
	body = binary.BigEndian.AppendUint16(body, uint16(len(sw)))
	body = append(body, sw...)
	body = append(body, 0, 0, 0)
	body = append(body, 0x80, 0x28, 0, 4, 1, 2, 3, 4)
	req2 := append(unhex("0001"), byte(len(body)>>8), byte(len(body)))
	req2 = append(req2, unhex("2112a442")...)
	req2 = append(req2, tid...)
	req2 = append(req2, body...)
	if h.Detect(req2, app.UDP) != app.Yes {
		t.Fatal("RFC 5389 request with attributes not detected")
	}
	c = conn(app.UDP, "linux", "203.0.113.5:40000", "198.51.100.1:3478")
	res = h.Serve(c, req2)
	at = parseReply(t, res.Reply)
	last := at[len(at)-1]
	if last.typ != attrFingerprint {
		t.Fatalf("no fingerprint: %v", at)
	}
	crc := crc32.ChecksumIEEE(res.Reply[:len(res.Reply)-8]) ^ fingerprintX
	if binary.BigEndian.Uint32(last.val) != crc {
		t.Fatal("bad fingerprint")
	}
	got := map[string]any{}
	for _, f := range res.Fields {
		got[f.Key] = f.Value
	}
	if got["rfc"] != "5389" || got["software"] != "pion/stun" || got["transaction_id"] != "0102030405060708090a0b0c" {
		t.Fatalf("fields %v", res.Fields)
	}
	if a, _ := got["attributes"].([]string); strings.Join(a, ",") != "SOFTWARE,FINGERPRINT" {
		t.Fatalf("attributes %v", got["attributes"])
	}

	// RFC 3489 request: MAPPED, SOURCE, CHANGED addresses.
	req3 := unhex("00010008 03a3b9464dd8eb75e19481474293845c 00030004 00000006")
	c = conn(app.UDP, "linux", "203.0.113.5:40000", "198.51.100.1:3478")
	res = h.Serve(c, req3)
	at = parseReply(t, res.Reply)
	if len(at) != 3 || at[0].typ != attrMappedAddress || at[1].typ != attrSourceAddress || at[2].typ != attrChangedAddress {
		t.Fatalf("3489 attrs %v", at)
	}
	if binary.BigEndian.Uint16(at[1].val[2:]) != 3479 || c.ReplyPort != 3479 {
		t.Fatalf("source address %x reply port %d", at[1].val, c.ReplyPort)
	}
}

func TestMalformed(t *testing.T) {
	h := New()
	cases := []struct {
		name string
		in   string
		tr   app.Transport
		want app.Verdict
		more bool
	}{
		{"overrun attr", "00010008 2112a442 000000000000000000000000 80220010 41414141", app.UDP, app.No, false},
		{"short change-request", "00010004 03a3b9464dd8eb75e19481474293845c 00030000", app.UDP, app.No, false},
		{"odd length", "00010002 2112a442 000000000000000000000000 0000", app.UDP, app.No, false},
		{"not binding", "00030000 2112a442 000000000000000000000000", app.UDP, app.No, false},
		{"response", "01010000 2112a442 000000000000000000000000", app.UDP, app.No, false},
		{"short udp", "00010000 2112a442", app.UDP, app.No, false},
		{"trailing udp", "00010000 2112a442 000000000000000000000000 00", app.UDP, app.No, false},
		{"short tcp", "00010000 2112a442", app.TCP, app.Yes, true},
		{"partial tcp", "00010008 2112a442 000000000000000000000000 8022", app.TCP, app.Yes, true},
		{"prefix tcp", "00", app.TCP, app.Maybe, true},
	}
	for _, tc := range cases {
		b := unhex(tc.in)
		if got := h.Detect(b, tc.tr); got != tc.want {
			t.Errorf("%s: Detect = %v want %v", tc.name, got, tc.want)
		}
		c := conn(tc.tr, "linux", "203.0.113.5:40000", "198.51.100.1:3478")
		res := h.Serve(c, b)
		if res.NeedMore != tc.more || (!tc.more && (res.Consumed != 0 || res.Reply != nil)) {
			t.Errorf("%s: Serve = %+v", tc.name, res)
		}
	}
}

func FuzzServe(f *testing.F) {
	f.Add(unhex("000100002112a442000000000000000000000000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			for _, pers := range []string{"linux", "masscanned"} {
				for _, cl := range []string{"203.0.113.5:40000", "[2001:db8::5]:65535"} {
					c := conn(tr, pers, cl, "198.51.100.1:65535")
					c.MaxReply = 3 * len(data)
					apptest.Drive(t, h, c, data, apptest.Limits{FitsCap: true})
				}
			}
		}
	})
}
