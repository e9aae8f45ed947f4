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
