package profile

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var errForm = regexp.MustCompile(`^fuzz\.toml:[1-9][0-9]*: [^\n]+$`)

// FuzzParse: any input either parses or gives one "file:line: problem"
// message within the input's lines, never a panic; a profile that parses
// satisfies the invariants the responder relies on.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[[host]]\naddresses = [\"192.0.2.1\"]\n"))
	f.Add([]byte("[[host]]\nname = \"w\"\naddresses = [\"2001:db8::/32\", \"::ffff:198.51.100.0/120\"]\npersonality = \"Windows\"\ntcp = [22, \"8000-8100\"]\nudp = []\n[host.services]\n2222 = \"ssh\"\n[host.banners]\nssh = \"SSH-2.0-x\"\n"))
	f.Add([]byte("host = [{ addresses = [\"192.0.2.0/24\"], tcp = \"all\", services = { 80 = \"http\" } }]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		locate(in) // the line scanner alone must not panic on anything
		p, err := Parse("fuzz.toml", in)
		if err != nil {
			msg := err.Error()
			if !errForm.MatchString(msg) {
				t.Fatalf("error not in file:line: form: %q", msg)
			}
			if e, ok := err.(*Error); ok && e.Line > strings.Count(string(in), "\n")+1 {
				t.Fatalf("line %d beyond the input: %q", e.Line, msg)
			}
			return
		}
		if len(p.Hosts) == 0 {
			t.Fatal("parsed with no hosts")
		}
		// The line scanner must see the hosts the decoder saw, or the
		// lines it gives would belong to another host.
		if n := len(locate(in).hosts); n != len(p.Hosts) {
			t.Fatalf("decoder found %d hosts, line scanner %d", len(p.Hosts), n)
		}
		lines := strings.Count(string(in), "\n") + 1
		for i, h := range p.Hosts {
			if h.Line < 1 || h.Line > lines {
				t.Fatalf("host %d: line %d", i+1, h.Line)
			}
			if i > 0 && h.Line < p.Hosts[i-1].Line {
				t.Fatalf("host %d: line %d before the previous host's", i+1, h.Line)
			}
			if len(h.Prefixes) == 0 {
				t.Fatalf("host %d: no prefixes", i+1)
			}
			for _, pf := range h.Prefixes {
				if !pf.IsValid() || pf != pf.Masked() || pf.Addr().Is4In6() {
					t.Fatalf("host %d: prefix %v", i+1, pf)
				}
				// The host, or an earlier one, answers for the address.
				got := p.Lookup(pf.Addr())
				if got == nil || slices.Index(p.Hosts, got) > i {
					t.Fatalf("host %d: Lookup(%v) = %v", i+1, pf.Addr(), got)
				}
			}
			if !slices.Contains(Personalities, h.Personality) {
				t.Fatalf("host %d: personality %q", i+1, h.Personality)
			}
			if h.TCPOpen(0) || h.UDPOpen(0) {
				t.Fatalf("host %d: port 0 open", i+1)
			}
			n := 0
			for port := 1; port <= 65535; port++ {
				if h.TCPOpen(uint16(port)) {
					n++
				}
			}
			if n != h.OpenTCPPorts() {
				t.Fatalf("host %d: OpenTCPPorts %d, counted %d", i+1, h.OpenTCPPorts(), n)
			}
			for port, s := range h.Services {
				if port == 0 || h.Service(port) != s {
					t.Fatalf("host %d: service %d = %q", i+1, port, s)
				}
				if _, ok := slices.BinarySearch(KnownServices, s); !ok {
					t.Fatalf("host %d: unknown service %q", i+1, s)
				}
			}
			for k, v := range h.Banners {
				if _, ok := slices.BinarySearch(KnownBanners, k); !ok || len(v) > MaxBanner || h.Banner(k) != v {
					t.Fatalf("host %d: banner %q = %q", i+1, k, v)
				}
			}
		}
	})
}
