package rdp

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/app/ntlm"
	"github.com/masscanned-go/masscanned/internal/event"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Connection Requests: nmap's TerminalServerCookie and TerminalServer
// probes, xfreerdp 2 (cookie, SSL|HYBRID), mstsc (routing token,
// SSL|HYBRID|HYBRID_EX with a correlation id).
var (
	crNmapCookie = []byte("\x03\x00\x00*%\xe0\x00\x00\x00\x00\x00Cookie: mstshash=nmap\r\n\x01\x00\x08\x00\x03\x00\x00\x00")
	crNmapLegacy = []byte("\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00")
	crFreeRDP    = []byte("\x03\x00\x00+&\xe0\x00\x00\x00\x00\x00Cookie: mstshash=admin\r\n\x01\x00\x08\x00\x03\x00\x00\x00")
	crMstsc      = mstsc()
)

func mstsc() []byte {
	v := []byte("Cookie: msts=3640205228.15629.0000\r\n\x01\x08\x08\x00\x0b\x00\x00\x00\x06\x00\x24\x00")
	v = append(v, bytes.Repeat([]byte{0xab}, 16)...)
	v = append(v, make([]byte, 16)...)
	b := []byte{3, 0, 0, 0, byte(6 + len(v)), 0xe0, 0, 0, 0, 0, 0}
	b = append(b, v...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func TestDetect(t *testing.T) {
	h := New(nil)
	for _, tc := range []struct {
		in   []byte
		want app.Verdict
	}{
		{crNmapCookie, app.Yes}, {crNmapLegacy, app.Yes}, {crMstsc, app.Yes},
		{crNmapCookie[:1], app.Maybe}, {crNmapCookie[:5], app.Maybe},
		{[]byte("\x03\x00\x00\x0b\x06\xd0\x00\x00\x00\x00\x00"), app.No},                  // a confirm
		{[]byte("\x03\x00\x00\x10\x08\x02\x80\x00}\x08\x02\x80\xe2\x14\x01\x00"), app.No}, // H.225
		{[]byte("\x03\x01\x00\x0b"), app.No},
		{[]byte("GET / HTTP/1.1\r\n"), app.No},
		{[]byte("\x16\x03\x01\x00\x05\x01"), app.No},
		{[]byte("\x03\x00\x00\x0b\x07\xe0\x00\x00\x00\x00\x00"), app.No}, // LI mismatch
	} {
		if got := h.Detect(tc.in, app.TCP); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if h.Detect(crNmapCookie, app.UDP) != app.No {
		t.Error("UDP")
	}
}

func fields(fs []event.Field) map[string]any {
	m := map[string]any{}
	for _, f := range fs {
		m[f.Key] = f.Value
	}
	return m
}

func TestServe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		reply  string
		close  bool
		fields map[string]string
	}{
		{"nmap cookie", crNmapCookie, "\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00", false,
			map[string]string{"cookie": "nmap", "requested_protocols": "[ssl hybrid]", "selected_protocol": "hybrid"}},
		{"legacy", crNmapLegacy, "\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x03\x00\x08\x00\x05\x00\x00\x00", true,
			map[string]string{"requested_protocols": "[rdp]", "failure": "HYBRID_REQUIRED_BY_SERVER"}},
		{"mstsc", crMstsc, "\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x08\x00\x00\x00", false,
			map[string]string{"routing_token": "Cookie: msts=3640205228.15629.0000", "requested_protocols": "[ssl hybrid hybrid_ex]",
				"selected_protocol": "hybrid_ex", "correlation_id": strings.Repeat("ab", 16)}},
	} {
		c := apptest.Conn(app.TCP, "linux", "192.0.2.1:50000", "198.51.100.1:3389", now)
		h := New(nil)
		res := h.Serve(c, tc.in[:7])
		if !res.NeedMore {
			t.Errorf("%s: prefix: %+v", tc.name, res)
		}
		res = h.Serve(c, tc.in)
		if string(res.Reply) != tc.reply || res.Close != tc.close || res.Consumed != len(tc.in) {
			t.Errorf("%s: reply %q close %v consumed %d", tc.name, res.Reply, res.Close, res.Consumed)
		}
		got := fields(res.Fields)
		for k, v := range tc.fields {
			if s := strings.Trim(strings.ReplaceAll(toString(got[k]), ",", ""), " "); s != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, s, v)
			}
		}
		if !tc.close {
			// TLS follows: the plain handler records it and closes
			res = h.Serve(c, []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"))
			if !res.Close || len(res.Reply) != 0 {
				t.Errorf("%s: after confirm %+v", tc.name, res)
			}
		}
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	}
	return ""
}

// TestNmap: nmap's TerminalServerCookie probe names our confirm Microsoft
// Terminal Services.
func TestNmap(t *testing.T) {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:50000", "198.51.100.1:3389", now)
	res := New(nil).Serve(c, crNmapCookie)
	ms := apptest.NmapProducts(t, "TerminalServerCookie", res.Reply)
	if len(ms) == 0 || ms[0].Service != "ms-wbt-server" || ms[0].Product != "Microsoft Terminal Services" {
		t.Errorf("nmap matches %+v", ms)
	}
}

func TestIdentity(t *testing.T) {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:50000", "198.51.100.1:3389", now)
	id, host := identity(c)
	if !strings.HasPrefix(host, "WIN-") || len(host) != 15 || id.NBComputer != host || id.DNSTree != "" || id.Flags&ntlm.FlagTargetServer == 0 {
		t.Errorf("default identity %q %+v", host, id)
	}
	if id2, _ := identity(c); id2 != id {
		t.Error("default name not stable")
	}
	c.Banners = map[string]string{"hostname": "fs01.corp.example"}
	id, host = identity(c)
	if host != "fs01.corp.example" || id.NBComputer != "FS01" || id.NBDomain != "CORP" || id.DNSDomain != "corp.example" ||
		id.DNSComputer != "fs01.corp.example" || id.DNSTree != "corp.example" || id.Flags&ntlm.FlagTargetDomain == 0 {
		t.Errorf("domain identity %q %+v", host, id)
	}
}

// authenticate builds an NTLMv2 AUTHENTICATE message for user/domain.
func authenticate(domain, user, ws string) []byte {
	nt := append(bytes.Repeat([]byte{0x5a}, 16), 1, 1, 0, 0, 0, 0, 0, 0)
	nt = append(nt, make([]byte, 24)...)
	payload := [][]byte{make([]byte, 24), nt, ntlm.UTF16LE(domain), ntlm.UTF16LE(user), ntlm.UTF16LE(ws)}
	b := make([]byte, 72)
	copy(b, ntlm.Signature)
	binary.LittleEndian.PutUint32(b[8:], ntlm.TypeAuthenticate)
	off := 72
	for i, p := range payload {
		at := 12 + 8*i
		binary.LittleEndian.PutUint16(b[at:], uint16(len(p)))
		binary.LittleEndian.PutUint16(b[at+2:], uint16(len(p)))
		binary.LittleEndian.PutUint32(b[at+4:], uint32(off))
		off += len(p)
	}
	binary.LittleEndian.PutUint32(b[60:], 0xe2888235)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// clientTSRequest builds a client TSRequest with a negoToken and, when
// given, pubKeyAuth.
func clientTSRequest(version int, token, pubKeyAuth []byte) []byte {
	parts := [][]byte{ntlm.DER(0xa0, ntlm.DER(0x02, []byte{byte(version)})),
		ntlm.DER(0xa1, ntlm.DER(0x30, ntlm.DER(0x30, ntlm.DER(0xa0, ntlm.DER(0x04, token)))))}
	if pubKeyAuth != nil {
		parts = append(parts, ntlm.DER(0xa3, ntlm.DER(0x04, pubKeyAuth)))
	}
	return ntlm.DER(0x30, parts...)
}

// TestLibrary runs the whole exchange as a CredSSP client: Connection
// Request, TLS, NTLM NEGOTIATE, CHALLENGE, AUTHENTICATE, and the
// STATUS_LOGON_FAILURE errorCode (version 6) or a TLS access_denied alert
// (version 2).
func TestLibrary(t *testing.T) {
	for _, version := range []int{6, 2} {
		reg := &app.Registry{}
		reg.Register(New(nil), true, Description)
		var recs apptest.Recorder
		var st app.Stream
		st.Reset(app.Conn{Transport: app.TCP, Personality: "linux", Now: now,
			Client: netip.MustParseAddrPort("192.0.2.7:40000"), Server: netip.MustParseAddrPort("198.51.100.2:3389"),
			Rand:    func(b []byte) { copy(b, "\x01\x23\x45\x67\x89\xab\xcd\xef") },
			Banners: map[string]string{"hostname": "TSHOST"}})
		st.Emit = recs.Emit
		cli, srv := net.Pipe()
		apptest.Bridge(reg, &st, srv)
		_ = cli.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := cli.Write(crFreeRDP); err != nil {
			t.Fatal(err)
		}
		cc := make([]byte, 19)
		if _, err := readFull(cli, cc); err != nil || cc[11] != 2 || cc[15] != 2 {
			t.Fatalf("confirm %x %v", cc, err)
		}
		ccfg := &tls.Config{InsecureSkipVerify: true}
		if version == 2 { // the SHA-384 PRF too
			ccfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
		}
		tc := tls.Client(cli, ccfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "TSHOST" {
			t.Errorf("certificate CN %q", cn)
		}
		neg := []byte("NTLMSSP\x00\x01\x00\x00\x00\xb7\x82\x08\xe2\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x63\x45\x00\x00\x00\x0f")
		if _, err := tc.Write(clientTSRequest(version, neg, nil)); err != nil {
			t.Fatal(err)
		}
		b, err := readTSRequest(tc)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseTSRequest(b)
		if err != nil || r.version != credsspVersion {
			t.Fatalf("challenge TSRequest %x: %v", b, err)
		}
		m := r.token
		if binary.LittleEndian.Uint32(m[8:]) != ntlm.TypeChallenge || string(m[24:32]) != "\x01\x23\x45\x67\x89\xab\xcd\xef" ||
			!bytes.Contains(m, ntlm.UTF16LE("TSHOST")) {
			t.Fatalf("challenge %x", m)
		}
		if fl := binary.LittleEndian.Uint32(m[20:]); fl != 0xe28a8235&0xe20882b7|ntlm.FlagTargetInfo|ntlm.FlagTargetServer {
			t.Errorf("challenge flags %08x", fl)
		}
		if _, err := tc.Write(clientTSRequest(version, authenticate("CORP", "admin", "KALI"), make([]byte, 16+270))); err != nil {
			t.Fatal(err)
		}
		b, err = readTSRequest(tc)
		if version >= 3 {
			r, perr := parseTSRequest(b)
			if err != nil || perr != nil || !r.hasErrorCode || uint32(r.errorCode) != 0xc000006d {
				t.Errorf("error TSRequest %x %v %v", b, err, perr)
			}
		} else if err == nil || !strings.Contains(err.Error(), "access denied") {
			t.Errorf("version 2: %x, %v after the AUTHENTICATE, want an access_denied alert", b, err)
		}
		cli.Close()
		var auth event.Auth
		ok := recs.Wait(func(all []map[string]any) bool {
			for _, r := range all {
				if a, ok := r["auth"].(event.Auth); ok {
					auth = a
					return r["status"] == "STATUS_LOGON_FAILURE" && r["workstation"] == "KALI" && r["credssp_version"] == version
				}
			}
			return false
		})
		if !ok || auth.Protocol != "rdp" || auth.User != "admin" || auth.Format != "netntlmv2" ||
			!strings.HasPrefix(auth.Hash, "admin::CORP:0123456789abcdef:"+strings.Repeat("5a", 16)+":0101") {
			t.Errorf("version %d: auth %+v; records %v", version, auth, recs.All())
		}
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestParseTSRequest(t *testing.T) {
	for _, b := range [][]byte{nil, {0x30}, {0x30, 0}, {0x30, 3, 0xa0, 1, 2}, clientTSRequest(2, []byte("x"), nil)[:10]} {
		if _, err := parseTSRequest(b); err == nil {
			t.Errorf("%x parsed", b)
		}
	}
	r, err := parseTSRequest(tsRequestBytes(6, nil, statusLogonFailure))
	if err != nil || r.version != 6 || !r.hasErrorCode || uint32(r.errorCode) != 0xc000006d {
		t.Errorf("%+v %v", r, err)
	}
	if _, err := readTSRequest(bytes.NewReader([]byte{0x30, 0x84, 1, 0, 0, 0})); err == nil {
		t.Error("4-byte length accepted")
	}
	if _, err := readTSRequest(bytes.NewReader([]byte{0x30, 0x83, 1, 0, 0})); err == nil {
		t.Error("oversized TSRequest accepted")
	}
}

func FuzzRDP(f *testing.F) {
	for _, s := range [][]byte{crNmapCookie, crNmapLegacy, crFreeRDP, crMstsc} {
		f.Add(s)
	}
	h := New(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := apptest.Conn(app.TCP, "linux", "192.0.2.1:50000", "198.51.100.1:3389", now)
		apptest.Drive(t, h, c, b, apptest.Limits{NoUDPReply: true})
		c = apptest.Conn(app.UDP, "linux", "192.0.2.1:50000", "198.51.100.1:3389", now)
		apptest.Drive(t, h, c, b, apptest.Limits{NoUDPReply: true})
		if r, err := parseTSRequest(b); err == nil {
			m := ntlm.Parse(ntlm.Find(r.token))
			m.Fields(nil)
		}
	})
}
