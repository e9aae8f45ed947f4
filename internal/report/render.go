package report

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed page.html.tmpl
var pageTemplate string

// sortScript makes the tables sortable by a click on a header; the page
// reads fine without it. The page's Content-Security-Policy allows this
// script only (by its hash): nothing else can run or load.
const sortScript = `document.querySelectorAll("table.t th").forEach(function(th){th.addEventListener("click",function(){var b=th.closest("table").tBodies[0],i=th.cellIndex,d=th.dataset.dir==="d"?"a":"d";th.dataset.dir=d;Array.from(b.rows).sort(function(x,y){var p=x.cells[i],q=y.cells[i];if(!p||!q)return 0;var u=p.dataset.v,v=q.dataset.v,c=(u!==undefined&&v!==undefined)?(+u)-(+v):p.textContent.localeCompare(q.textContent);return d==="a"?c:-c}).forEach(function(r){b.appendChild(r)})})})`

var csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-" + func() string {
	h := sha256.Sum256([]byte(sortScript))
	return base64.StdEncoding.EncodeToString(h[:])
}() + "'"

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{"n": fmtN}).Parse(pageTemplate))

// fmtN writes n with thousands separators: 1,234,567.
func fmtN(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func fmtBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func fmtTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05")
}

// page is what the template renders.
type page struct {
	Title     string
	CSP       string
	Script    template.JS
	Generated string
	Inputs    []Input
	From, To  string
	Span      string
	Cards     []card
	Activity  *activityChart
	Sections  []*section
	Limits    []string
}

type card struct {
	ID, Label, Value, Sub string
}

type section struct {
	ID, Title, Intro string
	Bars             *hbarChart
	Tables           []*table
}

type table struct {
	ID, Title string
	Head      []head
	Rows      [][]cell
	Note      string
	Empty     string
}

type head struct {
	Text string
	Num  bool
}

type cell struct {
	Text  string
	ID    string
	Num   bool
	V     string  // sort value (numbers)
	Bar   float64 // > 0: a bar of this width (percent) behind the number
	Class string  // extra class: mono, wrap
	Title string
}

func num(n uint64) cell { return cell{Text: fmtN(n), Num: true, V: strconv.FormatUint(n, 10)} }

func numBar(n, max uint64) cell {
	c := num(n)
	if max > 0 {
		c.Bar = float64(n) / float64(max) * 100
		if c.Bar < 0.5 {
			c.Bar = 0.5
		}
	}
	return c
}

func txt(s string) cell  { return cell{Text: s} }
func mono(s string) cell { return cell{Text: s, Class: "mono wrap"} }
func timeCell(ns int64) cell {
	return cell{Text: fmtTime(ns), Class: "nowrap", V: strconv.FormatInt(ns/1e6, 10)}
}
func pct(n, total uint64) string {
	if total == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.1f%%", float64(n)/float64(total)*100)
}

// Render writes the report as one self-contained HTML page: no external
// resource, every chart an inline SVG, every string from the events
// escaped.
func (a *Aggregator) Render(w io.Writer, title string, now time.Time) error {
	p := a.page(title, now)
	return tmpl.Execute(w, p)
}

// note describes what a ranked table shows of its counter.
func note(c *counter, shown int, what string) string {
	var parts []string
	if shown < c.Len() {
		parts = append(parts, fmt.Sprintf("showing the top %s of %s distinct %s kept", fmtN(uint64(shown)), fmtN(uint64(c.Len())), what))
	}
	if !c.Exact() {
		parts = append(parts, fmt.Sprintf("to bound memory, %s less frequent %s (%s occurrences) were left out; counts listed are lower bounds",
			fmtN(c.Pruned), what, fmtN(c.PrunedN)))
	}
	return strings.Join(parts, "; ")
}

func split(key string, n int) []string {
	f := strings.SplitN(key, "\x00", n)
	for len(f) < n {
		f = append(f, "")
	}
	return f
}

func (a *Aggregator) page(title string, now time.Time) *page {
	if title == "" {
		title = "masscanned report"
	}
	p := &page{Title: title, CSP: csp, Script: template.JS(sortScript), Generated: now.UTC().Format("2006-01-02 15:04:05 UTC"), Inputs: a.Inputs}
	if a.Events > 0 {
		p.From, p.To = fmtTime(a.First)+" UTC", fmtTime(a.Last)+" UTC"
		p.Span = time.Duration(a.Last - a.First).Round(time.Millisecond).String()
	}
	top := a.opt.Top
	vc := func(v string) uint64 {
		if e := a.verdicts.get(v); e != nil {
			return e.N
		}
		return 0
	}
	distinct := func(c *counter) string {
		if c.Exact() {
			return fmtN(uint64(c.Len()))
		}
		return "≥ " + fmtN(uint64(c.Len()))
	}
	p.Cards = []card{
		{ID: "total-events", Label: "events", Value: fmtN(a.Events), Sub: p.Span},
		{ID: "total-sources", Label: "source addresses", Value: distinct(a.sources)},
		{ID: "total-syns", Label: "TCP SYNs", Value: fmtN(a.SYNs)},
		{ID: "total-conns", Label: "TCP connections", Value: fmtN(a.Conns)},
		{ID: "total-app", Label: "application records", Value: fmtN(a.AppRecords)},
		{ID: "total-credentials", Label: "credentials tried", Value: fmtN(a.Credentials), Sub: fmt.Sprintf("%s distinct, %s accepted", distinct(a.creds), fmtN(a.CredentialsOK))},
		{ID: "total-commands", Label: "commands", Value: fmtN(a.Commands), Sub: distinct(a.commands) + " distinct"},
		{ID: "total-urls", Label: "URLs", Value: fmtN(a.URLs), Sub: distinct(a.urls) + " distinct"},
		{ID: "total-drops", Label: "dropped", Value: fmtN(vc("drop")), Sub: pct(vc("drop"), a.Events)},
	}
	p.Activity = newActivityChart(a.hist)

	p.Sections = append(p.Sections, a.verdictSection(), a.sourceSection(top), a.portSection(top), a.serviceSection(),
		a.credentialSection(), a.commandSection(), a.urlSection(), a.fingerprintSection(top))

	for _, x := range []struct {
		name string
		c    *counter
	}{{"sources", a.sources}, {"source networks", a.nets}, {"destinations", a.dests}, {"credentials", a.creds},
		{"commands", a.commands}, {"URLs", a.urls}, {"user agents", a.userAgents}, {"JA3", a.ja3}, {"JA4", a.ja4},
		{"HASSH", a.hassh}, {"SSH banners", a.sshBanners}, {"TCP/IP fingerprints", a.tcpfp}, {"TLS server names", a.sni}} {
		if !x.c.Exact() {
			p.Limits = append(p.Limits, fmt.Sprintf("%s: %s distinct kept at the end, %s less frequent pruned on the way (%s of %s occurrences); the totals above count them all",
				x.name, fmtN(uint64(x.c.Len())), fmtN(x.c.Pruned), fmtN(x.c.PrunedN), fmtN(x.c.Total)))
		}
	}
	return p
}

func (a *Aggregator) verdictSection() *section {
	s := &section{ID: "verdicts", Title: "Verdicts and reasons",
		Intro: "Every event is a frame received (recv), answered (send) or dropped with a reason (drop), or a record no frame caused: a timer, an application record, a connection's end."}
	verdicts := []string{"recv", "send", "drop"}
	for _, e := range a.verdicts.Top(0) {
		if !slices.Contains(verdicts, e.Key) {
			verdicts = append(verdicts, e.Key)
		}
	}
	kt := &table{ID: "kinds", Title: "Events by kind and verdict", Head: []head{{Text: "kind"}}}
	for _, v := range verdicts {
		kt.Head = append(kt.Head, head{Text: v, Num: true})
	}
	kt.Head = append(kt.Head, head{Text: "total", Num: true})
	kinds := []string{"frame", "timer", "app", "conn-end"}
	for _, e := range a.kinds.Top(0) {
		k := split(e.Key, 2)[0]
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		row := []cell{txt(k)}
		var tot uint64
		for _, v := range verdicts {
			var n uint64
			if e := a.kinds.get(k + "\x00" + v); e != nil {
				n = e.N
			}
			tot += n
			row = append(row, num(n))
		}
		if tot == 0 && k != "frame" {
			continue
		}
		kt.Rows = append(kt.Rows, append(row, num(tot)))
	}
	row := []cell{{Text: "all", Class: "strong"}}
	for _, v := range verdicts {
		c := num(a.verdictN(v))
		c.ID = "verdict-" + v
		row = append(row, c)
	}
	tc := num(a.Events)
	tc.ID = "verdict-total"
	kt.Rows = append(kt.Rows, append(row, tc))
	s.Tables = append(s.Tables, kt)

	rt := &table{ID: "reasons", Title: "Reasons", Head: []head{{Text: "verdict"}, {Text: "reason"}, {Text: "events", Num: true}, {Text: "share of the verdict", Num: true}},
		Empty: "no reasons recorded"}
	var labels []string
	var values []uint64
	rs := a.reasons.Top(0)
	var max uint64
	if len(rs) > 0 {
		max = rs[0].N
	}
	for _, e := range rs {
		f := split(e.Key, 2)
		c := numBar(e.N, max)
		c.ID = "reason-" + f[0] + "-" + f[1]
		rt.Rows = append(rt.Rows, []cell{txt(f[0]), txt(f[1]), c, {Text: pct(e.N, a.verdictN(f[0])), Num: true}})
		if f[0] == "drop" && len(labels) < 15 {
			labels = append(labels, f[1])
			values = append(values, e.N)
		}
	}
	s.Bars = newHBarChart("drop reasons", labels, values, "c-drop")
	s.Tables = append(s.Tables, rt)
	s.Tables = append(s.Tables, simpleTable("replies", "Replies sent", "reply", "events", a.replies, 0, "no replies"),
		simpleTable("suppressed", "Replies suppressed (budgets, UDP ratio)", "reply", "events", a.suppressed, 0, "none suppressed"),
		simpleTable("conn-ends", "How TCP connections ended", "end", "connections", a.connEnds, 0, "no connection ended"),
		simpleTable("layers", "Deepest layer reached", "layer", "events", a.layers, 0, "no layer"))
	return s
}

func (a *Aggregator) verdictN(v string) uint64 {
	if e := a.verdicts.get(v); e != nil {
		return e.N
	}
	return 0
}

func simpleTable(id, title, keyHead, numHead string, c *counter, top int, empty string) *table {
	t := &table{ID: id, Title: title, Head: []head{{Text: keyHead}, {Text: numHead, Num: true}}, Empty: empty}
	es := c.Top(top)
	var max uint64
	if len(es) > 0 {
		max = es[0].N
	}
	for _, e := range es {
		t.Rows = append(t.Rows, []cell{mono(e.Key), numBar(e.N, max)})
	}
	t.Note = note(c, len(es), keyHead+"s")
	return t
}

func (a *Aggregator) sourceSection(top int) *section {
	s := &section{ID: "sources", Title: "Sources", Intro: "Who talked to the sensor: addresses, their /24 (IPv4) or /48 (IPv6) networks, and the sensor addresses they reached. No look-up of any kind is made."}
	t := &table{ID: "top-sources", Title: "Top source addresses", Empty: "no source address",
		Head: []head{{Text: "address"}, {Text: "events", Num: true}, {Text: "SYNs", Num: true}, {Text: "credentials", Num: true}, {Text: "commands", Num: true}, {Text: "first seen (UTC)"}, {Text: "last seen (UTC)"}}}
	es := a.sources.Top(top)
	var max uint64
	if len(es) > 0 {
		max = es[0].N
	}
	for _, e := range es {
		t.Rows = append(t.Rows, []cell{mono(e.Key), numBar(e.N, max), num(e.X[0]), num(e.X[1]), num(e.X[2]), timeCell(e.First), timeCell(e.Last)})
	}
	t.Note = note(a.sources, len(es), "sources")
	s.Tables = append(s.Tables, t,
		netTable(a.nets, top),
		simpleTable("top-dests", "Sensor addresses reached", "address", "events", a.dests, top, "no destination address"))
	return s
}

func (a *Aggregator) portSection(top int) *section {
	s := &section{ID: "ports", Title: "Destination ports", Intro: "Events per destination port; SYNs are connection attempts (scans), connections the TCP connections that ended, app records what a protocol recorded."}
	t := &table{ID: "top-ports", Title: "Top destination ports", Empty: "no port",
		Head: []head{{Text: "port"}, {Text: "events", Num: true}, {Text: "SYNs", Num: true}, {Text: "connections", Num: true}, {Text: "app records", Num: true}}}
	es := a.ports.Top(top)
	var max uint64
	if len(es) > 0 {
		max = es[0].N
	}
	var labels []string
	var values []uint64
	for i, e := range es {
		t.Rows = append(t.Rows, []cell{mono(e.Key), numBar(e.N, max), num(e.X[0]), num(e.X[1]), num(e.X[2])})
		if i < 15 {
			labels = append(labels, e.Key)
			values = append(values, e.N)
		}
	}
	t.Note = note(a.ports, len(es), "ports")
	s.Bars = newHBarChart("events per destination port", labels, values, "c-port")
	s.Tables = append(s.Tables, t)
	return s
}

func (a *Aggregator) serviceSection() *section {
	s := &section{ID: "services", Title: "Services", Intro: "Per application protocol: the records it wrote, the TCP connections it served (from their end events) and what went through them."}
	t := &table{ID: "services-table", Title: "Per-service totals", Empty: "no application protocol spoke",
		Head: []head{{Text: "service"}, {Text: "app records", Num: true}, {Text: "connections", Num: true}, {Text: "bytes in", Num: true}, {Text: "bytes out", Num: true},
			{Text: "mean duration", Num: true}, {Text: "credentials", Num: true}, {Text: "commands", Num: true}}}
	svcs := make([]*Service, 0, len(a.services))
	for _, v := range a.services {
		svcs = append(svcs, v)
	}
	slices.SortFunc(svcs, func(x, y *Service) int {
		if x.Records+x.Conns != y.Records+y.Conns {
			if x.Records+x.Conns > y.Records+y.Conns {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Name, y.Name)
	})
	var max uint64
	for _, v := range svcs {
		max = maxU(max, v.Records)
	}
	var labels []string
	var values []uint64
	for _, v := range svcs {
		dur := ""
		if v.Conns > 0 {
			dur = (time.Duration(v.DurationSum / float64(v.Conns) * float64(time.Second))).Round(time.Millisecond).String()
		}
		bi, bo := num(v.BytesIn), num(v.BytesOut)
		bi.Text, bo.Text = fmtBytes(v.BytesIn), fmtBytes(v.BytesOut)
		rc := numBar(v.Records, max)
		rc.ID = "service-" + v.Name
		t.Rows = append(t.Rows, []cell{mono(v.Name), rc, num(v.Conns), bi, bo, {Text: dur, Num: true}, num(v.Credentials), num(v.Commands)})
		if v.Name != "(none)" && len(labels) < 15 {
			labels = append(labels, v.Name)
			values = append(values, v.Records)
		}
	}
	s.Bars = newHBarChart("application records per service", labels, values, "c-svc")
	s.Tables = append(s.Tables, t)
	return s
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func (a *Aggregator) credentialSection() *section {
	s := &section{ID: "credentials", Title: "Credentials",
		Intro: fmt.Sprintf("Every credential tried, whatever the service (the events' auth records): %s attempts, %s accepted. A secret is a password sent in clear (or trivially encoded), or a hash / challenge response in the format named.",
			fmtN(a.Credentials), fmtN(a.CredentialsOK))}
	t := &table{ID: "credentials-table", Title: "Credentials tried", Empty: "no credential tried",
		Head: []head{{Text: "protocol"}, {Text: "user"}, {Text: "password or hash"}, {Text: "format"}, {Text: "tries", Num: true}, {Text: "accepted", Num: true},
			{Text: "first seen (UTC)"}, {Text: "last seen (UTC)"}, {Text: "first source"}}}
	es := a.creds.Top(0)
	var max uint64
	if len(es) > 0 {
		max = es[0].N
	}
	for _, e := range es {
		f := split(e.Key, 5)
		secret, format := f[2], f[4]
		if f[3] != "" {
			secret = f[3]
		} else if format == "" {
			format = "password"
		}
		first := ""
		if len(e.Info) > 0 {
			first = e.Info[0]
		}
		t.Rows = append(t.Rows, []cell{txt(f[0]), mono(f[1]), mono(secret), txt(format), numBar(e.N, max), num(e.X[0]), timeCell(e.First), timeCell(e.Last), mono(first)})
	}
	t.Note = note(a.creds, len(es), "credentials")
	s.Tables = append(s.Tables, t)
	return s
}

func (a *Aggregator) commandSection() *section {
	s := &section{ID: "commands", Title: "Commands",
		Intro: "Every command recorded (shell command lines of SSH and Telnet sessions, and protocol commands such as FTP's or SMTP's), with the URLs and hosts a command line names."}
	t := &table{ID: "commands-table", Title: "Commands", Empty: "no command recorded",
		Head: []head{{Text: "protocol"}, {Text: "command"}, {Text: "times", Num: true}, {Text: "URLs"}, {Text: "hosts"}, {Text: "first seen (UTC)"}, {Text: "first source"}}}
	es := a.commands.Top(0)
	var max uint64
	if len(es) > 0 {
		max = es[0].N
	}
	for _, e := range es {
		f := split(e.Key, 2)
		info := append(e.Info, "", "", "")
		t.Rows = append(t.Rows, []cell{txt(f[0]), mono(f[1]), numBar(e.N, max), mono(info[0]), mono(info[1]), timeCell(e.First), mono(info[2])})
	}
	t.Note = note(a.commands, len(es), "commands")
	s.Tables = append(s.Tables, t)
	return s
}

func (a *Aggregator) urlSection() *section {
	s := &section{ID: "urls", Title: "URLs", Intro: "URLs requested over HTTP(S) (scheme, Host header and path as the client sent them) and URLs named in command lines."}
	t := &table{ID: "urls-table", Title: "URLs seen", Empty: "no URL seen",
		Head: []head{{Text: "URL"}, {Text: "seen in"}, {Text: "times", Num: true}, {Text: "first seen (UTC)"}, {Text: "last seen (UTC)"}}}
	es := a.urls.Top(0)
	var max uint64
	if len(es) > 0 {
		max = es[0].N
	}
	for _, e := range es {
		f := split(e.Key, 2)
		t.Rows = append(t.Rows, []cell{mono(f[1]), txt(f[0]), numBar(e.N, max), timeCell(e.First), timeCell(e.Last)})
	}
	t.Note = note(a.urls, len(es), "URLs")
	s.Tables = append(s.Tables, t)
	return s
}

func (a *Aggregator) fingerprintSection(top int) *section {
	s := &section{ID: "fingerprints", Title: "Client fingerprints",
		Intro: "What identifies the client software: the TCP/IP signature of each SYN (p0f's raw form, with the OS when a p0f database was given), TLS ClientHellos (JA3, JA4), SSH key exchanges (HASSH) and banners, and user agents."}
	tcp := &table{ID: "fp-tcp", Title: "TCP/IP (p0f) signatures of SYNs", Empty: "no SYN fingerprint",
		Head: []head{{Text: "signature"}, {Text: "OS"}, {Text: "SYNs", Num: true}}}
	es := a.tcpfp.Top(top)
	max := firstN(es)
	for _, e := range es {
		f := split(e.Key, 2)
		tcp.Rows = append(tcp.Rows, []cell{mono(f[0]), txt(f[1]), numBar(e.N, max)})
	}
	tcp.Note = note(a.tcpfp, len(es), "signatures")

	ja3 := &table{ID: "fp-ja3", Title: "JA3", Empty: "no TLS ClientHello",
		Head: []head{{Text: "JA3 hash"}, {Text: "JA3 string"}, {Text: "ClientHellos", Num: true}}}
	es = a.ja3.Top(top)
	max = firstN(es)
	for _, e := range es {
		f := split(e.Key, 2)
		c := mono(f[1])
		c.Class += " small"
		ja3.Rows = append(ja3.Rows, []cell{mono(f[0]), c, numBar(e.N, max)})
	}
	ja3.Note = note(a.ja3, len(es), "JA3")

	ua := &table{ID: "fp-ua", Title: "User agents", Empty: "no user agent",
		Head: []head{{Text: "protocol"}, {Text: "user agent"}, {Text: "requests", Num: true}}}
	es = a.userAgents.Top(top)
	max = firstN(es)
	for _, e := range es {
		f := split(e.Key, 2)
		ua.Rows = append(ua.Rows, []cell{txt(f[0]), mono(f[1]), numBar(e.N, max)})
	}
	ua.Note = note(a.userAgents, len(es), "user agents")

	s.Tables = append(s.Tables, tcp, ja3,
		simpleTable("fp-ja4", "JA4", "JA4", "ClientHellos", a.ja4, top, "no TLS ClientHello"),
		simpleTable("fp-sni", "TLS server names (SNI)", "server name", "ClientHellos", a.sni, top, "no server name"),
		simpleTable("fp-hassh", "HASSH", "HASSH", "key exchanges", a.hassh, top, "no SSH key exchange"),
		simpleTable("fp-ssh-banner", "SSH client banners", "banner", "connections", a.sshBanners, top, "no SSH client banner"),
		ua)
	return s
}

func firstN(es []*entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[0].N
}

// netTable lists the source networks: IPv4 ones are kept as their first
// three numbers.
func netTable(c *counter, top int) *table {
	t := simpleTable("top-nets", "Top source networks", "network", "events", c, top, "no source network")
	for _, r := range t.Rows {
		if !strings.Contains(r[0].Text, "/") {
			r[0].Text += ".0/24"
		}
	}
	return t
}
