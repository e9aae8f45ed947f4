package smb

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC)

func conn(t app.Transport, pers string) *app.Conn {
	var ctr byte
	return &app.Conn{
		Transport:   t,
		Client:      netip.MustParseAddrPort("192.0.2.1:50000"),
		Server:      netip.MustParseAddrPort("198.51.100.1:445"),
		Personality: pers,
		Now:         now,
		Rand: func(p []byte) {
			for i := range p {
				ctr++
				p[i] = ctr
			}
		},
	}
}

// req loads a request captured from smbclient 4.x (testdata/reqNN.bin):
// 01 SMB2 NEGOTIATE, 02 SESSION_SETUP (NTLM NEGOTIATE), 03 SESSION_SETUP
// (anonymous AUTHENTICATE), 04 TREE_CONNECT IPC$, 06 SMB1 NEGOTIATE (NT1
// min protocol), 07 SMB1 SESSION_SETUP_ANDX (NTLM NEGOTIATE), 12 SMB1
// SESSION_SETUP_ANDX (AUTHENTICATE alice/CORP, NTLMv2).
func req(t testing.TB, n string) []byte {
	b, err := os.ReadFile("testdata/req" + n + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func field(fs []event.Field, k string) any {
	for _, f := range fs {
		if f.Key == k {
			return f.Value
		}
	}
	return nil
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		name string
		in   []byte
		tr   app.Transport
		want app.Verdict
	}{
		{"smb2", req(t, "01"), app.TCP, app.Yes},
		{"smb1", req(t, "06"), app.TCP, app.Yes},
		{"smb1 udp", req(t, "06"), app.UDP, app.Yes},
		{"prefix", req(t, "01")[:6], app.TCP, app.Maybe},
		{"prefix 1", []byte{0}, app.TCP, app.Maybe},
		{"session request", append([]byte{0x81, 0, 0, 0x44, 0x20}, make([]byte, 67)...), app.TCP, app.Yes},
		{"session request udp", append([]byte{0x81, 0, 0, 0x44, 0x20}, make([]byte, 67)...), app.UDP, app.No},
		{"session prefix", []byte{0x81, 0}, app.TCP, app.Maybe},
		{"not smb", []byte("\x00\x00\x00\x10\xfdSMB"), app.TCP, app.No},
		{"http", []byte("GET / HTTP/1.1\r\n"), app.TCP, app.No},
	} {
		if got := h.Detect(tc.in, tc.tr); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func nbtLen(b []byte) int { return int(b[1])<<16 | int(b[2])<<8 | int(b[3]) }

// TestUpstreamSMB2 checks the masscanned personality's SMB2 negotiate
// against upstream's shape (§5.5), with §10.22's bugs fixed.
func TestUpstreamSMB2(t *testing.T) {
	h := New()
	c := conn(app.TCP, "masscanned")
	in := req(t, "01")
	res := h.Serve(c, in)
	r := res.Reply
	if res.Consumed != len(in) || len(r) != 4+0x1c0 || nbtLen(r) != 0x1c0 {
		t.Fatalf("consumed %d, reply %d bytes", res.Consumed, len(r))
	}
	s := r[4:]
	if d := binary.LittleEndian.Uint16(s[64+4:]); d != 0x0202 {
		t.Errorf("dialect %#x", d)
	}
	if n := binary.LittleEndian.Uint16(s[64+6:]); n != 0 {
		t.Errorf("NegotiateContextCount %d", n)
	}
	guid := s[64+8 : 64+24]
	if bytes.Equal(guid, make([]byte, 16)) || bytes.Equal(guid, in[4+64+12:4+64+28]) {
		t.Errorf("server GUID %x", guid)
	}
	if !bytes.Equal(s[128:], negBlobUpstream) || len(negBlobUpstream) != 320 {
		t.Errorf("blob differs")
	}
	if field(res.Fields, "dialect") != "SMB 2.0.2" {
		t.Errorf("fields %v", res.Fields)
	}
	// Session setup: MORE_PROCESSING_REQUIRED with a fresh challenge.
	res = h.Serve(c, req(t, "02"))
	s = res.Reply[4:]
	if st := binary.LittleEndian.Uint32(s[8:]); st != statusMoreProcessing {
		t.Fatalf("status %#x", st)
	}
	if sid := binary.LittleEndian.Uint64(s[40:]); sid == 0 {
		t.Errorf("no session id")
	}
	blob := s[72:]
	if binary.LittleEndian.Uint16(s[64+6:]) != uint16(len(blob)) || len(blob) != 159 {
		t.Errorf("blob length %d", len(blob))
	}
	m := findNTLM(blob)
	st := c.State.(*state)
	if !bytes.Equal(m[24:32], st.challenge[:]) || bytes.Equal(m[24:32], []byte{0x24, 0x91, 0xa8, 0xf6, 0xf3, 0x89, 0x2d, 0x34}) {
		t.Errorf("challenge %x", m[24:32])
	}
	if !bytes.Contains(m, binary.LittleEndian.AppendUint64(nil, filetime(now))) {
		t.Errorf("timestamp missing")
	}
	if !bytes.Contains(m, utf16le("WIN1")) {
		t.Errorf("target name")
	}
	// Anonymous AUTHENTICATE: success, IS_NULL.
	res = h.Serve(c, req(t, "03"))
	s = res.Reply[4:]
	if st := binary.LittleEndian.Uint32(s[8:]); st != statusSuccess || field(res.Fields, "ntlm_version") != "anonymous" {
		t.Fatalf("status %#x fields %v", st, res.Fields)
	}
	// Tree connect: ACCESS_DENIED in SMB2 ERROR format.
	res = h.Serve(c, req(t, "04"))
	s = res.Reply[4:]
	if st := binary.LittleEndian.Uint32(s[8:]); st != statusAccessDenied || len(s) != 73 || s[64] != 9 {
		t.Fatalf("tree connect reply %x", s)
	}
	if field(res.Fields, "tree_path") != `\\127.0.0.1\IPC$` {
		t.Errorf("fields %v", res.Fields)
	}
}

func TestUpstreamSMB1(t *testing.T) {
	h := New()
	c := conn(app.TCP, "masscanned")
	res := h.Serve(c, req(t, "06"))
	r := res.Reply
	if nbtLen(r) != 0x195 || len(r) != 4+0x195 {
		t.Fatalf("reply length %d", len(r))
	}
	s := r[4:]
	if s[32] != 17 || binary.LittleEndian.Uint16(s[33:]) != 1 {
		t.Errorf("word count / dialect index: %x", s[32:35])
	}
	if binary.LittleEndian.Uint32(s[33+19:]) != 0x8001e3fc {
		t.Errorf("capabilities")
	}
	if bytes.Equal(s[69:85], make([]byte, 16)) {
		t.Errorf("zero server GUID")
	}
	if field(res.Fields, "dialect") != "NT LM 0.12" {
		t.Errorf("fields %v", res.Fields)
	}
	res = h.Serve(c, req(t, "07"))
	s = res.Reply[4:]
	if st := binary.LittleEndian.Uint32(s[5:]); st != statusMoreProcessing {
		t.Fatalf("status %#x", st)
	}
	if bl := binary.LittleEndian.Uint16(s[39:]); bl != 159 {
		t.Errorf("blob length %d", bl)
	}
	if !bytes.Contains(s, utf16le("Windows 4.0")) || int(binary.LittleEndian.Uint16(s[35:])) != len(s) {
		t.Errorf("strings / AndXOffset")
	}
	res = h.Serve(c, req(t, "12"))
	s = res.Reply[4:]
	if st := binary.LittleEndian.Uint32(s[5:]); st != statusLogonFailure || len(s) != 35 {
		t.Fatalf("status %#x len %d", st, len(s))
	}
	ch := c.State.(*state).challenge
	want := map[string]any{"user": "alice", "domain": "CORP", "workstation": "VM", "ntlm_version": "NTLMv2", "os": "Unix", "lanman": "Samba"}
	for k, v := range want {
		if got := field(res.Fields, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	nt, _ := field(res.Fields, "netntlm").(string)
	parts := strings.Split(nt, ":")
	if len(parts) != 6 || parts[0] != "alice" || parts[2] != "CORP" || parts[3] != hexs(ch[:]) || len(parts[4]) != 32 || !strings.HasPrefix(parts[5], "0101") {
		t.Errorf("netntlm %q", nt)
	}
	if a, ok := field(res.Fields, "auth").(event.Auth); !ok || a.Protocol != "smb" || a.User != "alice" || a.Hash != nt || a.Format != "netntlmv2" || a.Success {
		t.Errorf("auth %+v", field(res.Fields, "auth"))
	}
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	var s []byte
	for _, c := range b {
		s = append(s, d[c>>4], d[c&15])
	}
	return string(s)
}

func TestLinux(t *testing.T) {
	h := New()
	// SMB1 negotiate offering SMB 2.???: SMB2 wildcard answer.
	c := conn(app.TCP, "linux")
	res := h.Serve(c, req(t, "06"))
	s := res.Reply[4:]
	if !bytes.HasPrefix(s, []byte("\xfeSMB")) || binary.LittleEndian.Uint16(s[64+4:]) != 0x02ff {
		t.Fatalf("reply %x", s)
	}
	if !bytes.Equal(s[128:], negBlobLinux) || !bytes.Contains(negBlobLinux, []byte("not_defined_in_RFC4178@please_ignore")) {
		t.Errorf("blob")
	}
	// SMB2 negotiate: newest supported (3.0.2), never 3.1.1.
	res = h.Serve(c, req(t, "01"))
	s = res.Reply[4:]
	if d := binary.LittleEndian.Uint16(s[64+4:]); d != 0x0302 {
		t.Errorf("dialect %#x", d)
	}
	res = h.Serve(c, req(t, "02"))
	m := findNTLM(res.Reply[4+72:])
	if m == nil || !bytes.Contains(m, utf16le("MASSCANNED")) {
		t.Fatalf("challenge %x", res.Reply)
	}
	// SMB1-only client: NT LM 0.12 with Samba's values.
	c = conn(app.TCP, "linux")
	r := req(t, "06")
	r = bytes.ReplaceAll(r, []byte("SMB 2.???"), []byte("XMB 2.???"))
	r = bytes.ReplaceAll(r, []byte("SMB 2.002"), []byte("XMB 2.002"))
	res = h.Serve(c, r)
	s = res.Reply[4:]
	if s[0] != 0xff || s[32] != 17 || !bytes.Equal(s[69:], append(h.guid[:], negBlobLinux...)) {
		t.Fatalf("reply %x", s)
	}
}

func smb2Neg(dialects ...uint16) []byte {
	m := make([]byte, 64+36)
	copy(m, "\xfeSMB")
	m[4] = 64
	binary.LittleEndian.PutUint16(m[64:], 36)
	binary.LittleEndian.PutUint16(m[66:], uint16(len(dialects)))
	for _, d := range dialects {
		m = binary.LittleEndian.AppendUint16(m, d)
	}
	return nbt(m)
}

func TestEdgeCases(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		name     string
		tr       app.Transport
		in       []byte
		needMore bool
		consumed int
		reply    []byte // prefix
	}{
		{"count 0", app.TCP, smb2Neg(), false, 4 + 100, nil},
		{"duplicates", app.TCP, smb2Neg(0x0202, 0x0202), false, 4 + 104, []byte{0, 0, 1, 0xc0, 0xfe}},
		{"only 3.1.1", app.TCP, smb2Neg(0x0311), false, 4 + 102, []byte{0, 0, 0, 73, 0xfe}},
		{"partial", app.TCP, smb2Neg(0x0202)[:50], true, 0, nil},
		{"header only", app.TCP, []byte{0, 0}, true, 0, nil},
		{"too large", app.TCP, []byte{0, 0xff, 0xff, 0xff, 0xfe, 'S', 'M', 'B'}, false, 0, nil},
		{"udp", app.UDP, req(t, "01"), false, len(req(t, "01")), nil},
		{"session request", app.TCP, append([]byte{0x81, 0, 0, 68, 0x20}, append([]byte("CKFDENECFDEFFCFGEFFCCACACACACACA\x00 EMEJENEBFCEEEMEJEOFFFIACACACACAA"), 0)...), false, 72, []byte{0x82, 0, 0, 0}},
		{"keepalive", app.TCP, []byte{0x85, 0, 0, 0}, false, 4, nil},
		{"truncated smb2", app.TCP, []byte{0, 0, 0, 8, 0xfe, 'S', 'M', 'B', 0, 0, 0, 0}, false, 12, nil},
	} {
		c := conn(tc.tr, "masscanned")
		res := h.Serve(c, tc.in)
		if res.NeedMore != tc.needMore || res.Consumed != tc.consumed {
			t.Errorf("%s: needMore=%v consumed=%d", tc.name, res.NeedMore, res.Consumed)
		}
		if (tc.reply == nil) != (res.Reply == nil) || !bytes.HasPrefix(res.Reply, tc.reply) {
			t.Errorf("%s: reply %x", tc.name, res.Reply)
		}
		if tc.name == "session request" && (field(res.Fields, "called_name") != "*SMBSERVER<20>" || field(res.Fields, "calling_name") == "") {
			t.Errorf("%s: fields %v", tc.name, res.Fields)
		}
		if tc.name == "udp" && field(res.Fields, "dialect") != "SMB 2.0.2" {
			t.Errorf("%s: fields %v", tc.name, res.Fields)
		}
	}
}

func FuzzSMB(f *testing.F) {
	f.Add(req(f, "01"))
	f.Add(req(f, "06"))
	f.Add(req(f, "12"))
	h := New()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			for _, pers := range []string{"linux", "masscanned"} {
				apptest.Drive(t, h, conn(tr, pers), data, apptest.Limits{NoUDPReply: true})
			}
		}
	})
}
