package hostports

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, c := range []struct {
		in       string
		tcp, udp []uint16
		err      string
	}{
		{in: "tcp:22", tcp: []uint16{22}},
		{in: "tcp:22,tcp:443,udp:53", tcp: []uint16{22, 443}, udp: []uint16{53}},
		{in: "tcp:443,22", tcp: []uint16{22, 443}},
		{in: "TCP:22, udp:53,123", tcp: []uint16{22}, udp: []uint16{53, 123}},
		{in: "tcp:8000-8003,tcp:8001", tcp: []uint16{8000, 8001, 8002, 8003}},
		{in: "udp:65535", udp: []uint16{65535}},
		{in: "", err: "empty list"},
		{in: "22", err: "want tcp:PORT"},
		{in: "sctp:22", err: "want tcp:PORT"},
		{in: "tcp:0", err: "invalid port"},
		{in: "tcp:65536", err: "invalid port"},
		{in: "tcp:ssh", err: "invalid port"},
		{in: "tcp:", err: "invalid port"},
		{in: "tcp:22,", err: "invalid port"},
		{in: "tcp:90-80", err: "larger than the last"},
		{in: "tcp:80-", err: "invalid port"},
	} {
		sp, err := ParseSpec(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "--host-ports: ") {
				t.Errorf("ParseSpec(%q) = %v, %v; want error with %q", c.in, sp, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(sp.TCP, c.tcp) || !slices.Equal(sp.UDP, c.udp) {
			t.Errorf("ParseSpec(%q) = %v, %v; want tcp %v udp %v", c.in, sp, err, c.tcp, c.udp)
		}
		// String writes it back in a form that parses to the same
		if again, err := ParseSpec(sp.String()); err != nil || !slices.Equal(again.TCP, sp.TCP) || !slices.Equal(again.UDP, sp.UDP) {
			t.Errorf("ParseSpec(%q) round trip: %v, %v", sp.String(), again, err)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"tcp:22", "tcp:22,tcp:443,udp:53", "udp:1-3,5", "tcp:90-80", "tcp:", ",", "x:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		for _, ps := range [][]uint16{sp.TCP, sp.UDP} {
			if !slices.IsSorted(ps) || len(slices.Compact(slices.Clone(ps))) != len(ps) || slices.Contains(ps, 0) {
				t.Fatalf("ParseSpec(%q) = %v: not sorted, duplicated or port 0", s, sp)
			}
		}
		if len(sp.TCP)+len(sp.UDP) == 0 {
			t.Fatalf("ParseSpec(%q): no port and no error", s)
		}
	})
}
