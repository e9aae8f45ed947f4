package all_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/all"
)

func TestRegistryNames(t *testing.T) {
	r := all.Registry()
	want := map[string]bool{"http": true, "ssh": true, "stun": true, "smb": true, "rpc": true, "ghost": false, "dns": true,
		"ftp": true, "smtp": true, "pop3": true, "imap": true, "vnc": true, "mysql": true, "telnet": true, "tls": true, "quic": true, "sip": true, "mqtt": true, "rdp": true, "mssql": true, "adb": true, "redis": true, "docker": true, "modbus": true}
	got := r.List()
	if len(got) != len(want) {
		t.Fatalf("%d protocols, want %d", len(got), len(want))
	}
	for _, p := range got {
		if on, ok := want[p.Name]; !ok || on != p.Enabled || p.Description == "" {
			t.Errorf("protocol %+v", p)
		}
	}
	// DNS is the last handler that detects by content; only greeters,
	// which detect nothing, follow it.
	seen := false
	for _, p := range got {
		if seen && !greeters[p.Name] {
			t.Errorf("%s registered after dns", p.Name)
		}
		seen = seen || p.Name == "dns"
	}
}

// greeters are the server-first protocols and the service each greets.
var greeters = map[string]bool{"ftp": true, "smtp": true, "pop3": true, "imap": true, "vnc": true, "mysql": true, "telnet": true, "tls": true, "quic": true}

func TestGreeters(t *testing.T) {
	r := all.Registry()
	for _, svc := range []string{"ssh", "ftp", "mysql", "vnc", "smtp", "pop3", "imap", "telnet"} {
		if r.Greeter(svc) < 0 {
			t.Errorf("no greeter for %s", svc)
		}
	}
}

// FuzzStream cuts an arbitrary byte stream into segments and feeds it
// through the connection table to every protocol (Gh0st included), over
// both personalities: no panic, no reply to a segment refused, bounded
// buffering.
func FuzzStream(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.0\r\n\r\n"), uint8(7), false)
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n\x00\x00\x00\x0c\x0a\x14"), uint8(3), true)
	f.Add([]byte("\x00\x00\x00\x2f\xffSMBr\x00\x00\x00\x00"), uint8(5), false)
	f.Add([]byte("\x80\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86\xa0"), uint8(4), true)
	f.Add([]byte("\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"), uint8(2), false)
	f.Add([]byte("Gh0st\x20\x00\x00\x00"), uint8(1), false)
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8, masscanned bool) {
		reg := all.Registry()
		if err := reg.SetEnabled([]string{"all"}, true); err != nil {
			t.Fatal(err)
		}
		pers := "linux"
		if masscanned {
			pers = "masscanned"
		}
		var st app.Stream
		st.Reset(app.Conn{Transport: app.TCP, Client: netip.MustParseAddrPort("198.51.100.1:40000"),
			Server: netip.MustParseAddrPort("198.51.100.2:80"), Personality: pers,
			Now: time.Unix(1764072000, 0), Rand: func(p []byte) { clear(p) }})
		step := int(cut%16) + 1
		for len(stream) > 0 {
			n := min(step, len(stream))
			st.Feed(reg, stream[:n], 4096)
			if st.Buffered() > 4096 {
				t.Fatalf("buffered %d bytes", st.Buffered())
			}
			stream = stream[n:]
		}
		st.Close(reg, "fuzz") // a library serving it (SSH) stops
	})
}
