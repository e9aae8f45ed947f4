package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	dto "github.com/prometheus/client_model/go"

	"github.com/masscanned-go/masscanned/internal/app/all"
	"github.com/masscanned-go/masscanned/internal/config"
)

// runForMetrics runs masscanned as main's run does, with args, and returns
// the runner (to gather its registry after the run), stdout and stderr.
func runForMetrics(t *testing.T, args ...string) (*runner, string, string) {
	t.Helper()
	var o config.Options
	var stdout, stderr bytes.Buffer
	fs := config.NewFlagSet(&o, &stderr)
	rl := registerRateFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Finish(); err != nil {
		t.Fatal(err)
	}
	budget, err := rl.build(o.NoRateLimit)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{o: &o, reg: all.Registry(), budget: budget, log: newLogger(&stderr, o.Verbose), stdout: &stdout, stderr: &stderr}
	if err := r.run(context.Background()); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if r.prom == nil || r.prom.reg == nil {
		t.Fatal("no metrics registry")
	}
	return r, stdout.String(), stderr.String()
}

// summary parses the exit summary line ("msg=stopped") into its numbers.
func summary(t *testing.T, stderr string) map[string]float64 {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, "msg=stopped") {
			continue
		}
		out := map[string]float64{}
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if n, err := strconv.ParseFloat(v, 64); ok && err == nil {
				out[k] = n
			}
		}
		return out
	}
	t.Fatalf("no exit summary in %q", stderr)
	return nil
}

// series is a gathered registry: "name{l1=v1,l2=v2}" -> value, with
// labels in the registry's (sorted) order.
func gather(t *testing.T, r *runner) map[string]float64 {
	t.Helper()
	mfs, err := r.prom.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			k := mf.GetName()
			if len(ls) > 0 {
				k += "{" + strings.Join(ls, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[k] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[k] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// sumOf adds the series of a family.
func sumOf(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// metricsCapture is the replay capture plus a burst of echo requests
// (for the ICMP budget) and a frame with a bad checksum.
func metricsCapture(t *testing.T, dir string) (string, int) {
	frames, _ := replayFrames(t)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i := range 20 {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts,
			&layers.Ethernet{SrcMAC: rpCliMAC, DstMAC: rpOurMAC, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: rpCli4, DstIP: rpOur4},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: uint16(i)}, gopacket.Payload("burst")); err != nil {
			t.Fatal(err)
		}
		f := append([]byte(nil), buf.Bytes()...)
		if i == 19 {
			f[14+20+8] ^= 0xff // bad ICMP checksum (the first payload byte)
		}
		frames = append(frames, f)
	}
	p := filepath.Join(dir, "metrics.pcap")
	writePcap(t, p, frames, time.Unix(1764072000, 0))
	return p, len(frames)
}

// TestMetricsMatchSummary: after a run, the scraped counters are those of
// the exit summary, the per-frame families add up to the frames received,
// and they agree with the events written.
func TestMetricsMatchSummary(t *testing.T) {
	dir := t.TempDir()
	in, nframes := metricsCapture(t, dir)
	base := []string{"--read-pcap", in, "-m", rpOurMAC.String(), "--self-ip-list", "198.51.100.2,2001:db8:100::2",
		"--metrics", "127.0.0.1:0", "--rate-icmp-host", "1", "--rate-icmp-net", "1"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"json", []string{"--format", "json", "--write-pcap", filepath.Join(dir, "out.pcap")}},
		{"tiny queue", []string{"--format", "json", "--event-queue", "1"}},
		{"quiet", []string{"-q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, stdout, stderr := runForMetrics(t, append(base, tc.args...)...)
			sum, got := summary(t, stderr), gather(t, r)
			t.Logf("exit summary: %v", sum)
			pairs := map[string]string{
				"frames":            "masscanned_link_frames_received_total",
				"sent":              "masscanned_link_frames_sent_total",
				"send_errors":       "masscanned_link_send_errors_total",
				"kernel_drops":      "masscanned_link_kernel_drops_total",
				"tcp_conns":         "masscanned_tcp_connections",
				"tcp_evicted":       "masscanned_tcp_connections_evicted_total",
				"suppressed_synack": "masscanned_budget_suppressed_total{class=synack}",
				"suppressed_icmp":   "masscanned_budget_suppressed_total{class=icmp}",
				"suppressed_udp":    "masscanned_budget_suppressed_total{class=udp}",
			}
			if tc.name != "quiet" {
				pairs["events_written"] = "masscanned_output_records_written_total{output=events}"
				pairs["events_dropped"] = "masscanned_output_records_dropped_total{output=events}"
			} else if _, ok := sum["events_written"]; ok {
				t.Error("-q: the summary counts events")
			}
			if _, ok := sum["pcap_write_errors"]; ok {
				t.Error("offline --write-pcap has no recorder: no pcap_write_errors expected")
			}
			for k, name := range pairs {
				v, ok := got[name]
				if s, sok := sum[k]; !ok || !sok || v != s {
					t.Errorf("summary %s=%v (present %v), metric %s=%v (present %v)", k, s, sok, name, v, ok)
				}
			}
			if sum["frames"] != float64(nframes) || sum["suppressed_icmp"] == 0 {
				t.Errorf("summary %v: want %d frames and some ICMP suppressed", sum, nframes)
			}
			// every frame is counted once by layer and verdict, whatever
			// happened to its event
			if s := sumOf(got, "masscanned_frames_total"); s != float64(nframes) {
				t.Errorf("frames_total adds up to %v, %d frames", s, nframes)
			}
			if s, d := got["masscanned_unanswered_total{reason=rate-limited}"], got["masscanned_replies_suppressed_total{kind=echo-reply,reason=rate-limited}"]; s != sum["suppressed_icmp"] || d != s {
				t.Errorf("unanswered rate-limited %v, suppressed echo-reply %v, summary suppressed_icmp %v", s, d, sum["suppressed_icmp"])
			}
			if v := got["masscanned_drops_total{reason=bad-checksum}"]; v != 1 {
				t.Errorf("bad-checksum drops: %v", v)
			}
			// the replay answers each frame with one frame
			if s := sumOf(got, "masscanned_replies_total"); s != sum["sent"] {
				t.Errorf("replies_total adds up to %v, %v sent", s, sum["sent"])
			}
			if tc.name == "quiet" {
				return
			}
			// the events written agree with the counters (with a full
			// queue some are dropped: then they are fewer)
			want := map[string]float64{}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			for _, line := range lines {
				var ev struct {
					Kind, Layer, Verdict, Reply, Reason string
					App                                 *struct{ Proto string }
				}
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("%v: %q", err, line)
				}
				if ev.Kind == "" {
					want["masscanned_frames_total{layer="+ev.Layer+",verdict="+ev.Verdict+"}"]++
				}
				if ev.Reply != "" {
					want["masscanned_replies_total{kind="+ev.Reply+"}"]++
				}
				if ev.Verdict == "drop" {
					want["masscanned_drops_total{reason="+ev.Reason+"}"]++
				}
				if ev.App != nil {
					want["masscanned_app_requests_total{service="+ev.App.Proto+"}"]++
				}
			}
			if float64(len(lines)) != sum["events_written"] {
				t.Errorf("%d event lines, summary says %v written", len(lines), sum["events_written"])
			}
			exact := sum["events_dropped"] == 0
			if tc.name == "json" && !exact {
				t.Fatalf("events dropped with the default queue: %v", sum)
			}
			for k, v := range want {
				if g := got[k]; exact && g != v || !exact && g < v {
					t.Errorf("%s = %v, %v in the events", k, g, v)
				}
			}
			if exact {
				for _, svc := range []string{"dns", "stun"} {
					if want["masscanned_app_requests_total{service="+svc+"}"] != 1 {
						t.Errorf("%s: %v requests in the events", svc, want)
					}
				}
			}
		})
	}
}

// TestMetricsStartErrors: a port in use is one clear error line and a
// non-zero exit at start; a malformed address is a usage error.
func TestMetricsStartErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	in := filepath.Join("testdata", "replay.pcap")
	for _, tc := range []struct {
		addr string
		code int
		msg  string
	}{
		{ln.Addr().String(), exitRuntime, "--metrics " + ln.Addr().String() + ": cannot listen: bind: address already in use"},
		{"9100", exitUsage, `invalid --metrics address "9100"`},
		{"127.0.0.1:http", exitUsage, "the port must be a number"},
		{"192.0.2.250:9100", exitRuntime, "cannot listen"}, // not an address of this host
	} {
		var out, errb bytes.Buffer
		code := run([]string{"--read-pcap", in, "-q", "--metrics", tc.addr}, &out, &errb)
		msg := errb.String()
		if code != tc.code || !strings.HasPrefix(msg, "masscanned: error: ") || !strings.Contains(msg, tc.msg) || strings.Count(msg, "\n") != 1 {
			t.Errorf("--metrics %s: exit %d, stderr %q; want exit %d and one line with %q", tc.addr, code, msg, tc.code, tc.msg)
		}
	}
}
