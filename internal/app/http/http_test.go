package http

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

var now = time.Date(2003, 7, 1, 10, 52, 37, 0, time.UTC)

func conn(t app.Transport, pers string) *app.Conn {
	return apptest.Conn(t, pers, "192.0.2.1:40000", "198.51.100.1:80", now)
}

const upstreamReply = "HTTP/1.1 401 Unauthorized\n" +
	"Server: nginx/1.14.2\n" +
	"Date: Tue, 1 Jul 2003 10:52:37 +0000\n" +
	"Content-Type: text/html\n" +
	"Content-Length: 188\n" +
	"Connection: keep-alive\n" +
	"WWW-Authenticate: Basic realm=\"Access to admin page\"\n" +
	"\n" +
	"<html>\n" +
	"<head><title>401 Authorization Required</title></head>\n" +
	"<body bgcolor=\"white\">\n" +
	"<center><h1>401 Authorization Required</h1></center>\n" +
	"<hr><center>nginx/1.14.2</center>\n" +
	"</body>\n" +
	"</html>\n" +
	"\n"

func linuxReply(conn string, body bool) string {
	s := "HTTP/1.1 401 Unauthorized\r\n" +
		"Server: nginx/1.22.1\r\n" +
		"Date: Tue, 01 Jul 2003 10:52:37 GMT\r\n" +
		"Content-Type: text/html\r\n" +
		"Content-Length: 179\r\n" +
		"Connection: " + conn + "\r\n" +
		"WWW-Authenticate: Basic realm=\"Restricted\"\r\n" +
		"\r\n"
	if body {
		s += linuxBody
	}
	return s
}

func TestBodies(t *testing.T) {
	if n := len(upstreamBody); n != 189 {
		t.Errorf("upstream body is %d bytes, want 189", n)
	}
	if n := len(linuxBody); n != 179 {
		t.Errorf("linux body is %d bytes, want 179", n)
	}
}

func TestDetect(t *testing.T) {
	h := New()
	cases := []struct {
		in   string
		want app.Verdict
	}{
		{"GET /", app.Yes},
		{"GET / HTTP/1.1\r\n\r\n", app.Yes},
		{"G", app.Maybe},
		{"GE", app.Maybe},
		{"GET", app.Maybe},
		{"GET ", app.Maybe},
		{"OPTIONS", app.Maybe},
		{"OPTIONS *", app.Yes},
		{"GET *", app.No},
		{"GET http://example.com/ HTTP/1.1", app.Yes},
		{"GET HTTPS://", app.Yes},
		{"GET ht", app.Maybe},
		{"GET x", app.No},
		{"CONNECT example.com:443 HTTP/1.1", app.Yes},
		{"CONNECT [2001:db8::1]:443", app.Yes},
		{"CONNECT /", app.Yes},
		{"PROPFIND / HTTP/1.1", app.Yes},
		{"get / HTTP/1.1", app.No},
		{"GETX / HTTP/1.1", app.No},
		{"SSH-2.0-x\r\n", app.No},
		{"\x00\x01\x00\x00", app.No},
		{"PO", app.Maybe},
		{"POST  /", app.No},
	}
	for _, c := range cases {
		if got := h.Detect([]byte(c.in), app.TCP); got != c.want {
			t.Errorf("Detect(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestServe(t *testing.T) {
	type want struct {
		needMore bool
		consumed int
		reply    string
		close    bool
	}
	cases := []struct {
		name string
		pers string
		tr   app.Transport
		in   string
		want want
	}{
		// upstream §9.2
		{"upstream tcp", "masscanned", app.TCP, "GET / HTTP/1.1\r\n\r\n", want{consumed: 18, reply: upstreamReply}},
		{"upstream udp", "masscanned", app.UDP, "GET / HTTP/1.1\r\n\r\n", want{consumed: 18, reply: upstreamReply}},
		{"upstream segmented", "masscanned", app.TCP, "GET / HTTP/1.1\r\n", want{needMore: true}},
		{"upstream ko", "masscanned", app.TCP, "OPTIONS", want{needMore: true}},
		{"upstream head gets body", "masscanned", app.TCP, "HEAD / HTTP/1.1\n\n", want{consumed: 17, reply: upstreamReply}},
		{"upstream 1.0 LF", "masscanned", app.UDP, "GET / HTTP/1.0\n\n", want{consumed: 16, reply: upstreamReply, close: true}},

		{"linux get", "linux", app.TCP, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", want{consumed: 27, reply: linuxReply("keep-alive", true)}},
		{"linux head", "linux", app.TCP, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", want{consumed: 28, reply: linuxReply("keep-alive", false)}},
		{"linux 1.0", "linux", app.TCP, "GET / HTTP/1.0\r\n\r\n", want{consumed: 18, reply: linuxReply("close", true), close: true}},
		{"linux 1.0 keep-alive", "linux", app.TCP, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", want{consumed: 42, reply: linuxReply("keep-alive", true)}},
		{"linux close", "linux", app.TCP, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", want{consumed: 37, reply: linuxReply("close", true), close: true}},
		{"linux 0.9", "linux", app.TCP, "GET /\r\n", want{consumed: 7, reply: linuxBody, close: true}},
		{"body", "linux", app.TCP, "POST /login HTTP/1.1\r\nContent-Length: 3\r\n\r\na=b", want{consumed: 46, reply: linuxReply("keep-alive", true)}},
		{"body incomplete", "linux", app.TCP, "POST /login HTTP/1.1\r\nContent-Length: 3\r\n\r\na", want{needMore: true}},
		{"body incomplete udp", "linux", app.UDP, "POST /login HTTP/1.1\r\nContent-Length: 3\r\n\r\na", want{consumed: 44, reply: linuxReply("keep-alive", true)}},
		{"body too large", "linux", app.TCP, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc", want{consumed: 46, reply: linuxReply("close", true), close: true}},
		{"chunked", "linux", app.TCP, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", want{consumed: 60, reply: linuxReply("close", true), close: true}},
		{"absolute form", "linux", app.TCP, "GET http://example.com/ HTTP/1.1\r\n\r\n", want{consumed: 36, reply: linuxReply("keep-alive", true)}},
		{"connect", "linux", app.TCP, "CONNECT example.com:443 HTTP/1.1\r\n\r\n", want{consumed: 36, reply: linuxReply("keep-alive", true)}},
		{"leading CRLF", "linux", app.TCP, "\r\n", want{consumed: 2}},
		{"non-utf8", "linux", app.TCP, "GET /\xff\xfe HTTP/1.1\r\nUser-Agent: \xc3\x28\r\n\r\n", want{consumed: 36, reply: linuxReply("keep-alive", true)}},

		{"bad method", "linux", app.TCP, "get / HTTP/1.1\r\n\r\n", want{}},
		{"bad version", "linux", app.TCP, "GET / HTTP/x.1\r\n\r\n", want{}},
		{"bad version 2", "linux", app.TCP, "GET / HTTP/2.0\r\n\r\n", want{}},
		{"bad version lower", "linux", app.TCP, "GET / http/1.1\r\n\r\n", want{}},
		{"bad header", "linux", app.TCP, "GET / HTTP/1.1\r\nno colon\r\n\r\n", want{}},
		{"bad content-length", "linux", app.TCP, "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", want{}},
		{"0.9 HEAD", "linux", app.TCP, "HEAD /\r\n", want{}},
		{"garbage partial", "linux", app.TCP, "XYZ", want{}},
		{"partial", "linux", app.TCP, "GET / HTTP/1.1\r\nHost: a", want{needMore: true}},
	}
	h := New()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.Serve(conn(tc.tr, tc.pers), []byte(tc.in))
			if res.NeedMore != tc.want.needMore || res.Consumed != tc.want.consumed ||
				string(res.Reply) != tc.want.reply || res.Close != tc.want.close {
				t.Errorf("got needMore=%v consumed=%d close=%v reply=\n%q\nwant needMore=%v consumed=%d close=%v reply=\n%q",
					res.NeedMore, res.Consumed, res.Close, res.Reply,
					tc.want.needMore, tc.want.consumed, tc.want.close, tc.want.reply)
			}
		})
	}
}

func TestFields(t *testing.T) {
	in := "GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\nX-Bad: \xff\r\n\r\n"
	res := New().Serve(conn(app.TCP, "linux"), []byte(in))
	want := []event.Field{
		{Key: "method", Value: "GET"},
		{Key: "path", Value: "/x?y=1"},
		{Key: "version", Value: "HTTP/1.1"},
		{Key: "host", Value: "example.com"},
		{Key: "user_agent", Value: "curl/8.0"},
		{Key: "headers", Value: []string{"Host", "User-Agent", "Accept", "X-Bad"}},
	}
	if len(res.Fields) != len(want) {
		t.Fatalf("fields %v, want %v", res.Fields, want)
	}
	for i := range want {
		g, w := res.Fields[i], want[i]
		if g.Key != w.Key {
			t.Errorf("field %d key %q want %q", i, g.Key, w.Key)
		}
		if ws, ok := w.Value.([]string); ok {
			gs, _ := g.Value.([]string)
			if strings.Join(gs, ",") != strings.Join(ws, ",") {
				t.Errorf("field %s = %v want %v", g.Key, g.Value, w.Value)
			}
		} else if g.Value != w.Value {
			t.Errorf("field %s = %v want %v", g.Key, g.Value, w.Value)
		}
	}
	res = New().Serve(conn(app.TCP, "linux"), []byte("GET /\xff HTTP/1.1\r\n\r\n"))
	if res.Fields[1].Value != `/\xff` {
		t.Errorf("path = %q", res.Fields[1].Value)
	}
}

func TestPipelined(t *testing.T) {
	h := New()
	c := conn(app.TCP, "linux")
	data := []byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGE")
	var replies int
	for len(data) > 0 {
		res := h.Serve(c, data)
		if res.NeedMore {
			break
		}
		if res.Consumed == 0 {
			t.Fatal("rejected")
		}
		if len(res.Reply) > 0 {
			replies++
		}
		data = data[res.Consumed:]
	}
	if replies != 2 || string(data) != "GE" {
		t.Errorf("replies %d, rest %q", replies, data)
	}
}

func TestMaxReply(t *testing.T) {
	h := New()
	req := []byte("GET / HTTP/1.0\n\n") // 16 bytes
	for _, pers := range []string{"linux", "masscanned"} {
		c := conn(app.UDP, pers)
		c.MaxReply = 3 * len(req)
		res := h.Serve(c, req)
		if len(res.Reply) == 0 || len(res.Reply) > c.MaxReply {
			t.Errorf("%s: reply %d bytes > %d: %q", pers, len(res.Reply), c.MaxReply, res.Reply)
		}
		if !bytes.HasPrefix(res.Reply, []byte("HTTP/1.1 401 Unauthorized")) {
			t.Errorf("%s: reply %q", pers, res.Reply)
		}
		c.MaxReply = 200
		res = h.Serve(c, req)
		if len(res.Reply) > 200 || !bytes.Contains(res.Reply, []byte("WWW-Authenticate")) {
			t.Errorf("%s: compact reply %q", pers, res.Reply)
		}
	}
}

func FuzzServe(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			for _, pers := range []string{"linux", "masscanned"} {
				c := conn(tr, pers)
				c.MaxReply = 3 * len(data)
				apptest.Drive(t, h, c, data, apptest.Limits{FitsCap: true})
			}
		}
	})
}

// TestStreamSegmented drives the handler through an app.Stream, as the
// stack's connection table does: a verb split across segments, then two
// pipelined requests in one segment.
func TestStreamSegmented(t *testing.T) {
	var reg app.Registry
	reg.Register(New(), true, Description)
	var st app.Stream
	st.Reset(app.Conn{Transport: app.TCP, Client: netip.MustParseAddrPort("192.0.2.1:40000"),
		Server: netip.MustParseAddrPort("198.51.100.1:80"), Personality: "linux", Now: now, Rand: func(b []byte) { clear(b) }})
	send := func(p string) []byte {
		r, _, _ := st.Feed(&reg, []byte(p), 1<<16)
		return r
	}
	if r := send("GE"); len(r) != 0 {
		t.Fatalf("reply to a partial verb: %q", r)
	}
	if r := send("T / HTTP/1.1\r\n"); len(r) != 0 {
		t.Fatalf("reply to a partial request: %q", r)
	}
	if r := send("\r\n"); string(r) != linuxReply("keep-alive", true) {
		t.Fatalf("reply %q", r)
	}
	r := send("GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n")
	if string(r) != linuxReply("keep-alive", true)+linuxReply("keep-alive", false) {
		t.Fatalf("pipelined reply %q", r)
	}
}

func TestAuthorization(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   event.Auth
	}{
		{"Authorization: Basic YWRtaW46YWRtaW4=", event.Auth{Protocol: "http", User: "admin", Password: "admin"}},
		{"authorization: basic cm9vdDpwOnc=", event.Auth{Protocol: "http", User: "root", Password: "p:w"}},
		{"Authorization: Bearer abc.def", event.Auth{Protocol: "http", Hash: "abc.def", Format: "bearer"}},
		{"Authorization: Basic !!!", event.Auth{Protocol: "http", Hash: "!!!", Format: "basic"}},
	} {
		c := apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:80", time.Unix(0, 0))
		res := New().Serve(c, []byte("GET / HTTP/1.1\r\nHost: x\r\n"+tc.header+"\r\n\r\n"))
		var got any
		for _, f := range res.Fields {
			if f.Key == "auth" {
				got = f.Value
			}
		}
		if got != tc.want {
			t.Errorf("%q: auth %v, want %v", tc.header, got, tc.want)
		}
	}
}
