package addrset

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	in := "# self addresses\n\n  192.0.2.1  \n2001:db8::1\t# trailing comment\n198.51.100.0/24\n2001:db8:1::/48\n203.0.113.9/32\r\n"
	var b Builder
	if err := b.AddReader(strings.NewReader(in), "test"); err != nil {
		t.Fatal(err)
	}
	s := b.Set()
	tests := []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", true},
		{"192.0.2.2", false},
		{"2001:db8::1", true},
		{"2001:db8::2", false},
		{"198.51.100.77", true},
		{"2001:db8:1:ffff::5", true},
		{"2001:db8:2::5", false},
		{"203.0.113.9", true},
		{"::ffff:192.0.2.1", true},
	}
	for _, tc := range tests {
		if got := s.Contains(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if s.Len() != 5 {
		t.Errorf("Len = %d, want 5", s.Len())
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"garbage", "192.0.2.1\nnot-an-ip\n", "test:2: \"not-an-ip\" is not an IP address or CIDR prefix"},
		{"bad prefix", "192.0.2.0/33\n", "test:1:"},
		{"zone", "fe80::1%eth0\n", "test:1:"},
	}
	for _, tc := range tests {
		var b Builder
		err := b.AddReader(strings.NewReader(tc.in), "test")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want prefix %q", tc.name, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ips")
	if err := os.WriteFile(p, []byte("192.0.2.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(p, "192.0.2.2, 2001:db8::1,")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"} {
		if !s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("missing %s", a)
		}
	}
	if _, err := Parse(filepath.Join(dir, "missing"), ""); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("missing file: err = %v", err)
	}
	if s, err := Parse("", ""); s != nil || err != nil {
		t.Errorf("empty: %v %v", s, err)
	}
	if _, err := Parse("", "192.0.2.1,bogus"); err == nil {
		t.Error("bad list accepted")
	}
}

func TestContainsNoAlloc(t *testing.T) {
	s, _ := Parse("", "192.0.2.1,198.51.100.0/24,2001:db8::/64")
	a := netip.MustParseAddr("198.51.100.200")
	if n := testing.AllocsPerRun(100, func() { s.Contains(a) }); n != 0 {
		t.Errorf("Contains allocates %v times", n)
	}
}
