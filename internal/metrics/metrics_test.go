package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/masscanned-go/masscanned/internal/event"
)

// TestKnownLabels: every stable identifier of the event package (drop
// reasons, connection ends) has its own label value, not "other".
func TestKnownLabels(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../event/event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(1, nil)
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				var l *labels
				switch {
				case strings.HasPrefix(name.Name, "Reason"):
					l = s.reasons
				case strings.HasPrefix(name.Name, "End"):
					l = s.ends
				default:
					continue
				}
				n++
				if l.names[l.index(v)] != v {
					t.Errorf("event.%s = %q has no label value of its own", name.Name, v)
				}
			}
		}
	}
	if n < 30 {
		t.Errorf("found only %d Reason/End constants in event.go", n)
	}
}

// TestFastIndex: the switches agree with the tables.
func TestFastIndex(t *testing.T) {
	s := NewSet(1, nil)
	for _, l := range []*labels{s.layers, s.replies, s.reasons} {
		for i, n := range l.names {
			if got := l.index(n); got != i {
				t.Errorf("index(%q) = %d, want %d", n, got, i)
			}
			if j, ok := l.idx[n]; n != other && (!ok || j != i) {
				t.Errorf("map index of %q: %d %v", n, j, ok)
			}
		}
		if got := l.index("nope"); l.names[got] != other {
			t.Errorf("index(nope) = %d", got)
		}
	}
}

func frame(layer string, v event.Verdict, reason, reply, suppressed string) *event.Event {
	return &event.Event{Layer: layer, Verdict: v, Reason: reason, Reply: reply, Suppressed: suppressed}
}

// feed gives the counters of two workers a known mix of events.
func feed(s *Set) {
	w0, w1 := s.Worker(0), s.Worker(1)
	w0.Frame(frame("arp", event.Answered, "", "arp-reply", ""))
	w1.Frame(frame("arp", event.Answered, "", "arp-reply", ""))
	w0.Frame(frame("icmpv4", event.Answered, "", "echo-reply", ""))
	w0.Frame(frame("icmpv4", event.Received, event.ReasonRateLimited, "", "echo-reply"))
	w1.Frame(frame("eth", event.Dropped, event.ReasonNotOurMAC, "", ""))
	w1.Frame(frame("ipv4", event.Dropped, event.ReasonNotOurIP, "", ""))
	w1.Frame(frame("ipv4", event.Dropped, event.ReasonNotOurIP, "", ""))
	w0.Frame(frame("tcp", event.Answered, "", "syn-ack", ""))
	w0.Frame(frame("tcp", event.Answered, event.ReasonClosedPort, "rst-ack", ""))
	w0.Frame(frame("weird", event.Dropped, "new-reason", "", ""))
	w1.Frame(frame("udp", event.Received, event.ReasonUDPRatio, "", "udp-reply"))
	// an HTTP request with Basic credentials, answered
	e := frame("tcp", event.Answered, "", "data", "")
	e.App = &event.App{Proto: "http", Fields: []event.Field{{Key: "method", Value: "GET"}, event.AuthField("http", "admin", "admin", false)}}
	w0.Frame(e)
	// library records (SSH): a refused and an accepted password, a command
	w1.Event(&event.Event{Kind: event.KindApp, Layer: "tcp", App: &event.App{Proto: "ssh", Fields: []event.Field{event.AuthField("ssh", "root", "1234", false)}}})
	w1.Event(&event.Event{Kind: event.KindApp, Layer: "tcp", App: &event.App{Proto: "ssh", Fields: []event.Field{event.AuthField("ssh", "root", "root", true)}}})
	w1.Event(&event.Event{Kind: event.KindApp, Layer: "tcp", App: &event.App{Proto: "ssh", Fields: []event.Field{{Key: "command", Value: "uname -a"}, {Key: "command", Value: "repeated key: not written, not counted"}}}})
	// timer actions and connection ends
	w0.Event(&event.Event{Kind: event.KindTimer, Layer: "tcp", Reply: "syn-ack", Reason: event.ReasonRetransmit})
	w0.Event(&event.Event{Kind: event.KindTimer, Layer: "tcp", Suppressed: "syn-ack", Reason: event.ReasonRateLimited})
	w0.Event(&event.Event{Kind: event.KindConnEnd, Layer: "tcp", Conn: event.ConnEnd{End: event.EndFIN, Proto: "http"}})
	w1.Event(&event.Event{Kind: event.KindConnEnd, Layer: "tcp", Conn: event.ConnEnd{End: event.EndIdle}})
	// an application the Set was not told about
	w1.Frame(&event.Event{Layer: "udp", Verdict: event.Answered, Reply: "data", App: &event.App{Proto: "gopher"}})
}

func TestCollect(t *testing.T) {
	s := NewSet(2, []string{"http", "ssh", "dns"})
	feed(s)
	c := NewCollector(s, nil)
	want := `
# HELP masscanned_frames_total Frames handled, by the deepest layer parsed and the verdict (recv: accepted, no reply; send: answered; drop: rejected).
# TYPE masscanned_frames_total counter
masscanned_frames_total{layer="arp",verdict="send"} 2
masscanned_frames_total{layer="eth",verdict="drop"} 1
masscanned_frames_total{layer="icmpv4",verdict="recv"} 1
masscanned_frames_total{layer="icmpv4",verdict="send"} 1
masscanned_frames_total{layer="ipv4",verdict="drop"} 2
masscanned_frames_total{layer="other",verdict="drop"} 1
masscanned_frames_total{layer="tcp",verdict="send"} 3
masscanned_frames_total{layer="udp",verdict="recv"} 1
masscanned_frames_total{layer="udp",verdict="send"} 1
# HELP masscanned_replies_suppressed_total Replies built but not sent, by kind and reason (rate-limited: a reply budget; udp-ratio: larger than --udp-max-ratio times the request).
# TYPE masscanned_replies_suppressed_total counter
masscanned_replies_suppressed_total{kind="echo-reply",reason="rate-limited"} 1
masscanned_replies_suppressed_total{kind="syn-ack",reason="rate-limited"} 1
masscanned_replies_suppressed_total{kind="udp-reply",reason="udp-ratio"} 1
# HELP masscanned_credentials_total Application records carrying a credential (an auth field), by service and whether the login was accepted.
# TYPE masscanned_credentials_total counter
masscanned_credentials_total{service="http",success="false"} 1
masscanned_credentials_total{service="ssh",success="false"} 1
masscanned_credentials_total{service="ssh",success="true"} 1
# HELP masscanned_commands_total Application records carrying a command (a command field: protocol commands and shell command lines), by service.
# TYPE masscanned_commands_total counter
masscanned_commands_total{service="dns"} 0
masscanned_commands_total{service="http"} 0
masscanned_commands_total{service="none"} 0
masscanned_commands_total{service="ssh"} 1
# HELP masscanned_app_requests_total Application records (requests recognised by a protocol handler), by service.
# TYPE masscanned_app_requests_total counter
masscanned_app_requests_total{service="dns"} 0
masscanned_app_requests_total{service="http"} 1
masscanned_app_requests_total{service="none"} 0
masscanned_app_requests_total{service="other"} 1
masscanned_app_requests_total{service="ssh"} 3
# HELP masscanned_tcp_connections_ended_total TCP connections ended, by end reason and the application protocol that served them (none: no application).
# TYPE masscanned_tcp_connections_ended_total counter
masscanned_tcp_connections_ended_total{end="fin",service="http"} 1
masscanned_tcp_connections_ended_total{end="idle",service="none"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "masscanned_frames_total", "masscanned_replies_suppressed_total",
		"masscanned_credentials_total", "masscanned_commands_total", "masscanned_app_requests_total", "masscanned_tcp_connections_ended_total"); err != nil {
		t.Error(err)
	}
	// one-label families: every known value, zeros included
	for name, values := range map[string]map[string]float64{
		"masscanned_drops_total":      {event.ReasonNotOurMAC: 1, event.ReasonNotOurIP: 2, "other": 1, event.ReasonBadCookie: 0, event.ReasonTruncated: 0},
		"masscanned_unanswered_total": {event.ReasonRateLimited: 1, event.ReasonUDPRatio: 1, event.ReasonNoApp: 0},
		"masscanned_replies_total":    {"arp-reply": 2, "echo-reply": 1, "syn-ack": 2, "rst-ack": 1, "data": 2, "na": 0},
	} {
		got := values1(t, c, name)
		for k, v := range values {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, k, g, ok, v)
			}
		}
	}
	if n := testutil.CollectAndCount(c, "masscanned_drops_total"); n != len(reasonNames)+1 {
		t.Errorf("%d drops series, want %d (every reason and other)", n, len(reasonNames)+1)
	}
}

// values1 collects a one-label family as label value -> value.
func values1(t *testing.T, c prometheus.Collector, name string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func testStats() Stats {
	return Stats{Received: 100, Sent: 60, SendErrors: 1, KernelDrops: 3, Conns: 7, ConnBytes: 512, MaxConns: 65536, Evicted: 2, Libraries: 1,
		Budget:  &BudgetStats{SYNACK: 4, ICMP: 5, UDP: 6, Evictions: 9},
		Outputs: []Output{{Name: "events", Written: 90, Dropped: 10}}}
}

func TestCollectStats(t *testing.T) {
	c := NewCollector(nil, testStats)
	want := `
# HELP masscanned_link_frames_received_total Frames received from the link(s).
# TYPE masscanned_link_frames_received_total counter
masscanned_link_frames_received_total 100
# HELP masscanned_link_kernel_drops_total Frames the kernel dropped before masscanned read them (AF_PACKET ring full: PACKET_STATISTICS).
# TYPE masscanned_link_kernel_drops_total counter
masscanned_link_kernel_drops_total 3
# HELP masscanned_tcp_connections TCP connections in the connection table.
# TYPE masscanned_tcp_connections gauge
masscanned_tcp_connections 7
# HELP masscanned_tcp_connections_evicted_total TCP connections evicted from a full connection table.
# TYPE masscanned_tcp_connections_evicted_total counter
masscanned_tcp_connections_evicted_total 2
# HELP masscanned_library_connections Connections served by an application library (SSH, TLS) now.
# TYPE masscanned_library_connections gauge
masscanned_library_connections 1
# HELP masscanned_budget_suppressed_total Replies refused by an anti-reflection budget, by class (synack, icmp, udp).
# TYPE masscanned_budget_suppressed_total counter
masscanned_budget_suppressed_total{class="icmp"} 5
masscanned_budget_suppressed_total{class="synack"} 4
masscanned_budget_suppressed_total{class="udp"} 6
# HELP masscanned_output_records_dropped_total Records dropped because the output's queue was full, by output.
# TYPE masscanned_output_records_dropped_total counter
masscanned_output_records_dropped_total{output="events"} 10
# HELP masscanned_output_records_written_total Records written, by output (events: the event stream).
# TYPE masscanned_output_records_written_total counter
masscanned_output_records_written_total{output="events"} 90
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "masscanned_link_frames_received_total", "masscanned_link_kernel_drops_total",
		"masscanned_tcp_connections", "masscanned_tcp_connections_evicted_total", "masscanned_library_connections",
		"masscanned_budget_suppressed_total", "masscanned_output_records_dropped_total", "masscanned_output_records_written_total"); err != nil {
		t.Error(err)
	}
	// no budget, no outputs: those families are absent, not zero
	c = NewCollector(nil, func() Stats { return Stats{} })
	if n := testutil.CollectAndCount(c, "masscanned_budget_suppressed_total", "masscanned_output_records_written_total"); n != 0 {
		t.Errorf("%d series without budget and outputs", n)
	}
}

// TestLint: the whole registry (ours, Go runtime, process) passes
// promlint, the checks promtool check metrics runs.
func TestLint(t *testing.T) {
	s := NewSet(2, []string{"http", "ssh"})
	feed(s)
	reg := NewRegistry(NewCollector(s, testStats), "test")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total", "masscanned_build_info", "masscanned_frames_total", "masscanned_workers"} {
		if !names[n] {
			t.Errorf("registry lacks %s", n)
		}
	}
}

// TestNoAllocs: counting a frame or an event allocates nothing.
func TestNoAllocs(t *testing.T) {
	s := NewSet(1, []string{"http", "ssh"})
	w := s.Worker(0)
	evs := []*event.Event{
		frame("tcp", event.Answered, "", "syn-ack", ""),
		frame("eth", event.Dropped, event.ReasonNotOurMAC, "", ""),
		frame("udp", event.Received, event.ReasonRateLimited, "", "udp-reply"),
		{Layer: "tcp", Verdict: event.Answered, Reply: "data", App: &event.App{Proto: "http", Fields: []event.Field{{Key: "command", Value: "GET"}, event.AuthField("http", "a", "b", true)}}},
	}
	for _, e := range evs {
		if n := testing.AllocsPerRun(100, func() { w.Frame(e) }); n != 0 {
			t.Errorf("Frame(%+v): %v allocations", e, n)
		}
	}
	end := &event.Event{Kind: event.KindConnEnd, Conn: event.ConnEnd{End: event.EndRST, Proto: "ssh"}}
	emit := w.Wrap(func(*event.Event) {})
	if n := testing.AllocsPerRun(100, func() { emit(end) }); n != 0 {
		t.Errorf("Event: %v allocations", n)
	}
	var nilC *Counters
	nilC.Frame(evs[0])
	nilC.Event(end)
	if nilC.Wrap(nil) != nil {
		t.Error("a nil Counters wraps nil into non-nil")
	}
}

func BenchmarkFrame(b *testing.B) {
	s := NewSet(1, []string{"http", "ssh"})
	w := s.Worker(0)
	e := frame("tcp", event.Answered, "", "syn-ack", "")
	b.ReportAllocs()
	for b.Loop() {
		w.Frame(e)
	}
}

func BenchmarkFrameApp(b *testing.B) {
	s := NewSet(1, []string{"http", "ssh"})
	w := s.Worker(0)
	e := &event.Event{Layer: "tcp", Verdict: event.Answered, Reply: "data", App: &event.App{Proto: "http",
		Fields: []event.Field{{Key: "method", Value: "GET"}, {Key: "uri", Value: "/"}, event.AuthField("http", "a", "b", false)}}}
	b.ReportAllocs()
	for b.Loop() {
		w.Frame(e)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, a := range []string{"127.0.0.1:9100", "[::1]:9100", ":9100", "localhost:9100", "0.0.0.0:65535", "127.0.0.1:0"} {
		if err := CheckAddr(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{"127.0.0.1", "9100", "127.0.0.1:http", "127.0.0.1:70000", "::1:9100", ""} {
		if err := CheckAddr(a); err == nil {
			t.Errorf("%s accepted", a)
		}
	}
}

func TestServer(t *testing.T) {
	srv, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	// the port is taken now: a second listener fails with a clear error
	if _, err := Listen(addr); err == nil || !strings.Contains(err.Error(), "cannot listen") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second listener on %s: %v", addr, err)
	}
	s := NewSet(2, []string{"http", "ssh"})
	feed(s)
	srv.Serve(NewRegistry(NewCollector(s, testStats), "test"))
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `masscanned_frames_total{layer="arp",verdict="send"} 2`) ||
		!strings.Contains(body, "masscanned_link_frames_received_total 100") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still listening after Close")
	}
}

func BenchmarkFrameDrop(b *testing.B) {
	s := NewSet(1, nil)
	w := s.Worker(0)
	e := frame("ipv4", event.Dropped, event.ReasonNotOurIP, "", "")
	b.ReportAllocs()
	for b.Loop() {
		w.Frame(e)
	}
}
