package app

import (
	"strings"
	"testing"
)

type fake struct {
	name    string
	verdict Verdict
	reply   string
}

func (f fake) Name() string                     { return f.name }
func (f fake) Detect([]byte, Transport) Verdict { return f.verdict }
func (f fake) Serve(c *Conn, b []byte) Result {
	return Result{Consumed: len(b), Reply: []byte(f.reply)}
}

func TestRegistryOrderAndSwitches(t *testing.T) {
	r := &Registry{}
	r.Register(fake{"maybe", Maybe, "m"}, true, "")
	r.Register(fake{"first", Yes, "1"}, true, "")
	r.Register(fake{"second", Yes, "2"}, true, "")
	r.Register(fake{"off", Yes, "x"}, false, "")
	c := &Conn{Transport: UDP}
	if reply, a := r.Datagram(c, []byte("hi")); string(reply) != "1" || a.Proto != "first" || string(a.Raw) != "hi" {
		t.Errorf("dispatch: %q %+v", reply, a)
	}
	if err := r.SetEnabled([]string{"first"}, false); err != nil {
		t.Fatal(err)
	}
	if reply, _ := r.Datagram(c, []byte("hi")); string(reply) != "2" {
		t.Errorf("after disable: %q", reply)
	}
	if err := r.SetEnabled([]string{"all"}, false); err != nil {
		t.Fatal(err)
	}
	if reply, a := r.Datagram(c, []byte("hi")); reply != nil || a != nil {
		t.Errorf("all disabled: %q %v", reply, a)
	}
	err := r.SetEnabled([]string{"nope"}, true)
	if err == nil || !strings.Contains(err.Error(), `unknown protocol "nope"`) || !strings.Contains(err.Error(), "first") {
		t.Errorf("unknown name: %v", err)
	}
	if l := r.List(); len(l) != 4 || l[0].Name != "maybe" || l[3].Enabled {
		t.Errorf("list: %+v", l)
	}
	if reply, a := r.Datagram(c, nil); reply != nil || a != nil {
		t.Error("empty datagram dispatched")
	}
}

func TestRawCapped(t *testing.T) {
	r := &Registry{}
	r.Register(fake{"any", Yes, ""}, true, "")
	big := make([]byte, 5000)
	_, a := r.Datagram(&Conn{Transport: UDP}, big)
	if len(a.Raw) != RawCap {
		t.Errorf("raw %d bytes, want %d", len(a.Raw), RawCap)
	}
}

// TestServiceDispatch: a port the host profile maps to a service with a
// handler is served by that handler only; without one (or when it is
// disabled) detection by content decides; inside TLS the inner service.
func TestServiceDispatch(t *testing.T) {
	r := &Registry{}
	r.Register(fake{"http", Yes, "401"}, true, "")
	r.Register(fake{"sip", No, "sip"}, true, "")
	r.Register(fake{"redis", Yes, "+PONG"}, true, "")
	for _, tc := range []struct {
		service, want string
	}{
		{"", "401"},        // no profile: the first detector
		{"sip", ""},        // only sip is asked, and it says No
		{"redis", "+PONG"}, // only redis
		{"ntp", "401"},     // no ntp handler: content decides
		{"https", "401"},   // no tls handler registered: content decides
		{"http", "401"},
	} {
		c := &Conn{Transport: UDP, Service: tc.service}
		if reply, _ := r.Datagram(c, []byte("GET / HTTP/1.0\r\n\r\n")); string(reply) != tc.want {
			t.Errorf("service %q: %q, want %q", tc.service, reply, tc.want)
		}
	}
	if err := r.SetEnabled([]string{"sip"}, false); err != nil {
		t.Fatal(err)
	}
	if reply, _ := r.Datagram(&Conn{Transport: UDP, Service: "sip"}, []byte("x")); string(reply) != "401" {
		t.Errorf("disabled service handler: %q", reply)
	}
	for in, want := range map[string]string{"https": "http", "imaps": "imap", "pop3s": "pop3", "smtps": "smtp", "rdp": ""} {
		if got := insideTLS(in); got != want {
			t.Errorf("insideTLS(%q) = %q", in, got)
		}
	}
}
