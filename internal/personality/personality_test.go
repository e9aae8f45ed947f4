package personality

import (
	"strings"
	"testing"
)

// layout renders the options a layout writes for an offer in p0f's
// olayout notation.
func layout(l []Opt, offer Offer) (string, int) {
	names := map[OptKind]string{OptEOL: "eol", OptNOP: "nop", OptMSS: "mss", OptWS: "ws", OptSACKOK: "sok", OptTS: "ts"}
	var out []string
	n := 0
	for _, e := range l {
		if e.Applies(offer) {
			out = append(out, names[e.Kind])
			n += e.Kind.Len()
		}
	}
	return strings.Join(out, ","), n
}

// TestBuiltins: every name resolves, and every layout that answers options
// fits the TCP header (a multiple of 4 bytes, at most 40), uses known
// kinds, and answers an offer of timestamps with a TS option (the stack
// puts timestamps on the connection's later segments then).
func TestBuiltins(t *testing.T) {
	for _, name := range Names() {
		p, err := ByName(name)
		if err != nil || p.Name != name {
			t.Fatalf("ByName(%q): %v, %v", name, p, err)
		}
		if !p.SYNACKOptions {
			continue
		}
		for _, e := range p.SYNACKLayout {
			if e.Kind.Len() == 0 {
				t.Errorf("%s: option kind %d has no length", name, e.Kind)
			}
		}
		for offer := Offer(0); offer <= OfferWS|OfferSACK|OfferTS; offer++ {
			s, n := layout(p.SYNACKLayout, offer)
			if n%4 != 0 || n > 40 {
				t.Errorf("%s offer %03b: %s is %d bytes", name, offer, s, n)
			}
			if offer&OfferTS != 0 && !strings.Contains(s, "ts") {
				t.Errorf("%s offer %03b: %s does not answer timestamps", name, offer, s)
			}
		}
	}
	if _, err := ByName("beos"); err == nil || !strings.Contains(err.Error(), "windows") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestLayoutsMatchP0f: the layouts give exactly the olayout fields of
// p0f's [tcp:response] sigs (/etc/p0f/p0f.fp): "Windows:7 or 8" for
// windows, "Linux:3.x" for linux.
func TestLayoutsMatchP0f(t *testing.T) {
	want := map[string][]string{
		"windows": {"mss", "mss,nop,ws", "mss,nop,nop,sok", "mss,nop,ws,nop,nop,sok",
			"mss,nop,nop,ts", "mss,nop,ws,nop,nop,ts", "mss,sok,ts", "mss,nop,ws,sok,ts"},
		"linux": {"mss", "mss,nop,ws", "mss,nop,nop,sok", "mss,nop,nop,sok,nop,ws",
			"mss,nop,nop,ts", "mss,nop,nop,ts,nop,ws", "mss,sok,ts", "mss,sok,ts,nop,ws"},
	}
	for name, sigs := range want {
		p, _ := ByName(name)
		// offers in the order OfferWS, OfferSACK, OfferTS count in binary
		for offer, sig := range sigs {
			if got, _ := layout(p.SYNACKLayout, Offer(offer)); got != sig {
				t.Errorf("%s offer %03b: %s, p0f has %s", name, offer, got, sig)
			}
		}
	}
}

// TestWindowsValues pins the values taken from p0f and nmap-os-db.
func TestWindowsValues(t *testing.T) {
	p := Windows()
	if p.TTL != 128 || p.HopLimit != 128 || p.Window != 8192 || p.WindowFromMSS || p.WScale != 8 ||
		p.MSS4 != 1460 || !p.SYNACK.DF || p.SYNACK.ID != IDIncrement || p.Echo.DF || !p.RST.DF || p.Unreach.DF || !p.EchoECN {
		t.Errorf("windows: %+v", p)
	}
	if len(p.SYNACKRetries) != 2 || p.SYNACKRetries[0].Seconds() != 3 || p.SYNACKRetries[1].Seconds() != 6 {
		t.Errorf("windows SYN-ACK retransmissions %v", p.SYNACKRetries)
	}
}
