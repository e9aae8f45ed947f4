package mqtt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(open bool) *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "203.0.113.5:40000", "198.51.100.1:1883", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	if open {
		c.Banners = map[string]string{"mqtt_auth": "open"}
	}
	return c
}

func str(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

func pkt(first byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(appendVarint([]byte{first}, len(body)), body...)
}

// mosquitto_pub -t t -m hello -u bob -P secret (MQTT 3.1.1), as captured.
var pubConnect = pkt(0x10, str("MQTT"), []byte{4, 0xc2, 0, 60}, str("mosq-xyz"), str("bob"), str("secret"))

func fieldMap(fs []event.Field) map[string]any {
	m := map[string]any{}
	for _, f := range fs {
		m[f.Key] = f.Value
	}
	return m
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in  []byte
		tr  app.Transport
		out app.Verdict
	}{
		{pubConnect, app.TCP, app.Yes},
		{pubConnect, app.UDP, app.No},
		{pubConnect[:1], app.TCP, app.Maybe},
		{pubConnect[:5], app.TCP, app.Maybe},
		{pubConnect[:8], app.TCP, app.Yes},
		{pkt(0x10, str("MQIsdp"), []byte{3, 2, 0, 60}, str("x")), app.TCP, app.Yes},
		{pkt(0x10, str("HTTP"), []byte{4, 2, 0, 60}, str("x")), app.TCP, app.No},
		{[]byte("\x10\x80"), app.TCP, app.Maybe},
		{[]byte("\x10\x80\x80\x80\x80\x01"), app.TCP, app.No},
		{[]byte("\x10\x02\x00\x04"), app.TCP, app.No}, // too short for a CONNECT
		{pkt(0x30, str("MQTT")), app.TCP, app.No},
		{[]byte("GET / HTTP/1.0\r\n"), app.TCP, app.No},
		{nil, app.TCP, app.Maybe},
	} {
		if got := h.Detect(tc.in, tc.tr); got != tc.out {
			t.Errorf("Detect(%x, %v) = %v, want %v", tc.in, tc.tr, got, tc.out)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		reply string
		auth  bool
	}{
		{"3.1.1 with credentials", pubConnect, "\x20\x02\x00\x05", true},
		{"3.1.1 anonymous", pkt(0x10, str("MQTT"), []byte{4, 2, 0, 60}, str("sub")), "\x20\x02\x00\x05", false},
		{"3.1", pkt(0x10, str("MQIsdp"), []byte{3, 0xc2, 0, 60}, str("x"), str("u"), str("p")), "\x20\x02\x00\x05", true},
		{"5.0", pkt(0x10, str("MQTT"), []byte{5, 0xc2, 0, 60, 0}, str("x"), str("u"), str("p")), "\x20\x03\x00\x87\x00", true},
		{"bad level", pkt(0x10, str("MQTT"), []byte{6, 2, 0, 60}, str("x")), "\x20\x02\x00\x01", false},
	} {
		res := New().Serve(conn(false), tc.in)
		if string(res.Reply) != tc.reply || !res.Close || res.Consumed != len(tc.in) {
			t.Errorf("%s: %+v", tc.name, res)
		}
		f := fieldMap(res.Fields)
		a, ok := f["auth"].(event.Auth)
		if ok != tc.auth || ok && (a.Protocol != "mqtt" || a.User == "" || a.Password == "" || a.Success) {
			t.Errorf("%s: auth %v", tc.name, f["auth"])
		}
	}
	f := fieldMap(New().Serve(conn(false), pubConnect).Fields)
	for k, v := range map[string]any{"protocol": "MQTT", "version": 4, "client_id": "mosq-xyz", "keepalive": 60,
		"clean_session": true, "connack": 5, "auth": event.Auth{Protocol: "mqtt", User: "bob", Password: "secret"}} {
		if f[k] != v {
			t.Errorf("field %s = %v, want %v", k, f[k], v)
		}
	}
}

func TestNmap(t *testing.T) {
	probe := apptest.NmapProbe(t, "TCP", "mqtt")
	h := New()
	if h.Detect(probe, app.TCP) != app.Yes {
		t.Fatal("nmap probe not detected")
	}
	for _, open := range []bool{false, true} {
		res := h.Serve(conn(open), probe)
		ms := apptest.NmapProductsProto(t, "TCP", "mqtt", res.Reply)
		if len(ms) == 0 || ms[0].Service != "mqtt" {
			t.Errorf("open %v: %q matches %v", open, res.Reply, ms)
		}
	}
}

// A session on an open broker, the way mosquitto_pub and mosquitto_sub
// talk, over MQTT 3.1.1 and 5.0.
func TestOpenSession(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	hello := hex.EncodeToString(sum[:])
	for _, v5 := range []bool{false, true} {
		var p0 []byte // the empty property list of MQTT 5
		lvl := byte(4)
		if v5 {
			p0, lvl = []byte{0}, 5
		}
		ver := "mosquitto version 2.0.11"
		sys := "$SYS/broker/version"
		var suback, sysPub string
		if v5 {
			suback = "\x90\x05\x00\x01\x00\x00\x01"
			sysPub = string(pkt(0x31, str(sys), []byte{0}, []byte(ver)))
		} else {
			suback = "\x90\x04\x00\x01\x00\x01"
			sysPub = string(pkt(0x31, str(sys), []byte(ver)))
		}
		connack := "\x20\x02\x00\x00"
		if v5 {
			connack = "\x20\x09\x00\x00\x06\x22\x00\x0a\x21\x00\x14"
		}
		unsuback := "\xb0\x02\x00\x02"
		if v5 {
			unsuback = "\xb0\x05\x00\x02\x00\x11\x11"
		}
		steps := []apptest.Step{
			{In: string(pkt(0x10, str("MQTT"), []byte{lvl, 0xc2, 0, 60}, p0, str("c1"), str("bob"), str("secret"))), Reply: connack,
				Fields: map[string]any{"connack": 0, "auth": event.Auth{Protocol: "mqtt", User: "bob", Password: "secret", Success: true}}},
			{In: string(pkt(0x82, []byte{0, 1}, p0, str("#"), []byte{0}, str("$SYS/#"), []byte{1})), Reply: suback + sysPub},
			{In: string(pkt(0x30, str("t"), p0, []byte("hello"))), Reply: "",
				Fields: map[string]any{"publish_topic": "t", "publish_qos": 0, "publish_size": 5, "publish_sha256": hello}},
			{In: string(pkt(0x32, str("a/b"), []byte{0, 7}, p0, []byte("hello"))), Reply: "\x40\x02\x00\x07",
				Fields: map[string]any{"publish_topic": "a/b", "publish_qos": 1, "publish_sha256": hello}},
			{In: string(pkt(0x35, str("q2"), []byte{0, 8}, p0, []byte("hello"))), Reply: "\x50\x02\x00\x08",
				Fields: map[string]any{"publish_qos": 2, "publish_retain": true}},
			{In: "\x62\x02\x00\x08", Reply: "\x70\x02\x00\x08"},
			{In: string(pkt(0xa2, []byte{0, 2}, p0, str("#"), str("x"))), Reply: unsuback},
			{In: "\xc0\x00", Reply: "\xd0\x00"},
			{In: "\xe0\x00", Reply: "", Close: true},
		}
		c := conn(true)
		h := New()
		for i, s := range steps {
			res := h.Serve(c, []byte(s.In))
			if res.NeedMore || res.Consumed != len(s.In) || string(res.Reply) != s.Reply || res.Close != s.Close {
				t.Fatalf("v5 %v step %d: %+v, want reply %q close %v", v5, i, res, s.Reply, s.Close)
			}
			f := fieldMap(res.Fields)
			for k, v := range s.Fields {
				if f[k] != v {
					t.Errorf("v5 %v step %d: %s = %v, want %v", v5, i, k, f[k], v)
				}
			}
		}
	}
}

func TestAssignedID(t *testing.T) {
	c := conn(true)
	res := New().Serve(c, pkt(0x10, str("MQTT"), []byte{5, 2, 0, 60, 0}, str("")))
	want := "\x20\x35\x00\x00\x32\x22\x00\x0a\x21\x00\x14\x12\x00\x29auto-00000000-0000-0000-0000-000000000000"
	if string(res.Reply) != want {
		t.Errorf("%q", res.Reply)
	}
	// MQTT 3.1.1: an empty client id without a clean session is rejected
	res = New().Serve(conn(true), pkt(0x10, str("MQTT"), []byte{4, 0, 0, 60}, str("")))
	if string(res.Reply) != "\x20\x02\x00\x02" || !res.Close {
		t.Errorf("%+v", res)
	}
}

func TestBigPublish(t *testing.T) {
	payload := bytes.Repeat([]byte("z"), 100000)
	sum := sha256.Sum256(payload)
	c := conn(true)
	h := New()
	h.Serve(c, pkt(0x10, str("MQTT"), []byte{4, 2, 0, 60}, str("c")))
	p := pkt(0x32, str("big"), []byte{1, 2}, payload)
	var fields []event.Field
	var reply []byte
	buf := []byte{}
	for off := 0; off < len(p); off += 1000 {
		buf = append(buf, p[off:min(off+1000, len(p))]...)
		for len(buf) > 0 {
			res := h.Serve(c, buf)
			if res.NeedMore {
				break
			}
			if res.Consumed == 0 || res.Close {
				t.Fatalf("at %d: %+v", off, res)
			}
			fields = append(fields, res.Fields...)
			reply = append(reply, res.Reply...)
			buf = buf[res.Consumed:]
		}
	}
	f := fieldMap(fields)
	if string(reply) != "\x40\x02\x01\x02" || f["publish_size"] != 100000 || f["publish_sha256"] != hex.EncodeToString(sum[:]) || len(buf) != 0 {
		t.Errorf("reply %q fields %v left %d", reply, f, len(buf))
	}
	if res := h.Serve(c, []byte("\xc0\x00")); string(res.Reply) != "\xd0\x00" {
		t.Errorf("after: %+v", res)
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"publish before connect", pkt(0x30, str("t"), []byte("x"))},
		{"reserved flag", pkt(0x10, str("MQTT"), []byte{4, 3, 0, 60}, str("x"))},
		{"short connect", pkt(0x10, str("MQTT"), []byte{4, 0xc2, 0, 60}, str("x"), str("u"))},
		{"huge", []byte("\x10\xff\xff\xff\x7f\x00\x04MQTT")},
		{"bad varint", []byte("\x10\xff\xff\xff\xff\x01")},
	} {
		c := conn(true)
		buf := tc.in
		res := New().Serve(c, buf)
		if !res.Close || res.Reply != nil {
			t.Errorf("%s: %+v", tc.name, res)
		}
	}
	// after CONNECT: QoS 3, a second CONNECT, a bad SUBSCRIBE close
	for _, in := range [][]byte{pkt(0x36, str("t"), []byte{0, 1}), pubConnect, pkt(0x80, []byte{0, 1}, str("#"), []byte{0}),
		pkt(0x82, []byte{0, 1}, str("#"), []byte{3}), pkt(0x82, []byte{0, 1})} {
		c := conn(true)
		h := New()
		h.Serve(c, pubConnect)
		if res := h.Serve(c, in); !res.Close || res.Consumed != len(in) {
			t.Errorf("%x: %+v", in, res)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		f, t string
		ok   bool
	}{
		{"#", "a/b", true}, {"#", "$SYS/broker/version", false}, {"$SYS/#", "$SYS/broker/version", true},
		{"$SYS/+/version", "$SYS/broker/version", true}, {"+/broker/version", "$SYS/broker/version", false},
		{"$SYS/broker/version", "$SYS/broker/version", true}, {"$SYS/broker", "$SYS/broker/version", false},
		{"$SYS/broker/version/#", "$SYS/broker/version", true}, {"a/+", "a", false},
	} {
		if matches(tc.f, tc.t) != tc.ok {
			t.Errorf("matches(%q, %q) != %v", tc.f, tc.t, tc.ok)
		}
	}
}

func FuzzServe(f *testing.F) {
	f.Add(pubConnect)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, open := range []bool{false, true} {
			c := conn(open)
			apptest.Drive(t, New(), c, data, apptest.Limits{NoUDPReply: true})
			c = conn(open)
			c.Transport = app.UDP
			apptest.Drive(t, New(), c, data, apptest.Limits{NoUDPReply: true})
		}
	})
}
