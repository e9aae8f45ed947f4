package profile

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const known = "(known: addresses, banners, name, personality, services, tcp, udp)"

func mustParse(t *testing.T, src string) *Profile {
	t.Helper()
	p, err := Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return p
}

func TestParseGood(t *testing.T) {
	src := `# a comment
[[host]]
name        = "web1"
addresses   = ["192.0.2.1", "2001:db8::1", "198.51.100.7/24", "::ffff:203.0.113.5"]
personality = "Linux"
tcp = [22, 80, 443, "8000-8100", 22, "9000"]
udp = [53, 123]
[host.services]
2222 = "ssh"
8443 = "HTTPS"
"8080" = "redis"
[host.banners]
ssh  = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
http_server = "nginx/1.22.1"

[[host]]
addresses = [
  "203.0.113.0/28",   # comment inside the list
  '2001:db8:1::/48',
]
personality = "windows"
tcp = "all"
udp = []
services = { 3389 = "rdp" }
banners.hostname = "FILESRV"

[[host]]
addresses = ["203.0.113.16/28"]
personality = "masscanned"
tcp = ["all"]
`
	p := mustParse(t, src)
	if p.Path != "test.toml" || len(p.Hosts) != 3 {
		t.Fatalf("Path %q, %d hosts", p.Path, len(p.Hosts))
	}
	h := p.Hosts[0]
	if h.Name != "web1" || h.Line != 2 || h.Personality != "linux" {
		t.Errorf("host 1: name %q line %d personality %q", h.Name, h.Line, h.Personality)
	}
	wantPfx := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.5/32"),
	}
	if !slices.Equal(h.Prefixes, wantPfx) {
		t.Errorf("prefixes %v, want %v", h.Prefixes, wantPfx)
	}
	for port, want := range map[uint16]bool{0: false, 21: false, 22: true, 80: true, 443: true, 7999: false,
		8000: true, 8050: true, 8100: true, 8101: false, 9000: true, 65535: false} {
		if got := h.TCPOpen(port); got != want {
			t.Errorf("host 1 TCPOpen(%d) = %v", port, got)
		}
	}
	if n := h.OpenTCPPorts(); n != 3+101+1 {
		t.Errorf("OpenTCPPorts = %d", n)
	}
	if !h.UDPOpen(53) || !h.UDPOpen(123) || h.UDPOpen(161) || h.OpenUDPPorts() != 2 {
		t.Error("host 1 UDP ports wrong")
	}
	wantSvc := map[uint16]string{2222: "ssh", 8443: "https", 8080: "redis"}
	if len(h.Services) != len(wantSvc) {
		t.Errorf("services %v", h.Services)
	}
	for k, v := range wantSvc {
		if h.Services[k] != v {
			t.Errorf("services[%d] = %q, want %q", k, h.Services[k], v)
		}
	}
	if h.Banner("ssh") != "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3" || h.Banner("http_server") != "nginx/1.22.1" || h.Banner("ftp") != "" {
		t.Errorf("banners %v", h.Banners)
	}

	h = p.Hosts[1]
	if h.Name != "" || h.Line != 16 || h.Personality != "windows" {
		t.Errorf("host 2: name %q line %d personality %q", h.Name, h.Line, h.Personality)
	}
	if !h.TCPOpen(1) || !h.TCPOpen(65535) || h.TCPOpen(0) || h.OpenTCPPorts() != 65535 {
		t.Error("host 2: tcp = \"all\" is not all")
	}
	if h.UDPOpen(53) || h.UDPOpen(1) || h.UDPOpen(65535) || h.OpenUDPPorts() != 0 {
		t.Error("host 2: udp = [] is not none")
	}
	if h.Service(3389) != "rdp" || h.Banner("hostname") != "FILESRV" {
		t.Errorf("host 2: services %v banners %v", h.Services, h.Banners)
	}

	h = p.Hosts[2]
	if h.Personality != "masscanned" || h.OpenTCPPorts() != 65535 || !h.TCPOpen(12345) {
		t.Error("host 3: tcp = [\"all\"] is not all")
	}
	if h.OpenUDPPorts() != 65535 || !h.UDPOpen(9) {
		t.Error("host 3: udp absent is not all")
	}
	if h.Services != nil || h.Banners != nil {
		t.Errorf("host 3: services %v banners %v, want nil", h.Services, h.Banners)
	}
}

func TestDefaults(t *testing.T) {
	h := mustParse(t, "[[host]]\naddresses = [\"192.0.2.1\"]\n").Hosts[0]
	if h.Personality != "linux" || h.Name != "" || h.Line != 1 {
		t.Errorf("personality %q name %q line %d", h.Personality, h.Name, h.Line)
	}
	for _, port := range []uint16{1, 2, 1000, 65534, 65535} {
		if !h.TCPOpen(port) || !h.UDPOpen(port) {
			t.Errorf("port %d not open by default", port)
		}
	}
	if h.TCPOpen(0) || h.UDPOpen(0) {
		t.Error("port 0 open")
	}
	if h.OpenTCPPorts() != 65535 || h.OpenUDPPorts() != 65535 {
		t.Error("default counts")
	}
	// A nil host is the default behaviour too.
	var nh *Host
	if !nh.TCPOpen(80) || !nh.UDPOpen(53) || nh.TCPOpen(0) || nh.OpenTCPPorts() != 65535 ||
		nh.Service(22) != "ssh" || nh.Banner("ssh") != "" {
		t.Error("nil host is not the default")
	}
}

func TestPortEdges(t *testing.T) {
	cases := []struct {
		spec  string
		open  []uint16
		shut  []uint16
		count int
	}{
		{`[1, 65535]`, []uint16{1, 65535}, []uint16{0, 2, 63, 64, 65534}, 2},
		{`["1-64"]`, []uint16{1, 63, 64}, []uint16{0, 65}, 64},
		{`["63-65"]`, []uint16{63, 64, 65}, []uint16{62, 66}, 3},
		{`["65472-65535"]`, []uint16{65472, 65535}, []uint16{65471}, 64},
		{`["1-65535"]`, []uint16{1, 32768, 65535}, []uint16{0}, 65535},
		{`["5-5", " 7 - 8 ", 7]`, []uint16{5, 7, 8}, []uint16{4, 6, 9}, 3},
		{`[]`, nil, []uint16{0, 1, 80, 65535}, 0},
		{`[[80, 81]]`, nil, nil, -1}, // nested list: error
	}
	for _, tc := range cases {
		src := "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = " + tc.spec + "\nudp = " + tc.spec + "\n"
		p, err := Parse("t.toml", []byte(src))
		if tc.count < 0 {
			if err == nil {
				t.Errorf("%s: no error", tc.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		h := p.Hosts[0]
		for _, port := range tc.open {
			if !h.TCPOpen(port) || !h.UDPOpen(port) {
				t.Errorf("%s: port %d closed", tc.spec, port)
			}
		}
		for _, port := range tc.shut {
			if h.TCPOpen(port) || h.UDPOpen(port) {
				t.Errorf("%s: port %d open", tc.spec, port)
			}
		}
		if h.OpenTCPPorts() != tc.count || h.OpenUDPPorts() != tc.count {
			t.Errorf("%s: %d/%d open, want %d", tc.spec, h.OpenTCPPorts(), h.OpenUDPPorts(), tc.count)
		}
	}
}

func TestService(t *testing.T) {
	h := mustParse(t, `[[host]]
addresses = ["192.0.2.1"]
[host.services]
22 = "telnet"
2222 = "ssh"
`).Hosts[0]
	for port, want := range map[uint16]string{
		22:    "telnet", // override of WellKnown
		2222:  "ssh",    // override, not in WellKnown
		80:    "http",   // WellKnown
		8080:  "http",
		3389:  "rdp",
		12345: "", // nothing
		0:     "",
	} {
		if got := h.Service(port); got != want {
			t.Errorf("Service(%d) = %q, want %q", port, got, want)
		}
	}
	if len(h.Services) != 2 {
		t.Errorf("Services holds more than the overrides: %v", h.Services)
	}
}

func TestKnownLists(t *testing.T) {
	for _, l := range [][]string{KnownServices, KnownBanners, hostKeys} {
		if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) {
			t.Errorf("not sorted or has duplicates: %v", l)
		}
	}
	for port, s := range WellKnown {
		if _, ok := slices.BinarySearch(KnownServices, s); !ok || port == 0 {
			t.Errorf("WellKnown[%d] = %q not in KnownServices", port, s)
		}
	}
	for _, want := range []string{"ssh", "http", "https", "smb", "rdp", "telnet", "rtsp"} {
		if !slices.Contains(KnownServices, want) {
			t.Errorf("KnownServices lacks %q", want)
		}
	}
}

func TestLookup(t *testing.T) {
	p := mustParse(t, `
[[host]]
name = "one"
addresses = ["192.0.2.1", "2001:db8::1"]
[[host]]
name = "net"
addresses = ["192.0.2.0/24", "2001:db8::/64"]
[[host]]
name = "shadowed"
addresses = ["192.0.2.2"]
[[host]]
name = "mapped"
addresses = ["::ffff:198.51.100.0/120"]
`)
	for addr, want := range map[string]string{
		"192.0.2.1":           "one",
		"::ffff:192.0.2.1":    "one",
		"2001:db8::1":         "one",
		"192.0.2.2":           "net", // first match wins over the later exact address
		"192.0.2.255":         "net",
		"::ffff:192.0.2.9":    "net",
		"2001:db8::ffff":      "net",
		"198.51.100.77":       "mapped",
		"::ffff:198.51.100.1": "mapped",
		"192.0.3.1":           "",
		"2001:db8:1::1":       "",
		"::192.0.2.1":         "", // IPv4-compatible, not mapped
		"203.0.113.1":         "",
	} {
		h := p.Lookup(netip.MustParseAddr(addr))
		got := ""
		if h != nil {
			got = h.Name
		}
		if got != want {
			t.Errorf("Lookup(%s) = %q, want %q", addr, got, want)
		}
	}
	if p.Lookup(netip.Addr{}) != nil {
		t.Error("Lookup(zero Addr) matched")
	}
	var np *Profile
	if np.Lookup(netip.MustParseAddr("192.0.2.1")) != nil {
		t.Error("nil profile matched")
	}
}

func TestZeroAllocs(t *testing.T) {
	p := mustParse(t, `
[[host]]
addresses = ["2001:db8::/48", "203.0.113.0/24"]
[[host]]
addresses = ["192.0.2.0/24"]
tcp = [22, "8000-8100"]
`)
	a4 := netip.MustParseAddr("::ffff:192.0.2.77")
	a6 := netip.MustParseAddr("2001:db8:ffff::1")
	var h *Host
	if n := testing.AllocsPerRun(1000, func() {
		h = p.Lookup(a4)
		_ = p.Lookup(a6)
	}); n != 0 {
		t.Errorf("Lookup: %v allocations", n)
	}
	if h == nil {
		t.Fatal("no match")
	}
	var open bool
	if n := testing.AllocsPerRun(1000, func() {
		open = h.TCPOpen(8050) && !h.TCPOpen(8101) && h.UDPOpen(53)
		_ = h.Service(22)
	}); n != 0 {
		t.Errorf("TCPOpen/UDPOpen/Service: %v allocations", n)
	}
	if !open {
		t.Error("ports wrong")
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"syntax", "[[host]]\naddresses = [\"192.0.2.1\"\ntcp = 5\n",
			"web.toml:3: TOML syntax: "},
		{"syntax unterminated string", "[[host]]\nname = \"web\naddresses = [\"192.0.2.1\"]\n",
			"web.toml:2: TOML syntax: "},
		{"duplicate key", "[[host]]\naddresses = [\"192.0.2.1\"]\nname = \"a\"\nname = \"b\"\n",
			"web.toml:4: TOML syntax: "},
		{"empty file", "",
			"web.toml:1: no [[host]] table: the profile lists no host"},
		{"comments only", "# nothing\n\n",
			"web.toml:1: no [[host]] table: the profile lists no host"},
		{"host not an array of tables", "\n[host]\naddresses = [\"192.0.2.1\"]\n",
			"web.toml:2: host must be an array of tables ([[host]])"},
		{"host a string", "host = \"x\"\n",
			"web.toml:1: host must be an array of tables ([[host]])"},
		{"host empty list", "\nhost = []\n",
			"web.toml:2: no [[host]] table: the profile lists no host"},
		{"unknown top-level key", "version = 1\n[[host]]\naddresses = [\"192.0.2.1\"]\n",
			`web.toml:1: unknown top-level key "version" (known: host, as [[host]] tables)`},
		{"unknown top-level table after hosts", "[[host]]\naddresses = [\"192.0.2.1\"]\n\n[defaults]\ntcp = 5\n",
			`web.toml:4: unknown top-level key "defaults" (known: host, as [[host]] tables)`},
		{"unknown key", "[[host]]\naddresses = [\"192.0.2.1\"]\n[[host]]\naddresses = [\"192.0.2.2\"]\n\n\n\n\n\n\n\ntcpp = [22]\n",
			`web.toml:12: host 2: unknown key "tcpp" in [[host]] ` + known},
		{"unknown subtable", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.service]\n22 = \"ssh\"\n",
			`web.toml:3: host 1: unknown key "service" in [[host]] ` + known},
		{"unknown key reported first by line", "[[host]]\nzzz = 1\naaa = 2\naddresses = [\"nope\"]\n",
			`web.toml:2: host 1: unknown key "zzz" in [[host]] ` + known},
		{"no addresses", "\n[[host]]\nname = \"x\"\n",
			"web.toml:2: host 1: no addresses"},
		{"empty addresses", "[[host]]\nname = \"x\"\naddresses = []\n",
			"web.toml:3: host 1: no addresses"},
		{"bad address", "[[host]]\nname = \"x\"\naddresses = [\"192.0.2.300\"]\n",
			`web.toml:3: host 1: addresses: "192.0.2.300" is not an IP address or prefix`},
		{"bad address in multi-line list", "[[host]]\naddresses = [\n  \"192.0.2.1\",\n  \"2001:db8::1\",\n  \"198.51.100.0/33\",\n]\n",
			`web.toml:5: host 1: addresses: "198.51.100.0/33" is not an IP address or prefix`},
		{"address with zone", "[[host]]\naddresses = [\"fe80::1%eth0\"]\n",
			`web.toml:2: host 1: addresses: "fe80::1%eth0" is not an IP address or prefix`},
		{"address not a string", "[[host]]\naddresses = [\"192.0.2.1\", 7]\n",
			`web.toml:2: host 1: addresses: 7 is not an IP address or prefix`},
		{"addresses not a list", "[[host]]\n\naddresses = \"192.0.2.1\"\n",
			`web.toml:3: host 1: addresses: must be a list of addresses or prefixes, not "192.0.2.1"`},
		{"personality", "[[host]]\naddresses = [\"192.0.2.1\"]\npersonality = \"bsd\"\n",
			`web.toml:3: host 1: personality: unknown personality "bsd" (known: linux, windows, masscanned)`},
		{"personality not a string", "[[host]]\naddresses = [\"192.0.2.1\"]\npersonality = 1\n",
			`web.toml:3: host 1: personality: unknown personality 1 (known: linux, windows, masscanned)`},
		{"port out of range", "[[host]]\naddresses = [\"192.0.2.1\"]\n\n\n\n\ntcp = [22, 70000]\n",
			"web.toml:7: host 1: tcp: port 70000 out of range 1-65535"},
		{"port 0", "[[host]]\naddresses = [\"192.0.2.1\"]\nudp = [0]\n",
			"web.toml:3: host 1: udp: port 0 out of range 1-65535"},
		{"negative port", "[[host]]\naddresses = [\"192.0.2.1\"]\nudp = [-53]\n",
			"web.toml:3: host 1: udp: port -53 out of range 1-65535"},
		{"port in multi-line list", "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = [\n  22,  # ssh\n  80,\n  \"443-65536\",\n]\n",
			"web.toml:6: host 1: tcp: port 65536 out of range 1-65535"},
		{"reversed range", "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = [\"8100-8000\"]\n",
			`web.toml:3: host 1: tcp: range "8100-8000": 8100 is above 8000`},
		{"bad range", "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = [\"80-http\"]\n",
			`web.toml:3: host 1: tcp: "80-http" is not a port, "a-b" range or "all"`},
		{"bad port string", "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = [\"ssh\"]\n",
			`web.toml:3: host 1: tcp: "ssh" is not a port, "a-b" range or "all"`},
		{"float port", "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = [22.5]\n",
			`web.toml:3: host 1: tcp: 22.5 is not a port, "a-b" range or "all"`},
		{"ports a string", "[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = \"none\"\n",
			`web.toml:3: host 1: tcp: "none" is neither "all" nor a list of ports`},
		{"ports an integer", "[[host]]\naddresses = [\"192.0.2.1\"]\nudp = 53\n",
			`web.toml:3: host 1: udp: 53 is neither "all" nor a list of ports`},
		{"service key", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.services]\n22 = \"ssh\"\nssh = \"ssh\"\n",
			`web.toml:5: host 1: services: key "ssh" is not a port number 1-65535`},
		{"service port 0", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.services]\n0 = \"ssh\"\n",
			`web.toml:4: host 1: services: key "0" is not a port number 1-65535`},
		{"service port too big", "[[host]]\naddresses = [\"192.0.2.1\"]\nservices = { 65536 = \"ssh\" }\n",
			`web.toml:3: host 1: services: key "65536" is not a port number 1-65535`},
		{"unknown service", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.services]\n2222 = \"sshd\"\n",
			`web.toml:4: host 1: services: port 2222: unknown service "sshd" (known: ` + strings.Join(KnownServices, ", ") + ")"},
		{"service not a string", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.services]\n2222 = 22\n",
			`web.toml:4: host 1: services: port 2222: unknown service 22 (known: ` + strings.Join(KnownServices, ", ") + ")"},
		{"services not a table", "[[host]]\naddresses = [\"192.0.2.1\"]\nservices = [\"ssh\"]\n",
			`web.toml:3: host 1: services: must be a table of port = "service", not a list`},
		{"unknown banner", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.banners]\nssh = \"SSH-2.0-x\"\nhttp = \"nginx\"\n",
			`web.toml:5: host 1: banners: unknown key "http" (known: ` + strings.Join(KnownBanners, ", ") + ")"},
		{"dotted key order", "[[host]]\naddresses = [\"192.0.2.1\"]\nbanners.ssh = \"\\u0007\"\ntcp = [0]\n",
			`web.toml:3: host 1: banners: ssh: character '\a' at byte 0 is not printable`},
		{"banner dotted key", "[[host]]\naddresses = [\"192.0.2.1\"]\nbanners.ssh = \"SSH-2.0-x\"\nbanners.sshd = \"x\"\n",
			`web.toml:4: host 1: banners: unknown key "sshd" (known: ` + strings.Join(KnownBanners, ", ") + ")"},
		{"banner too long", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.banners]\nhttp_server = \"" + strings.Repeat("x", 256) + "\"\n",
			`web.toml:4: host 1: banners: http_server: 256 bytes long, at most 255 allowed`},
		{"banner not printable", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.banners]\nssh = \"SSH-2.0-x\\r\\n\"\n",
			`web.toml:4: host 1: banners: ssh: character '\r' at byte 9 is not printable`},
		{"banner multi-line string", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.banners]\nftp = \"\"\"\nhello\nworld\"\"\"\n",
			`web.toml:4: host 1: banners: ftp: character '\n' at byte 5 is not printable`},
		{"banner not a string", "[[host]]\naddresses = [\"192.0.2.1\"]\n[host.banners]\nmysql = 8\n",
			`web.toml:4: host 1: banners: mysql: 8 is not a string`},
		{"banners not a table", "[[host]]\naddresses = [\"192.0.2.1\"]\nbanners = \"x\"\n",
			`web.toml:3: host 1: banners: must be a table of key = "value", not "x"`},
		{"name not a string", "[[host]]\naddresses = [\"192.0.2.1\"]\nname = 5\n",
			`web.toml:3: host 1: name: 5 is not a string`},
		{"name not printable", "[[host]]\naddresses = [\"192.0.2.1\"]\nname = \"a\\tb\"\n",
			`web.toml:3: host 1: name: character '\t' at byte 1 is not printable`},
		{"second host after multi-line string", "[[host]]\naddresses = [\"192.0.2.1\"]\nname = \"\"\"a \\\n[[host]] \\\n b\"\"\"\n[[host]]\nname = '[[host]]' # [[host]]\ntcp = [0]\n",
			`web.toml:8: host 2: tcp: port 0 out of range 1-65535`},
		{"inline hosts", "host = [\n  { addresses = [\"192.0.2.1\"] },\n  { addresses = [\"192.0.2.2\"], tcp = [1,\n 0] },\n]\n",
			`web.toml:4: host 2: tcp: port 0 out of range 1-65535`},
		{"quoted keys", "[[host]]\n\"addresses\" = [\"192.0.2.1\"]\n[host.\"services\"]\n'2222' = \"ssh\"\n\"22.5\" = \"ssh\"\n",
			`web.toml:5: host 1: services: key "22.5" is not a port number 1-65535`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("web.toml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; got %d hosts", len(p.Hosts))
			}
			got := err.Error()
			if strings.HasSuffix(tc.want, ": ") {
				if !strings.HasPrefix(got, tc.want) {
					t.Fatalf("got  %s\nwant %s...", got, tc.want)
				}
			} else if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("multi-line message: %q", got)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "web.toml" {
				t.Errorf("not an *Error naming the file: %#v", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(path, []byte("[[host]]\naddresses = [\"192.0.2.1\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil || p.Path != path || len(p.Hosts) != 1 {
		t.Fatalf("Load: %v, %+v", err, p)
	}
	missing := filepath.Join(dir, "missing.toml")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v", err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[host]]\naddresses = [\"192.0.2.1\"]\ntcp = [99999]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || err.Error() != bad+":3: host 1: tcp: port 99999 out of range 1-65535" {
		t.Errorf("Load(bad) = %v", err)
	}
}

// TestContribProfiles checks that the example profiles shipped in
// contrib/profiles parse.
func TestContribProfiles(t *testing.T) {
	files, err := filepath.Glob("../../contrib/profiles/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("only %d example profiles: %v", len(files), files)
	}
	doc := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	for _, f := range files {
		p, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, h := range p.Hosts {
			for _, pf := range h.Prefixes {
				ok := false
				for _, d := range doc {
					ok = ok || (d.Contains(pf.Addr()) && pf.Bits() >= d.Bits())
				}
				if !ok {
					t.Errorf("%s:%d: %v is not a documentation prefix", f, h.Line, pf)
				}
			}
		}
	}
	// linux-web.toml lists a staging host before the range holding it.
	p, err := Load("../../contrib/profiles/linux-web.toml")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"192.0.2.80": "web-staging", "192.0.2.81": "web", "192.0.2.200": ""} {
		h, got := p.Lookup(netip.MustParseAddr(addr)), ""
		if h != nil {
			got = h.Name
		}
		if got != want {
			t.Errorf("linux-web.toml: Lookup(%s) = %q, want %q", addr, got, want)
		}
	}
}
