package mssql

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// capture loads a client packet captured from a real client
// (testdata/NAME.bin): FreeTDS 1.3 tsql (TDS 7.4) and impacket 0.10
// mssqlclient, with SQL and with Windows (NTLM) authentication.
func capture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func conn() *app.Conn {
	c := apptest.Conn(app.TCP, "windows", "192.0.2.1:50000", "198.51.100.1:1433", now)
	c.Rand = func(b []byte) { copy(b, "\x01\x23\x45\x67\x89\xab\xcd\xef") }
	return c
}

func fields(fs []event.Field) map[string]any {
	m := map[string]any{}
	for _, f := range fs {
		m[f.Key] = f.Value
	}
	return m
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		name string
		in   []byte
		want app.Verdict
	}{
		{"tsql prelogin", capture(t, "tsql_prelogin"), app.Yes},
		{"tsql login7", capture(t, "tsql_login7"), app.Yes},
		{"impacket login7", capture(t, "impacket_login7"), app.Yes},
		{"prefix", capture(t, "tsql_prelogin")[:5], app.Maybe},
		{"login7 prefix", capture(t, "tsql_login7")[:12], app.Maybe},
		{"mqtt connect", []byte("\x10\x1a\x00\x04MQTT\x04\x02\x00<\x00\x0emosq-abcdefgh"), app.No},
		{"dns over tcp", []byte("\x12\x01\xab\xcd\x01\x00\x00\x01\x00\x00"), app.No},
		{"sspi alone", capture(t, "impacket_ntlm_sspi"), app.No},
		{"http", []byte("GET / HTTP/1.0\r\n\r\n"), app.No},
		{"bad option", []byte("\x12\x01\x00\x10\x00\x00\x00\x00\x42"), app.No},
		{"login7 tds 5", append([]byte("\x10\x01\x00\x6e\x00\x00\x00\x00\x66\x00\x00\x00\x00\x00\x00\x05"), make([]byte, 94)...), app.No},
	} {
		if got := h.Detect(tc.in, app.TCP); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
	if h.Detect(capture(t, "tsql_prelogin"), app.UDP) != app.No {
		t.Error("UDP")
	}
}

func TestPrelogin(t *testing.T) {
	for _, tc := range []struct {
		name, capture string
		banner        string
		want          string // the reply after the 8-byte header
		fields        map[string]any
	}{
		// nmap's and impacket's PRELOGIN: VERSION, ENCRYPTION, INSTOPT,
		// THREADID; the answer has the same options
		{"impacket", "impacket_prelogin", "", "\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x01\x03\x00\x1d\x00\x00\xff\x0f\x00\x07\xd0\x00\x00\x02\x00",
			map[string]any{"instance": "MSSQLServer", "encryption": "off", "client_version": "8.0.341.0", "encryption_answer": "not_supported"}},
		// tsql adds MARS, answered off
		{"tsql", "tsql_prelogin", "14.0.3456.2", "\x00\x00\x1a\x00\x06\x01\x00\x20\x00\x01\x02\x00\x21\x00\x01\x03\x00\x22\x00\x00\x04\x00\x22\x00\x01\xff\x0e\x00\x0d\x80\x00\x02\x02\x00\x00",
			map[string]any{"encryption": "off", "mars": false}},
	} {
		c := conn()
		if tc.banner != "" {
			c.Banners = map[string]string{"mssql": tc.banner}
		}
		in := capture(t, tc.capture)
		res := New().Serve(c, in)
		if res.Consumed != len(in) || res.Close || len(res.Reply) < 8 {
			t.Fatalf("%s: %+v", tc.name, res)
		}
		if hdr := res.Reply[:8]; !bytes.Equal(hdr, []byte{4, 1, 0, byte(len(res.Reply)), 0, 0, 1, 0}) {
			t.Errorf("%s: header %x", tc.name, hdr)
		}
		if got := string(res.Reply[8:]); got != tc.want {
			t.Errorf("%s: reply %q\nwant %q", tc.name, got, tc.want)
		}
		got := fields(res.Fields)
		for k, v := range tc.fields {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.name, k, got[k], v)
			}
		}
	}
}

// TestNmap: nmap's ms-sql-s probe names our answer SQL Server 2019.
func TestNmap(t *testing.T) {
	probe := []byte("\x12\x01\x00\x34\x00\x00\x00\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x0c\x03\x00\x28\x00\x04\xff\x08\x00\x01\x55\x00\x00\x00\x4d\x53\x53\x51\x4c\x53\x65\x72\x76\x65\x72\x00\x48\x0f\x00\x00")
	res := New().Serve(conn(), probe)
	ms := apptest.NmapProducts(t, "ms-sql-s", res.Reply)
	if len(ms) == 0 || ms[0].Service != "ms-sql-s" || ms[0].Product != "Microsoft SQL Server 2019" {
		t.Errorf("nmap matches %+v", ms)
	}
}

func TestLogin7(t *testing.T) {
	for _, tc := range []struct {
		name, capture string
		want          map[string]any
		user, pw      string
	}{
		{"tsql", "tsql_login7", map[string]any{"user": "sa", "tds_version": "7.4", "library": "TDS-Library", "app_name": "TSQL"}, "sa", "S3cret!pw"},
		{"impacket", "impacket_login7", map[string]any{"user": "sa", "tds_version": "7.1"}, "sa", "Passw0rd!"},
	} {
		c := conn()
		h := New()
		res := h.Serve(c, capture(t, tc.capture))
		got := fields(res.Fields)
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", tc.name, k, got[k], v, res.Fields)
			}
		}
		a, _ := got["auth"].(event.Auth)
		if a.Protocol != "mssql" || a.User != tc.user || a.Password != tc.pw || a.Success {
			t.Errorf("%s: auth %+v", tc.name, a)
		}
		if !res.Close || res.Reply[0] != 4 || int(binary.BigEndian.Uint16(res.Reply[2:])) != len(res.Reply) {
			t.Fatalf("%s: reply %x close %v", tc.name, res.Reply, res.Close)
		}
		r := res.Reply[8:]
		if r[0] != 0xaa || binary.LittleEndian.Uint32(r[3:]) != 18456 || r[7] != 1 || r[8] != 14 {
			t.Errorf("%s: error token %x", tc.name, r[:9])
		}
		if !bytes.Contains(r, utf16le("Login failed for user '"+tc.user+"'.")) || !bytes.Contains(r, utf16le(serverName(c))) {
			t.Errorf("%s: message", tc.name)
		}
		done := r[len(r)-13:]
		if tc.want["tds_version"] == "7.1" {
			done = r[len(r)-9:]
		}
		if done[0] != 0xfd || done[1] != 2 {
			t.Errorf("%s: DONE %x", tc.name, done)
		}
	}
}

// TestNTLM: impacket's Windows authentication: the Login7 carries an NTLM
// NEGOTIATE, the answer an SSPI token with the CHALLENGE, the SSPI packet
// the AUTHENTICATE, recorded as NetNTLMv2 and refused.
func TestNTLM(t *testing.T) {
	c := conn()
	c.Banners = map[string]string{"hostname": "sql01.corp.example"}
	h := New()
	res := h.Serve(c, capture(t, "impacket_ntlm_prelogin"))
	if res.Close {
		t.Fatal("prelogin closed")
	}
	res = h.Serve(c, capture(t, "impacket_ntlm_login7"))
	r := res.Reply[8:]
	if res.Close || r[0] != 0xed || int(binary.LittleEndian.Uint16(r[1:])) != len(r)-3 || !bytes.HasPrefix(r[3:], []byte("NTLMSSP\x00\x02")) {
		t.Fatalf("SSPI reply %x", res.Reply)
	}
	if !bytes.Contains(r, utf16le("SQL01")) || string(r[3+24:3+32]) != "\x01\x23\x45\x67\x89\xab\xcd\xef" {
		t.Errorf("challenge %x", r)
	}
	if f := fields(res.Fields); f["integrated_security"] != true || f["ntlm_type"] != 1 {
		t.Errorf("login7 fields %v", res.Fields)
	}
	res = h.Serve(c, capture(t, "impacket_ntlm_sspi"))
	f := fields(res.Fields)
	a, _ := f["auth"].(event.Auth)
	if a.Protocol != "mssql" || a.User != "bob" || a.Format != "netntlmv2" || !strings.HasPrefix(a.Hash, "bob::CORP:0123456789abcdef:") {
		t.Errorf("auth %+v", a)
	}
	if !res.Close || !bytes.Contains(res.Reply, utf16le(`Login failed for user 'CORP\bob'.`)) {
		t.Errorf("reply %q", res.Reply)
	}
}

func TestMalformed(t *testing.T) {
	h := New()
	for _, in := range [][]byte{
		[]byte("\x10\x01\x00\x10\x00\x00\x00\x00\x08\x00\x00\x00\x04\x00\x00\x74"),        // truncated Login7
		[]byte("\x12\x01\x00\x0d\x00\x00\x00\x00\x01\xff\xff\x00\x10"),                    // option past the end
		[]byte("\x12\x01\x00\x04\x00\x00\x00\x00"),                                        // length below the header
		[]byte("\x01\x01\x00\x0c\x00\x00\x00\x00abcd"),                                    // SQL batch before login
		append([]byte("\x10\x00\x00\x10\x00\x00\x00\x00"), bytes.Repeat([]byte{1}, 8)...), // Login7 not ended
	} {
		c := conn()
		apptest.Drive(t, h, c, in, apptest.Limits{NoUDPReply: true})
	}
	if unscramble([]byte{0xb3, 0xa5})[0] != 'a' {
		t.Errorf("unscramble %x", unscramble([]byte{0xb3, 0xa5}))
	}
}

func FuzzMSSQL(f *testing.F) {
	for _, n := range []string{"tsql_prelogin", "tsql_login7", "impacket_ntlm_sspi"} {
		f.Add(capture(f, n))
	}
	h := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		apptest.Drive(t, h, conn(), b, apptest.Limits{NoUDPReply: true})
		c := conn()
		c.Transport = app.UDP
		apptest.Drive(t, h, c, b, apptest.Limits{NoUDPReply: true})
	})
}
