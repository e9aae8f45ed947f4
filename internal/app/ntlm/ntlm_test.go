package ntlm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// authenticate builds an AUTHENTICATE message (Unicode strings).
func authenticate(domain, user, ws string, lm, nt []byte, flags uint32) []byte {
	payload := [][]byte{lm, nt, UTF16LE(domain), UTF16LE(user), UTF16LE(ws)}
	b := make([]byte, 72)
	copy(b, Signature)
	binary.LittleEndian.PutUint32(b[8:], TypeAuthenticate)
	off := 72
	for i, p := range payload {
		at := 12 + 8*i
		binary.LittleEndian.PutUint16(b[at:], uint16(len(p)))
		binary.LittleEndian.PutUint16(b[at+2:], uint16(len(p)))
		binary.LittleEndian.PutUint32(b[at+4:], uint32(off))
		off += len(p)
	}
	binary.LittleEndian.PutUint32(b[60:], flags)
	v := WindowsVersion(10, 0, 19041)
	copy(b[64:], v[:])
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

func TestChallenge(t *testing.T) {
	id := Identity{Target: "WIN-X", NBDomain: "WIN-X", NBComputer: "WIN-X", DNSDomain: "win-x", DNSComputer: "win-x", DNSTree: "win-x",
		Flags: 0xe28a8235, Version: WindowsVersion(10, 0, 17763)}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ch := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	m := Challenge(&id, ch, now)
	if !bytes.HasPrefix(m, Signature) || binary.LittleEndian.Uint32(m[8:]) != TypeChallenge {
		t.Fatalf("header %x", m[:12])
	}
	if binary.LittleEndian.Uint32(m[20:]) != 0xe28a8235 || !bytes.Equal(m[24:32], ch[:]) {
		t.Errorf("flags/challenge %x", m[20:32])
	}
	if !bytes.Equal(m[48:56], []byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}) {
		t.Errorf("version %x", m[48:56])
	}
	if got := field(m, 12); !bytes.Equal(got, UTF16LE("WIN-X")) {
		t.Errorf("target %q", got)
	}
	info := field(m, 40)
	// every AV pair: 2,1,4,3,5,7,0
	var types []uint16
	for len(info) >= 4 {
		ty, l := binary.LittleEndian.Uint16(info), int(binary.LittleEndian.Uint16(info[2:]))
		types = append(types, ty)
		if ty == 7 && binary.LittleEndian.Uint64(info[4:]) != Filetime(now) {
			t.Errorf("timestamp")
		}
		info = info[4+l:]
	}
	if want := []uint16{2, 1, 4, 3, 5, 7, 0}; !equal(types, want) {
		t.Errorf("av pairs %v, want %v", types, want)
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParse(t *testing.T) {
	ch := [8]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	ntv2 := append(bytes.Repeat([]byte{0xaa}, 16), 1, 1, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0)
	ntv1 := bytes.Repeat([]byte{0xbb}, 24)
	for _, tc := range []struct {
		name             string
		msg              []byte
		kind, hash, form string
		auth             bool
	}{
		{"ntlmv2", authenticate("CORP", "alice", "WS1", make([]byte, 24), ntv2, 0xe2888215), "NTLMv2",
			"alice::CORP:1122334455667788:" + strings.Repeat("aa", 16) + ":01010000000000000909090909090909070707070707070700000000", "netntlmv2", true},
		{"ntlmv1", authenticate("CORP", "bob", "WS1", bytes.Repeat([]byte{0xcc}, 24), ntv1, 0xe2888215), "NTLMv1",
			"bob::CORP:" + strings.Repeat("cc", 24) + ":" + strings.Repeat("bb", 24) + ":1122334455667788", "netntlmv1", true},
		{"anonymous", authenticate("", "", "", []byte{0}, nil, 0xe2888215), "anonymous", "", "", false},
		{"truncated", authenticate("C", "u", "w", nil, ntv2, 1)[:40], "", "", "", false},
		{"short", []byte("NTLMSSP\x00\x03"), "", "", "", false},
	} {
		m := Parse(tc.msg)
		if m.Kind != tc.kind {
			t.Errorf("%s: kind %q, want %q", tc.name, m.Kind, tc.kind)
		}
		h, form, ok := m.Hash(ch)
		if h != tc.hash || form != tc.form || ok != (tc.hash != "") {
			t.Errorf("%s: hash %q %q %v, want %q %q", tc.name, h, form, ok, tc.hash, tc.form)
		}
		f, ok := m.AuthField("rdp", &ch, false)
		if ok != tc.auth {
			t.Errorf("%s: auth %v", tc.name, ok)
			continue
		}
		if ok {
			a := f.Value.(event.Auth)
			if f.Key != "auth" || a.Protocol != "rdp" || a.User != m.User || a.Hash != tc.hash || a.Format != tc.form {
				t.Errorf("%s: auth field %+v", tc.name, a)
			}
		}
		fs := m.Fields(&ch)
		if tc.hash != "" && !hasField(fs, "netntlm", tc.hash) {
			t.Errorf("%s: fields %v", tc.name, fs)
		}
	}
	m := Parse(authenticate("DOM", "carol", "PC", nil, ntv2, 0xe2888215))
	if m.User != "carol" || m.Domain != "DOM" || m.Workstation != "PC" || m.OSVersion != "10.0.19041" {
		t.Errorf("identity %+v", m)
	}
	// OEM strings (no Unicode flag)
	b := authenticate("", "", "", nil, ntv1, 0x02000000)
	b = append(b, "dave"...)
	binary.LittleEndian.PutUint16(b[36:], 4)
	binary.LittleEndian.PutUint32(b[40:], uint32(len(b)-4))
	if m := Parse(b); m.User != "dave" {
		t.Errorf("OEM user %q", m.User)
	}
	// NEGOTIATE with domain and workstation supplied
	neg := []byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x32\x00\x02" + "\x04\x00\x04\x00\x28\x00\x00\x00" + "\x02\x00\x02\x00\x2c\x00\x00\x00" + "\x0a\x00\x63\x45\x00\x00\x00\x0f" + "CORPWS")
	m = Parse(neg)
	if m.Type != TypeNegotiate || m.Domain != "CORP" || m.Workstation != "WS" || m.OSVersion != "10.0.17763" {
		t.Errorf("negotiate %+v", m)
	}
	if _, ok := m.AuthField("rdp", &ch, false); ok {
		t.Errorf("auth field from a NEGOTIATE")
	}
}

func hasField(fs []event.Field, k string, v any) bool {
	for _, f := range fs {
		if f.Key == k && f.Value == v {
			return true
		}
	}
	return false
}

func TestFind(t *testing.T) {
	if Find([]byte("xxNTLMSSP\x00\x01")) == nil || Find([]byte("nothing")) != nil {
		t.Error("Find")
	}
	tok := NegTokenResp([]byte("NTLMSSP\x00\x02"))
	if !bytes.HasSuffix(tok, []byte("NTLMSSP\x00\x02")) || tok[0] != 0xa1 {
		t.Errorf("NegTokenResp %x", tok)
	}
	if l := len(DER(4, make([]byte, 300))); l != 304 {
		t.Errorf("DER long form length %d", l)
	}
}

func FuzzParse(f *testing.F) {
	ntv2 := append(bytes.Repeat([]byte{0xaa}, 16), 1, 1, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 7, 7, 7, 7, 7, 7, 7, 7)
	f.Add(authenticate("CORP", "alice", "WS1", make([]byte, 24), ntv2, 0xe2888215))
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x32\x00\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := Parse(b)
		var ch [8]byte
		m.Fields(&ch)
		m.AuthField("x", &ch, false)
		m.Hash(ch)
	})
}
