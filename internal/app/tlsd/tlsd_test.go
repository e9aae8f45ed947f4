package tlsd_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/all"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/app/tlsd"
)

func TestDetect(t *testing.T) {
	h := tlsd.New()
	for _, tc := range []struct {
		in   string
		want app.Verdict
	}{
		{"\x16", app.Maybe}, {"\x16\x03", app.Maybe}, {"\x16\x03\x01\x02\x00", app.Maybe},
		{"\x16\x03\x01\x02\x00\x01", app.Yes}, {"\x16\x03\x01\x02\x00\x02", app.No},
		{"\x16\x03\x09", app.No}, {"GET /", app.No}, {"\x17\x03\x03", app.No},
	} {
		if got := h.Detect([]byte(tc.in), app.TCP); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestHTTPS: a Go TLS client completes the handshake, its ClientHello is
// recorded (SNI, ALPN, JA3, JA4), and the decrypted request gets the HTTP
// handler's 401.
func TestHTTPS(t *testing.T) {
	reg := all.Registry()
	var recs apptest.Recorder
	var st app.Stream
	st.Reset(app.Conn{Transport: app.TCP, Personality: "linux",
		Client: netip.MustParseAddrPort("192.0.2.7:40000"), Server: netip.MustParseAddrPort("198.51.100.2:443"),
		Rand: func(b []byte) { clear(b) }, Now: time.Now()})
	st.Emit = recs.Emit
	cli, srv := net.Pipe()
	apptest.Bridge(reg, &st, srv)
	_ = cli.SetDeadline(time.Now().Add(20 * time.Second))
	tc := tls.Client(cli, &tls.Config{InsecureSkipVerify: true, ServerName: "www.example.test", NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := tc.Write([]byte("GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	if resp.StatusCode != 401 {
		t.Errorf("status %d", resp.StatusCode)
	}
	tc.Close()
	var hello, inner map[string]any
	recs.Wait(func(all []map[string]any) bool {
		for _, r := range all {
			if r["client_hello"] == true {
				hello = r
			}
			if r["proto"] == "http" {
				inner = r
			}
		}
		return hello != nil && inner != nil
	})
	if hello == nil || hello["sni"] != "www.example.test" || !strings.HasPrefix(hello["ja4"].(string), "t13d") ||
		len(hello["ja3_hash"].(string)) != 32 {
		t.Errorf("ClientHello record %v", hello)
	}
	if inner == nil || inner["method"] != "GET" {
		t.Errorf("inner HTTP record %v (all: %v)", inner, recs.All())
	}
}
