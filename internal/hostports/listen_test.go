package hostports

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// From a responder namespace: sshd on 0.0.0.0:22 and [::]:22, a client
// connection, a web server on 198.51.100.1:8443 only, a time-wait socket.
const procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 586 1 000000003c727bc2 100 0 0 10 0
   1: 016433C6:9C40 097100CB:01BB 01 00000000:00000000 00:00000000 00000000     0        0 0 3 00000000b04cc99a
   2: 016433C6:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 587 1 000000003c727bc3 100 0 0 10 0
   3: 016433C6:0050 097100CB:C350 06 00000000:00000000 03:000014DD 00000000     0        0 0 3 00000000b04cc99b
`

const procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 590 1 0000000000000000 100 0 0 10 0
   1: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 591 1 0000000000000000 100 0 0 10 0
`

// A DNS server on 198.51.100.1:53, a connected client socket, a resolver
// stub on 127.0.0.53.
const procUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
   1: 016433C6:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 600 2 0000000000000000 0
   2: 016433C6:A000 097100CB:0035 01 00000000:00000000 00:00000000 00000000     0        0 601 2 0000000000000000 0
   3: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 602 2 0000000000000000 0
`

func mustParse(t *testing.T, s string, proto uint8) []Socket {
	t.Helper()
	socks, err := ParseProcNet(strings.NewReader(s), proto)
	if err != nil {
		t.Fatal(err)
	}
	return socks
}

func TestParseProcNet(t *testing.T) {
	want := []Socket{
		{6, netip.MustParseAddr("0.0.0.0"), 22},
		{6, netip.MustParseAddr("198.51.100.1"), 8443},
		{6, netip.MustParseAddr("::"), 22},
		{6, netip.MustParseAddr("2001:db8::1"), 80},
		{17, netip.MustParseAddr("198.51.100.1"), 53},
		{17, netip.MustParseAddr("127.0.0.53"), 53},
	}
	got := append(append(mustParse(t, procTCP, 6), mustParse(t, procTCP6, 6)...), mustParse(t, procUDP, 17)...)
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"h\n 0: 0100007F:xyz 00000000:0000 0A\n", "h\n 0: 0100007:0016 00000000:0000 0A\n"} {
		if _, err := ParseProcNet(strings.NewReader(bad), 6); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCheckSockets(t *testing.T) {
	socks := append(append(mustParse(t, procTCP, 6), mustParse(t, procTCP6, 6)...), mustParse(t, procUDP, 17)...)
	v4 := []netip.Addr{netip.MustParseAddr("198.51.100.1")}
	both := append(v4, netip.MustParseAddr("2001:db8::1"))
	other := []netip.Addr{netip.MustParseAddr("198.51.100.7")}
	for _, c := range []struct {
		name   string
		shared []netip.Addr
		spec   string
		err    string
	}{
		{"everything served is listed", v4, "tcp:22,tcp:8443,udp:53", ""},
		{"with IPv6", both, "tcp:22,tcp:80,tcp:8443,udp:53", ""},
		{"the web server would be lost", v4, "tcp:22,udp:53", "serves tcp:8443 (198.51.100.1)"},
		{"sshd would be lost", v4, "tcp:2222,tcp:8443,udp:53", "serves tcp:22 (0.0.0.0)"},
		{"nothing serves the listed port", v4, "tcp:22,tcp:8443,udp:53,tcp:443", "nothing on the host serves tcp:443"},
		{"the IPv6 web server would be lost", both, "tcp:22,tcp:8443,udp:53", "tcp:80 (2001:db8::1)"},
		{"another address: only the wildcard sockets", other, "tcp:22", ""},
		{"another address, udp:53 is not served there", other, "tcp:22,udp:53", "nothing on the host serves udp:53"},
	} {
		sp, err := ParseSpec(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckSockets(socks, c.shared, sp, 32768, 60999)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.err)
		}
	}
	// an unconnected UDP socket on the ephemeral range is a client's
	client := []Socket{{17, netip.MustParseAddr("0.0.0.0"), 40000}, {6, netip.MustParseAddr("0.0.0.0"), 22}}
	if err := CheckSockets(client, v4, Spec{TCP: []uint16{22}}, 32768, 60999); err != nil {
		t.Errorf("a UDP client socket on the ephemeral range: %v", err)
	}
	if err := CheckSockets(client, v4, Spec{TCP: []uint16{22}}, 0, 0); err == nil {
		t.Error("no ephemeral range: the UDP socket on 40000 is not reported")
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"32768\t60999\n", 32768, 60999, true},
		{"1024 65535", 1024, 65535, true},
		{"60999 32768", 0, 0, false},
		{"0 100", 0, 0, false},
		{"32768", 0, 0, false},
		{"a b", 0, 0, false},
	} {
		lo, hi, err := parseRange(c.in)
		if (err == nil) != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("parseRange(%q) = %d, %d, %v", c.in, lo, hi, err)
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	f.Add(procTCP, uint8(6))
	f.Add(procTCP6, uint8(6))
	f.Add(procUDP, uint8(17))
	f.Fuzz(func(t *testing.T, s string, proto uint8) {
		socks, err := ParseProcNet(strings.NewReader(s), proto)
		if err != nil {
			return
		}
		for _, so := range socks {
			if !so.Addr.IsValid() {
				t.Fatalf("invalid address from %q", s)
			}
		}
	})
}
