package ivre

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

var (
	client = netip.MustParseAddr("198.51.100.7")
	us     = netip.MustParseAddr("192.0.2.2")
	t0     = time.Unix(1700000000, 250_000_000)
)

func tcpEv(dport uint16, uid uint64, a *event.App) event.Event {
	return event.Event{Time: t0, Verdict: event.Received, Layer: "tcp", SrcIP: client, DstIP: us, IPProto: 6,
		SrcPort: 40000, DstPort: dport, TCPFlags: 0x18, UID: uid, App: a, PayloadLen: 10}
}

func udpEv(dport uint16, a *event.App) event.Event {
	return event.Event{Time: t0, Verdict: event.Answered, Layer: "udp", SrcIP: client, DstIP: us, IPProto: 17,
		SrcPort: 40000, DstPort: dport, App: a, PayloadLen: 20}
}

func f(k string, v any) event.Field { return event.Field{Key: k, Value: v} }

// TestRecords: the records of each kind of event, as JSON lines, against
// the shapes of IVRE's passiverecon script.
func TestRecords(t *testing.T) {
	const uid = 62 // C00000000010
	kex := []string{"curve25519-sha256", "ext-info-c"}
	enc := []string{"aes128-ctr", "aes256-gcm@openssh.com"}
	mac := []string{"hmac-sha2-256"}
	comp := []string{"none", "zlib@openssh.com"}
	syn := event.Event{Time: t0, Verdict: event.Answered, Layer: "tcp", SrcIP: client, DstIP: us, IPProto: 6,
		SrcPort: 40000, DstPort: 8080, TCPFlags: 0x02, Reply: "syn-ack"}
	synClosed := syn
	synClosed.Reason, synClosed.Reply = event.ReasonClosedPort, "rst-ack"
	synDropped := syn
	synDropped.Verdict, synDropped.Reason = event.Dropped, event.ReasonTCPFlags
	synV6 := syn
	synV6.SrcIP, synV6.DstIP = netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8::2")
	stun := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	httpRaw := "GET /a%20b?x=\"1\" HTTP/1.1\r\nHost: 192.0.2.2\r\nUser-Agent: curl/7.88.1\r\n" +
		"Authorization: Basic cm9vdDp0b29y\r\nX-Forwarded-For: 203.0.113.9\r\nAccept: */*\r\n\r\n"
	greeted := tcpEv(21, uid, &event.App{Proto: "ftp", Fields: []event.Field{f("command", "USER"), f("argument", "anonymous")},
		Raw: []byte("USER anonymous\r\n")})
	for _, tc := range []struct {
		name  string
		evs   []event.Event
		lines []string
	}{
		{"SYN: a connection attempt", []event.Event{syn}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::TCP_HONEYPOT_HIT","source":"tcp/8080","value":""}`}},
		{"SYN over IPv6", []event.Event{synV6}, []string{
			`{"ts":1700000000.250000,"host":"2001:db8::7","recon_type":"PassiveRecon::TCP_HONEYPOT_HIT","source":"tcp/8080","value":""}`}},
		{"SYN to a closed port, dropped SYN: nothing", []event.Event{synClosed, synDropped}, nil},
		{"UDP datagram, no protocol", []event.Event{udpEv(9999, nil)}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::UDP_HONEYPOT_HIT","source":"udp/9999","value":""}`}},
		{"STUN binding request", []event.Event{udpEv(3478, &event.App{Proto: "stun", Raw: stun})}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::STUN_HONEYPOT_REQUEST","source":"udp/3478","value":"\\x00\\x01\\x00\\x00!\\x12\\xa4B\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\x0a\\x0b\\x0c"}`}},
		{"DNS query over UDP", []event.Event{udpEv(53, &event.App{Proto: "dns", Raw: []byte("\x12\x34"),
			Fields: []event.Field{f("id", 0x1234), f("qname", "www.example.com."), f("qtype", "ANY"), f("qclass", "IN")}})}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::UDP_HONEYPOT_HIT","source":"udp/53","value":"\\x124"}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::DNS_HONEYPOT_QUERY","source":"udp/53-*-C_INTERNET","value":"www.example.com"}`}},
		{"DNS query over TCP, unnamed type and class", []event.Event{tcpEv(53, 0, &event.App{Proto: "dns",
			Fields: []event.Field{f("qname", "a.example."), f("qtype", "TYPE3"), f("qclass", "CLASS7")}})}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::DNS_HONEYPOT_QUERY","source":"tcp/53-TYPE3-CLASS7","value":"a.example"}`}},
		{"HTTP request: first bytes, request, client headers", []event.Event{tcpEv(80, uid, &event.App{Proto: "http", Raw: []byte(httpRaw),
			Fields: []event.Field{f("method", "GET"), f("path", `/a%20b?x="1"`), f("version", "HTTP/1.1"), f("host", "192.0.2.2"),
				f("user_agent", "curl/7.88.1"), event.AuthField("http", "root", "toor", false)}})}, []string{
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::TCP_HONEYPOT_HIT","source":"tcp/80","value":"GET /a%20b?x=\"1\" HTTP/1.1\\x0d\\x0aHost: 192.0.2.2\\x0d\\x0aUser-Agent: curl/7.88.1\\x0d\\x0aAuthorization: Basic cm9vdDp0b29y\\x0d\\x0aX-Forwarded-For: 203.0.113.9\\x0d\\x0aAccept: */*\\x0d\\x0a\\x0d\\x0a"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_HONEYPOT_REQUEST","source":"GET-1.1-tcp/80","value":"/a%20b?x=\"1\""}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_CLIENT_HEADER","source":"USER-AGENT","value":"curl/7.88.1"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_CLIENT_HEADER","source":"AUTHORIZATION","value":"Basic cm9vdDp0b29y"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_CLIENT_HEADER","source":"X-FORWARDED-FOR","value":"203.0.113.9"}`}},
		{"HTTP: a second request on the connection, head cut: fields", []event.Event{
			tcpEv(80, uid, &event.App{Proto: "http", Raw: []byte("GET / HTTP/1.0\r\n\r\n"), Fields: []event.Field{f("method", "GET"), f("path", "/"), f("version", "HTTP/1.0")}}),
			tcpEv(80, uid, &event.App{Proto: "http", Raw: []byte("POST /x HTTP/1.1\r\nUser-Ag"),
				Fields: []event.Field{f("method", "POST"), f("path", "/x"), f("version", "HTTP/1.1"), f("user_agent", "Mozilla\\x01"),
					event.AuthHashField("http", "", "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==", "ntlm", false)}}),
		}, []string{
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::TCP_HONEYPOT_HIT","source":"tcp/80","value":"GET / HTTP/1.0\\x0d\\x0a\\x0d\\x0a"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_HONEYPOT_REQUEST","source":"GET-1.0-tcp/80","value":"/"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_HONEYPOT_REQUEST","source":"POST-1.1-tcp/80","value":"/x"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_CLIENT_HEADER","source":"USER-AGENT","value":"Mozilla\\x01"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::HTTP_CLIENT_HEADER","source":"AUTHORIZATION","value":"NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="}`}},
		{"HTTP/0.9: no request record", []event.Event{tcpEv(80, 0, &event.App{Proto: "http", Fields: []event.Field{f("method", "GET"), f("path", "/"), f("version", "HTTP/0.9")}})}, nil},
		{"we spoke first: no first-bytes record; FTP USER", []event.Event{
			{Time: t0, Verdict: event.Answered, Layer: "tcp", SrcIP: client, DstIP: us, IPProto: 6, SrcPort: 40000, DstPort: 21, TCPFlags: 0x10, UID: uid, Reply: "greeting"},
			greeted,
			tcpEv(21, uid, &event.App{Proto: "ftp", Fields: []event.Field{f("command", "PASS"), f("argument", "a\\b"), f("user", "anonymous"), f("password", "a\\b"), event.AuthField("ftp", "anonymous", "a\\b", false)}}),
		}, []string{
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::FTP_CLIENT","source":"USER","value":"anonymous"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::FTP_CLIENT","source":"PASS","value":"a\\\\b"}`}},
		{"POP3 USER", []event.Event{tcpEv(110, 0, &event.App{Proto: "pop3", Fields: []event.Field{f("command", "user"), f("argument", "bob")}})}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::POP_CLIENT","source":"USER","value":"bob"}`}},
		{"SSH banner and KEXINIT", []event.Event{
			tcpEv(22, uid, &event.App{Proto: "ssh", Fields: []event.Field{f("banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2"), f("version", "2.0"), f("software", "OpenSSH_9.2p1")}}),
			tcpEv(22, uid, &event.App{Proto: "ssh", Fields: []event.Field{f("kex_algorithms", kex), f("host_key_algorithms", []string{"ssh-ed25519"}),
				f("encryption_c2s", enc), f("mac_c2s", mac), f("compression_c2s", comp), f("hassh", "ignored")}}),
		}, []string{
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT","value":"SSH-2.0-OpenSSH_9.2p1 Debian-2"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT_ALGOS","source":"kex_algorithms","value":"curve25519-sha256 ext-info-c"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT_ALGOS","source":"server_host_key_algorithms","value":"ssh-ed25519"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT_ALGOS","source":"encryption_algorithms","value":"aes128-ctr aes256-gcm@openssh.com"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT_ALGOS","source":"mac_algorithms","value":"hmac-sha2-256"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT_ALGOS","source":"compression_algorithms","value":"none zlib@openssh.com"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::SSH_CLIENT_HASSH","source":"hassh-v1.1","value":"curve25519-sha256,ext-info-c;aes128-ctr,aes256-gcm@openssh.com;hmac-sha2-256;none,zlib@openssh.com"}`}},
		{"SSH password (library event): AUTH_CLIENT", []event.Event{func() event.Event {
			e := tcpEv(22, uid, &event.App{Proto: "ssh", Fields: []event.Field{f("auth_method", "password"), f("user", "root"),
				f("password", "123456"), event.AuthField("ssh", "root", "123456", false)}})
			e.Kind = event.KindApp
			return e
		}()}, []string{
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::AUTH_CLIENT","source":"SSH-USER","value":"root"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::AUTH_CLIENT","source":"SSH-PASS","value":"123456"}`}},
		{"hash credential: AUTH_CLIENT HASH", []event.Event{tcpEv(3306, 0, &event.App{Proto: "mysql", Fields: []event.Field{
			event.AuthHashField("mysql", "root", "00ff", "mysql_native_password", false)}})}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::AUTH_CLIENT","source":"MYSQL-USER","value":"root"}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::AUTH_CLIENT","source":"MYSQL-HASH-mysql_native_password","value":"00ff"}`}},
		{"TLS ClientHello", []event.Event{func() event.Event {
			e := tcpEv(443, 0, &event.App{Proto: "tls", Fields: []event.Field{f("client_hello", true),
				f("ja3", "771,4865-4866,0-23-65281,29-23,0"), f("ja3_hash", "x"), f("ja4", "t13d0203h2_aaaaaaaaaaaa_bbbbbbbbbbbb"),
				f("ja4_r", "t13d0203h2_1301,1302_000a,000d_0403")}})
			e.Kind = event.KindApp
			return e
		}()}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::SSL_CLIENT","source":"ja3","value":"771,4865-4866,0-23-65281,29-23,0"}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::SSL_CLIENT","source":"ja4","value":"t13d0203h2_1301,1302_000a,000d_0403"}`}},
		{"NTLM over SMB: negotiate, flags; authenticate", []event.Event{
			tcpEv(445, 0, &event.App{Proto: "smb", Fields: []event.Field{f("command", "SESSION_SETUP"), f("ntlm_type", 1), f("ntlm_flags", "e2088297"),
				f("domain", "WORKGROUP"), f("ntlm_os_version", "10.0.19041")}}),
			tcpEv(445, 0, &event.App{Proto: "smb", Fields: []event.Field{f("ntlm_type", 3), f("ntlm_flags", "e2888215"), f("user", "alice"),
				f("domain", "CORP"), f("workstation", "PC1"), f("ntlm_version", "NTLMv2"), event.AuthHashField("smb", "alice", "h", "netntlmv2", false)}}),
		}, []string{
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::NTLM_NEGOTIATE","source":"tcp-SMB","value":"NetBIOS_Domain_Name:V09SS0dST1VQ,Product_Version:MTAuMC4xOTA0MQ=="}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::NTLM_CLIENT_FLAGS","source":"tcp-SMB","value":"ntlm-fingerprint:0xe2088297"}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::NTLM_AUTHENTICATE","source":"tcp-SMB","value":"NetBIOS_Domain_Name:Q09SUA==,User_Name:YWxpY2U=,Workstation:UEMx"}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::AUTH_CLIENT","source":"SMB-USER","value":"alice"}`,
			`{"ts":1700000000.250000,"host":"198.51.100.7","recon_type":"PassiveRecon::AUTH_CLIENT","source":"SMB-HASH-netntlmv2","value":"h"}`}},
		{"connection end: nothing, state forgotten", []event.Event{
			greeted,
			{Time: t0, Kind: event.KindConnEnd, Verdict: event.Received, Layer: "tcp", SrcIP: client, DstIP: us, IPProto: 6, UID: uid,
				Conn: event.ConnEnd{End: event.EndFIN}},
			greeted,
		}, []string{
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::TCP_HONEYPOT_HIT","source":"tcp/21","value":"USER anonymous\\x0d\\x0a"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::FTP_CLIENT","source":"USER","value":"anonymous"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::TCP_HONEYPOT_HIT","source":"tcp/21","value":"USER anonymous\\x0d\\x0a"}`,
			`{"ts":1700000000.250000,"uid":"C00000000010","host":"198.51.100.7","recon_type":"PassiveRecon::FTP_CLIENT","source":"USER","value":"anonymous"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			for i := range tc.evs {
				if err := w.Write(&tc.evs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				got = nil
			}
			if len(got) != len(tc.lines) {
				t.Errorf("%d lines, want %d:\n%s", len(got), len(tc.lines), buf.String())
			}
			for i := range min(len(got), len(tc.lines)) {
				if got[i] != tc.lines[i] {
					t.Errorf("line %d:\n got %s\nwant %s", i, got[i], tc.lines[i])
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(got[i]), &m); err != nil {
					t.Errorf("line %d is not JSON: %v", i, err)
				}
			}
			if w.Records() != uint64(len(got)) {
				t.Errorf("Records %d, lines %d", w.Records(), len(got))
			}
		})
	}
	// IVRE hashes the HASSH string itself: its MD5 is the SSH handler's
	// "hassh" (the same lists, the same order)
	raw := HASSHRaw(kex, enc, mac, comp)
	sum := md5.Sum([]byte(strings.Join(kex, ",") + ";" + strings.Join(enc, ",") + ";" + strings.Join(mac, ",") + ";" + strings.Join(comp, ",")))
	if want := hex.EncodeToString(sum[:]); hex.EncodeToString(func() []byte { s := md5.Sum([]byte(raw)); return s[:] }()) != want {
		t.Errorf("HASSH raw %q does not hash to %s", raw, want)
	}
}

// TestZeekEscaping: values are zeek's escaping of their bytes (IVRE's
// zeek_encode_data), inside JSON.
func TestZeekEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{"a\\b", `"a\\\\b"`},
		{"q\"", `"q\""`},
		{"\x00\x7f\xff é", `"\\x00\\x7f\\xff \\xc3\\xa9"`},
	} {
		if got := string(appendZeekString(nil, tc.in)); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := unPrintable(`a\x00b\x7\xzz\x41`); got != "a\x00b\\x7\\xzzA" {
		t.Errorf("unPrintable: %q", got)
	}
}
