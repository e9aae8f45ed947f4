package apptest

import (
	"bufio"
	"os"
	"regexp"
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
			in = len(f) >= 3 && f[1] == "TCP" && f[2] == probe
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

// NmapNames reports whether a match in ms names product, failing t with
// the response otherwise.
func NmapNames(t testing.TB, probe string, resp []byte, product string) {
	t.Helper()
	ms := NmapProducts(t, probe, resp)
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
	pat := rest[2 : 2+end]
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
