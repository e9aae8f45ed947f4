package apptest

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/masscanned-go/masscanned/internal/app"
)

// NmapProbes is where Debian's nmap package installs its service probes.
const NmapProbes = "/usr/share/nmap/nmap-service-probes"

// NmapMatch is one match or softmatch line of nmap-service-probes.
type NmapMatch struct {
	Service string
	Product string // the p/.../ field, empty for none
	Line    string
	re      *regexp.Regexp
}

// NmapProducts returns the match lines of the named TCP probe ("NULL",
// "GenericLines", "GetRequest", "Help", ...) whose pattern matches resp,
// the bytes a server sent. It skips t when the probes file is absent;
// patterns Go's regexp cannot compile are left out.
func NmapProducts(t testing.TB, probe string, resp []byte) []NmapMatch {
	t.Helper()
	return NmapProductsProto(t, "TCP", probe, resp)
}

// NmapProductsProto is NmapProducts for the probe of the given protocol
// ("TCP" or "UDP": nmap names probes per protocol, e.g. UDP SIPOptions).
func NmapProductsProto(t testing.TB, proto, probe string, resp []byte) []NmapMatch {
	t.Helper()
	f, err := os.Open(NmapProbes)
	if err != nil {
		t.Skipf("nmap probes: %v", err)
	}
	defer f.Close()
	subject := latin1(resp)
	var out []NmapMatch
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Probe ") {
			f := strings.Fields(line)
			in = len(f) >= 3 && f[1] == proto && f[2] == probe
			continue
		}
		if !in || !(strings.HasPrefix(line, "match ") || strings.HasPrefix(line, "softmatch ")) {
			continue
		}
		m, ok := parseNmapMatch(line)
		if ok && m.re.MatchString(subject) {
			out = append(out, m)
		}
	}
	return out
}

// NmapProbe returns the bytes nmap sends for the probe of the given
// protocol ("TCP" or "UDP") and name, skipping t when the probes file is
// absent and failing it when the probe is not there.
func NmapProbe(t testing.TB, proto, probe string) []byte {
	t.Helper()
	f, err := os.Open(NmapProbes)
	if err != nil {
		t.Skipf("nmap probes: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fs := strings.SplitN(sc.Text(), " ", 4)
		if len(fs) < 4 || fs[0] != "Probe" || fs[1] != proto || fs[2] != probe {
			continue
		}
		q := fs[3]
		if len(q) < 3 || q[0] != 'q' {
			break
		}
		d := q[1]
		end := strings.IndexByte(q[2:], d)
		if end < 0 {
			break
		}
		return unescapeProbe(q[2 : 2+end])
	}
	t.Fatalf("nmap probe %s %s not found", proto, probe)
	return nil
}

// unescapeProbe decodes the C-style escapes of a probe string.
func unescapeProbe(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '0':
			b = append(b, 0)
		case 'x':
			if i+2 < len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b = append(b, byte(v))
					i += 2
					continue
				}
			}
			b = append(b, 'x')
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// NmapNames reports whether a match in ms names product, failing t with
// the response otherwise.
func NmapNames(t testing.TB, probe string, resp []byte, product string) {
	t.Helper()
	NmapNamesProto(t, "TCP", probe, resp, product)
}

// NmapNamesProto is NmapNames for the probe of the given protocol.
func NmapNamesProto(t testing.TB, proto, probe string, resp []byte, product string) {
	t.Helper()
	ms := NmapProductsProto(t, proto, probe, resp)
	for _, m := range ms {
		if m.Product == product {
			return
		}
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Service+"/"+m.Product)
	}
	t.Errorf("nmap probe %s: %q matches %v, none with product %q", probe, app.Printable(resp), got, product)
}

// latin1 maps each byte to the rune of the same value so that Perl-style
// \xNN escapes (compiled as runes) match raw bytes.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func parseNmapMatch(line string) (NmapMatch, bool) {
	var m NmapMatch
	m.Line = line
	_, rest, _ := strings.Cut(line, " ")
	svc, rest, ok := strings.Cut(rest, " ")
	if !ok || len(rest) < 3 || rest[0] != 'm' {
		return m, false
	}
	m.Service = svc
	d := rest[1]
	end := strings.IndexByte(rest[2:], d)
	if end < 0 {
		return m, false
	}
	// Go's regexp has no lookahead: nmap's idiom for "header lines up to
	// the blank line", (?:[^\r\n]*\r\n(?!\r\n))*?, becomes the
	// equivalent (?:[^\r\n]+\r\n)*? (it follows the status line).
	pat := strings.ReplaceAll(rest[2:2+end], `(?:[^\r\n]*\r\n(?!\r\n))*?`, `(?:[^\r\n]+\r\n)*?`)
	rest = rest[2+end+1:]
	flags, info, _ := strings.Cut(rest, " ")
	prefix := ""
	if strings.Contains(flags, "s") {
		prefix += "(?s)"
	}
	if strings.Contains(flags, "i") {
		prefix += "(?i)"
	}
	re, err := regexp.Compile(prefix + convertPerl(latin1([]byte(pat))))
	if err != nil {
		return m, false
	}
	m.re = re
	if i := strings.Index(" "+info, " p"); i >= 0 {
		s := info[i:]
		if len(s) >= 2 {
			pd := s[1]
			if j := strings.IndexByte(s[2:], pd); j >= 0 {
				m.Product = s[2 : 2+j]
			}
		}
	}
	return m, true
}

// convertPerl rewrites the Perl escapes Go lacks: \0 becomes \x00.
func convertPerl(p string) string {
	var sb strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			if p[i+1] == '0' {
				sb.WriteString(`\x00`)
			} else {
				sb.WriteByte('\\')
				sb.WriteByte(p[i+1])
			}
			i++
			continue
		}
		sb.WriteByte(p[i])
	}
	return sb.String()
}

// DriveGreeter calls g.Greet on c, checks the Result, then serves data as
// Drive does, without content detection, the way the stack routes a
// greeted connection.
func DriveGreeter(t testing.TB, g app.Greeter, c *app.Conn, data []byte) {
	t.Helper()
	res := g.Greet(c)
	if res.NeedMore || res.Consumed != 0 {
		t.Fatalf("Greet: NeedMore %v Consumed %d", res.NeedMore, res.Consumed)
	}
	if res.Close {
		return
	}
	buf := data
	for i := 0; len(buf) > 0 && i < 1000; i++ {
		res := g.Serve(c, buf)
		if res.NeedMore && (res.Consumed != 0 || len(res.Reply) != 0) {
			t.Fatalf("NeedMore with Consumed %d and a %d-byte reply", res.Consumed, len(res.Reply))
		}
		if res.Consumed < 0 || res.Consumed > len(buf) {
			t.Fatalf("consumed %d of %d bytes", res.Consumed, len(buf))
		}
		if res.NeedMore || res.Close || res.Consumed == 0 {
			return
		}
		buf = buf[res.Consumed:]
	}
}
