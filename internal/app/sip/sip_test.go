package sip

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(t app.Transport) *app.Conn {
	c := apptest.Conn(t, "linux", "203.0.113.5:5062", "198.51.100.1:5060", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	c.Rand = func(p []byte) {
		for i := range p {
			p[i] = byte(0xa0 + i)
		}
	}
	return c
}

func fieldMap(fs []event.Field) map[string]any {
	m := map[string]any{}
	for _, f := range fs {
		m[f.Key] = f.Value
	}
	return m
}

const optionsReq = "OPTIONS sip:100@198.51.100.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 203.0.113.5:5062;branch=z9hG4bK-1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: \"sipvicious\"<sip:100@1.1.1.1>\r\n" +
	"From: \"sipvicious\"<sip:100@1.1.1.1>;tag=6331\r\n" +
	"User-Agent: friendly-scanner\r\n" +
	"Call-ID: 123456789\r\n" +
	"Contact: sip:100@203.0.113.5:5062\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Accept: application/sdp\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in  string
		tr  app.Transport
		out app.Verdict
	}{
		{optionsReq, app.UDP, app.Yes},
		{optionsReq, app.TCP, app.Yes},
		{"OPTIONS sip:nm SIP/2.0\r\n", app.UDP, app.Yes},
		{"REGISTER sips:x SIP/2.0\n", app.UDP, app.Yes},
		{"INVITE tel:+123 sip/2.0\r\n", app.UDP, app.Yes},
		{"OPTIONS sip:nm HTTP/1.1\r\n", app.UDP, app.No},
		{"OPTIONS sip:nm SIP/2.0", app.UDP, app.No}, // no line end
		{"OPTIONS / HTTP/1.1\r\n", app.UDP, app.No},
		{"OPTIONS / HTTP/1.1\r\n", app.TCP, app.No},
		{"GET / HTTP/1.0\r\n", app.TCP, app.No},
		{"OPTIONS * HTTP/1.1\r\n", app.TCP, app.No},
		{"REG", app.TCP, app.Maybe},
		{"REG", app.UDP, app.No},
		{"OPTIONS ", app.TCP, app.Maybe},
		{"OPTIONS si", app.TCP, app.Maybe},
		{"OPTIONS sip", app.TCP, app.Maybe},
		{"OPTIONS sip:", app.TCP, app.Yes},
		{"FOO sip:", app.TCP, app.Yes},
		{"FOO", app.TCP, app.No},
		{"SIP/2.0 200 OK\r\n", app.UDP, app.No},
		{"\x10\x10\x00\x04MQTT", app.TCP, app.No},
		{"", app.TCP, app.Maybe},
		{"", app.UDP, app.No},
	} {
		if got := h.Detect([]byte(tc.in), tc.tr); got != tc.out {
			t.Errorf("Detect(%q, %v) = %v, want %v", tc.in, tc.tr, got, tc.out)
		}
	}
}

func TestOptions(t *testing.T) {
	c := conn(app.UDP)
	res := New().Serve(c, []byte(optionsReq))
	want := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP 203.0.113.5:5062;branch=z9hG4bK-1;received=203.0.113.5;rport=5062\r\n" +
		"From: \"sipvicious\"<sip:100@1.1.1.1>;tag=6331\r\n" +
		"To: \"sipvicious\"<sip:100@1.1.1.1>;tag=asa0a1a2a3\r\n" +
		"Call-ID: 123456789\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Server: Asterisk PBX 18.20.2\r\n" +
		"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n" +
		"Supported: replaces, timer\r\n" +
		"Contact: <sip:198.51.100.1:5060>\r\n" +
		"Accept: application/sdp\r\n" +
		"Content-Length: 0\r\n\r\n"
	if string(res.Reply) != want {
		t.Fatalf("reply\n%s\nwant\n%s", res.Reply, want)
	}
	if res.Consumed != len(optionsReq) {
		t.Errorf("consumed %d", res.Consumed)
	}
	f := fieldMap(res.Fields)
	for k, v := range map[string]any{"method": "OPTIONS", "uri": "sip:100@198.51.100.1", "user_agent": "friendly-scanner",
		"call_id": "123456789", "from": "\"sipvicious\"<sip:100@1.1.1.1>;tag=6331", "to": "\"sipvicious\"<sip:100@1.1.1.1>",
		"contact": "sip:100@203.0.113.5:5062", "status": 200} {
		if f[k] != v {
			t.Errorf("field %s = %v, want %v", k, f[k], v)
		}
	}
	// a profile's banner
	c.Banners = map[string]string{"sip": "FPBX-16.0.40.7(18.20.2)"}
	res = New().Serve(c, []byte(optionsReq))
	if !strings.Contains(string(res.Reply), "\r\nServer: FPBX-16.0.40.7(18.20.2)\r\n") {
		t.Errorf("banner: %s", res.Reply)
	}
}

func TestNmap(t *testing.T) {
	for _, tr := range []struct {
		proto string
		t     app.Transport
	}{{"UDP", app.UDP}, {"TCP", app.TCP}} {
		probe := apptest.NmapProbe(t, tr.proto, "SIPOptions")
		c := conn(tr.t)
		c.MaxReply = 3 * len(probe)
		h := New()
		if h.Detect(probe, tr.t) != app.Yes {
			t.Fatalf("%s probe not detected", tr.proto)
		}
		res := h.Serve(c, probe)
		if res.Consumed != len(probe) {
			t.Errorf("%s: consumed %d of %d", tr.proto, res.Consumed, len(probe))
		}
		apptest.NmapNamesProto(t, tr.proto, "SIPOptions", res.Reply, "Asterisk PBX")
		c.Banners = map[string]string{"sip": "FPBX-16.0.40.7(18.20.2)"}
		apptest.NmapNamesProto(t, tr.proto, "SIPOptions", h.Serve(c, probe).Reply, "FreePBX")
	}
}

func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		method, status, chal string
	}{
		{"REGISTER", "401 Unauthorized", "WWW-Authenticate"},
		{"SUBSCRIBE", "401 Unauthorized", "WWW-Authenticate"},
		{"INVITE", "407 Proxy Authentication Required", "Proxy-Authenticate"},
		{"PUBLISH", "407 Proxy Authentication Required", "Proxy-Authenticate"},
		{"BYE", "481 Call leg/transaction does not exist", ""},
		{"CANCEL", "481 Call leg/transaction does not exist", ""},
		{"MESSAGE", "405 Method Not Allowed", ""},
		{"FOO", "501 Method Not Implemented", ""},
		{"ACK", "", ""},
	} {
		req := strings.ReplaceAll(optionsReq, "OPTIONS", tc.method)
		res := New().Serve(conn(app.UDP), []byte(req))
		if tc.status == "" {
			if res.Reply != nil || res.Consumed != len(req) {
				t.Errorf("%s: reply %q consumed %d", tc.method, res.Reply, res.Consumed)
			}
			continue
		}
		if !strings.HasPrefix(string(res.Reply), "SIP/2.0 "+tc.status+"\r\n") {
			t.Errorf("%s: %q", tc.method, res.Reply)
		}
		if strings.Contains(string(res.Reply), "Contact:") {
			t.Errorf("%s: Contact in a non-2xx: %q", tc.method, res.Reply)
		}
		if !strings.Contains(string(res.Reply), "\r\nCSeq: 1 "+tc.method+"\r\n") {
			t.Errorf("%s: CSeq: %q", tc.method, res.Reply)
		}
		hasChal := strings.Contains(string(res.Reply), "\r\n"+tc.chal+": Digest algorithm=MD5, realm=\"asterisk\", nonce=\"a0a1a2a3\"\r\n")
		if tc.chal != "" && !hasChal {
			t.Errorf("%s: no challenge: %q", tc.method, res.Reply)
		}
	}
}

// sipsak's REGISTER with the digest computed for password "secret".
func TestDigest(t *testing.T) {
	md5hex := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	uri := "sip:198.51.100.1"
	resp := md5hex(md5hex("100:asterisk:secret") + ":a0a1a2a3:" + md5hex("REGISTER:"+uri))
	req := "REGISTER " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 203.0.113.5:39481;branch=z9hG4bK.0e1d;rport\r\n" +
		"From: sip:100@198.51.100.1;tag=1e4f\r\n" +
		"To: sip:100@198.51.100.1\r\n" +
		"Call-ID: 7712@203.0.113.5\r\n" +
		"CSeq: 2 REGISTER\r\n" +
		"Contact: sip:100@203.0.113.5:39481\r\n" +
		"Authorization: Digest username=\"100\", realm=\"asterisk\", algorithm=MD5, uri=\"" + uri + "\", nonce=\"a0a1a2a3\", response=\"" + resp + "\"\r\n" +
		"Expires: 15\r\n" +
		"Content-Length: 0\r\n" +
		"Max-Forwards: 70\r\n" +
		"User-Agent: sipsak 0.9.8.1\r\n\r\n"
	res := New().Serve(conn(app.UDP), []byte(req))
	if !strings.HasPrefix(string(res.Reply), "SIP/2.0 403 Forbidden\r\n") || strings.Contains(string(res.Reply), "Authenticate") {
		t.Fatalf("reply %q", res.Reply)
	}
	f := fieldMap(res.Fields)
	a, ok := f["auth"].(event.Auth)
	if !ok {
		t.Fatalf("no auth: %v", f)
	}
	want := "$sip$*198.51.100.1*203.0.113.5*100*asterisk*REGISTER*sip*198.51.100.1**a0a1a2a3****MD5*" + resp
	if a.Protocol != "sip" || a.User != "100" || a.Hash != want || a.Format != "sip-digest" || a.Success {
		t.Errorf("auth %+v\nwant hash %s", a, want)
	}
	if f["digest_response"] != resp || f["digest_nonce"] != "a0a1a2a3" || f["user_agent"] != "sipsak 0.9.8.1" {
		t.Errorf("fields %v", f)
	}
	// the hash verifies: recompute from its parts as hashcat does
	p := strings.Split(a.Hash, "*")
	u := p[6] + ":" + p[7]
	if p[8] != "" {
		u += ":" + p[8]
	}
	if md5hex(md5hex(p[3]+":"+p[4]+":secret")+":"+p[9]+":"+md5hex(p[5]+":"+u)) != p[14] {
		t.Errorf("hash does not verify")
	}
}

func TestParseDigest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{`Digest username="a\"b", realm=asterisk,nonce="n,1"`, map[string]string{"username": `a"b`, "realm": "asterisk", "nonce": "n,1"}},
		{`digest response="x"`, map[string]string{"response": "x"}},
		{`Basic YWxhZGRpbjpvcGVuc2VzYW1l`, nil},
		{`Digest`, nil},
		{`Digest username="unterminated`, map[string]string{"username": "unterminated"}},
		{`Digest =x, username=y`, nil},
	} {
		d, ok := parseDigest(tc.in)
		if ok != (tc.want != nil) {
			t.Errorf("%q: ok %v", tc.in, ok)
			continue
		}
		for k, v := range tc.want {
			if d[k] != v {
				t.Errorf("%q: %s = %q, want %q", tc.in, k, d[k], v)
			}
		}
	}
}

func TestHashcatURI(t *testing.T) {
	for _, tc := range []struct{ uri, parts string }{
		{"sip:100@192.0.2.1", "sip*100@192.0.2.1*"},
		{"sip:192.0.2.1:5060", "sip*192.0.2.1*5060"},
		{"sip:[2001:db8::1]:5060", "sip*[2001*db8::1]:5060"},
		{"nouri", "*nouri*"},
	} {
		h := Hashcat("s", "c", "REGISTER", digest{"username": "u", "uri": tc.uri, "response": "R"})
		if !strings.Contains(h, "*REGISTER*"+tc.parts+"*") {
			t.Errorf("%s: %s", tc.uri, h)
		}
	}
}

func TestUDPCap(t *testing.T) {
	req := []byte(optionsReq)
	full := New().Serve(conn(app.UDP), req).Reply
	var r request
	r, _ = parse(req, true)
	small := build(conn(app.UDP), &r, 200, "OK", r.to+";tag=asa0a1a2a3", "", "", 2)
	if !strings.HasPrefix(string(small), "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 203.0.113.5:5062;branch=z9hG4bK-1;received=203.0.113.5;rport=5062\r\nf: ") {
		t.Fatalf("compact form %q", small)
	}
	for _, cap := range []int{len(full), len(full) - 1, 300, len(small), len(small) - 1, 100} {
		c := conn(app.UDP)
		c.MaxReply = cap
		r := New().Serve(c, req).Reply
		switch {
		case len(r) > cap:
			t.Errorf("cap %d: %d bytes", cap, len(r))
		case cap >= len(small) && r == nil:
			t.Errorf("cap %d: no reply", cap)
		case cap < len(small) && r != nil:
			t.Errorf("cap %d: %q", cap, r)
		case cap < len(full) && r != nil && strings.Contains(string(r), "Allow:"):
			t.Errorf("cap %d: not reduced: %q", cap, r)
		}
	}
}

func TestTCPStream(t *testing.T) {
	h := New()
	c := conn(app.TCP)
	invite := "INVITE sip:100@198.51.100.1 SIP/2.0\r\nv: SIP/2.0/TCP 203.0.113.5:5062;branch=z9hG4bK2\r\nf: <sip:a@b>;tag=1\r\n" +
		"t: <sip:100@198.51.100.1>\r\ni: abc\r\nCSeq: 1 INVITE\r\nc: application/sdp\r\nl: 10\r\n\r\nv=0\r\no=x\r\n"
	stream := "\r\n\r\n" + optionsReq + invite
	// fed byte by byte as the stack may
	var replies []string
	buf := []byte{}
	for i := 0; i < len(stream); i++ {
		buf = append(buf, stream[i])
		for len(buf) > 0 {
			res := h.Serve(c, buf)
			if res.NeedMore {
				break
			}
			if res.Consumed == 0 {
				t.Fatalf("rejected at %d: %q", i, buf)
			}
			if len(res.Reply) > 0 {
				replies = append(replies, string(res.Reply))
			}
			buf = buf[res.Consumed:]
		}
	}
	if len(buf) != 0 || len(replies) != 3 {
		t.Fatalf("left %q, replies %q", buf, replies)
	}
	if replies[0] != "\r\n" || !strings.HasPrefix(replies[1], "SIP/2.0 200 OK\r\n") ||
		!strings.Contains(replies[1], "Contact: <sip:198.51.100.1:5060;transport=TCP>\r\n") ||
		!strings.HasPrefix(replies[2], "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/TCP 203.0.113.5:5062;branch=z9hG4bK2;received=203.0.113.5;rport=5062\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@198.51.100.1>;tag=asa0a1a2a3\r\nCall-ID: abc\r\n") {
		t.Errorf("replies %q", replies)
	}
	// a huge body is skipped as it comes
	c = conn(app.TCP)
	big := "MESSAGE sip:a SIP/2.0\r\nVia: SIP/2.0/TCP x\r\nContent-Length: 100000\r\n\r\n"
	res := h.Serve(c, []byte(big+"xxxx"))
	if res.Consumed != len(big)+4 || !strings.HasPrefix(string(res.Reply), "SIP/2.0 405 ") {
		t.Fatalf("big: %+v", res)
	}
	res = h.Serve(c, make([]byte, 99996))
	if res.Consumed != 99996 || res.Reply != nil {
		t.Fatalf("skip: %d %q", res.Consumed, res.Reply)
	}
	if res = h.Serve(c, []byte(optionsReq)); !strings.HasPrefix(string(res.Reply), "SIP/2.0 200 OK") {
		t.Fatalf("after skip: %q", res.Reply)
	}
	// a client's response is consumed silently; garbage is rejected
	c = conn(app.TCP)
	if res = h.Serve(c, []byte("SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nab")); res.Consumed != 39 || res.Reply != nil {
		t.Errorf("response: %+v", res)
	}
	if res = h.Serve(c, []byte("HELLO\r\n\r\n")); res.Consumed != 0 || res.Reply != nil || res.NeedMore {
		t.Errorf("garbage: %+v", res)
	}
	// an endless head is refused
	if res = h.Serve(c, []byte("OPTIONS sip:a SIP/2.0\r\nX: "+strings.Repeat("a", maxHead))); res.Consumed != 0 || res.NeedMore {
		t.Errorf("long head: %+v", res)
	}
}

func TestNoVia(t *testing.T) {
	req := "OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n"
	res := New().Serve(conn(app.UDP), []byte(req))
	if res.Reply != nil || fieldMap(res.Fields)["method"] != "OPTIONS" {
		t.Errorf("%+v", res)
	}
}

func TestIPv6(t *testing.T) {
	c := apptest.Conn(app.UDP, "linux", "[2001:db8::5]:5060", "[2001:db8::1]:5060", time.Time{})
	res := New().Serve(c, []byte(optionsReq))
	if !strings.Contains(string(res.Reply), ";received=2001:db8::5;rport=5060\r\n") ||
		!strings.Contains(string(res.Reply), "Contact: <sip:[2001:db8::1]:5060>\r\n") {
		t.Errorf("%s", res.Reply)
	}
}

func FuzzServe(f *testing.F) {
	f.Add([]byte(optionsReq))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			c := conn(tr)
			c.MaxReply = 3 * len(data)
			apptest.Drive(t, h, c, data, apptest.Limits{FitsCap: true})
		}
	})
}
