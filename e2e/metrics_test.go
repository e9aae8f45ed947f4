package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricsAddr is where masscanned serves --metrics in the responder
// namespace: its loopback, through the kernel's own socket (the namespace
// is the lab's own, so any port is free).
const metricsAddr = "127.0.0.1:9464"

// scrape fetches /metrics with curl inside the responder namespace and
// returns the text and its samples as "name{l1=v1,l2=v2}" -> value.
func scrape(t *testing.T, l *Lab) (string, map[string]float64) {
	t.Helper()
	out, err := l.InResp(10*time.Second, "curl", "-sSf", "--max-time", "5", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, out)
	}
	return out, parseSamples(t, out)
}

func parseSamples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		m[strings.ReplaceAll(line[:i], `"`, "")] = v
	}
	return m
}

func familySum(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// TestMetrics: masscanned serves Prometheus metrics on a management
// address (the responder namespace's loopback) while real clients talk to
// it; promtool accepts the scrape, the counters match the exit summary
// and the JSON events, and the metrics are not reachable on the
// responder's own addresses.
func TestMetrics(t *testing.T) {
	Require(t, "curl", "ping", "nmap", "ssh", "sshpass", "ssh-keyscan", "promtool")
	t.Parallel()
	l := NewLab(t, LabOptions{})
	l.Start("--metrics", metricsAddr, "--ssh-accept-after", "1", "--idle-timeout", "5s")
	// the server starts once the workers exist: wait for it
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := l.InResp(5*time.Second, "curl", "-sf", "-o", "/dev/null", "http://"+metricsAddr+"/metrics"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("metrics not served: %v\n%s\n%s", err, out, l.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// the responder's addresses answer HTTP with masscanned's own server,
	// never with the metrics
	out, _ := l.InClient(10*time.Second, "curl", "-s", "--max-time", "5", "http://"+RespIP4+":9464/metrics")
	if strings.Contains(out, "masscanned_") || strings.Contains(out, "go_goroutines") {
		t.Errorf("metrics reachable on the responder's address:\n%s", out)
	}

	// traffic from real clients
	if out, err := l.InClient(10*time.Second, "ping", "-c", "3", "-i", "0.2", RespIP4); err != nil {
		t.Errorf("ping: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "ping", "-6", "-c", "2", "-i", "0.2", RespIP6); err != nil {
		t.Errorf("ping -6: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "curl", "-s", "-o", "/dev/null", "--max-time", "5", "-u", "admin:hunter2", "http://"+RespIP4+"/admin"); err != nil {
		t.Errorf("curl: %v\n%s", err, out)
	}
	if out, err := l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sT", "-p", "21,80,443,3306,8080", RespIP4); err != nil || !strings.Contains(out, "80/tcp") {
		t.Errorf("nmap: %v\n%s", err, out)
	}
	warmSSH(t, l)
	// the first password is accepted: the exec command is recorded
	if out, err := l.InClient(30*time.Second, "sshpass", "-p", "admin", "ssh", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", "root@"+RespIP4, "uname -a"); err != nil {
		t.Errorf("ssh with the accepted password: %v\n%s", err, out)
	}
	// an FTP login (refused): USER and PASS are commands, PASS a credential
	_, _ = l.InClient(20*time.Second, "curl", "-s", "--max-time", "10", "ftp://bob:secret@"+RespIP4+"/")

	// wait until everything has settled: no connection left in the table
	// or in a library, and the frame count stable across two scrapes
	var text string
	var got map[string]float64
	prev := -1.0
	deadline = time.Now().Add(60 * time.Second)
	for {
		text, got = scrape(t, l)
		frames := got["masscanned_link_frames_received_total"]
		if got["masscanned_tcp_connections"] == 0 && got["masscanned_library_connections"] == 0 && frames == prev {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics did not settle:\n%s", text)
		}
		prev = frames
		time.Sleep(time.Second)
	}
	path := filepath.Join(l.Dir, "scrape.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	pt := exec.Command("promtool", "check", "metrics")
	pt.Stdin = strings.NewReader(text)
	if out, err := pt.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	sum := map[string]float64{}
	for _, line := range strings.Split(l.Stderr(), "\n") {
		if strings.Contains(line, "msg=stopped") {
			for _, f := range strings.Fields(line) {
				if k, v, ok := strings.Cut(f, "="); ok {
					if n, err := strconv.ParseFloat(v, 64); err == nil {
						sum[k] = n
					}
				}
			}
		}
	}
	t.Logf("exit summary: %v", sum)
	for k, name := range map[string]string{
		"frames":            "masscanned_link_frames_received_total",
		"sent":              "masscanned_link_frames_sent_total",
		"send_errors":       "masscanned_link_send_errors_total",
		"kernel_drops":      "masscanned_link_kernel_drops_total",
		"tcp_conns":         "masscanned_tcp_connections",
		"tcp_evicted":       "masscanned_tcp_connections_evicted_total",
		"suppressed_synack": "masscanned_budget_suppressed_total{class=synack}",
		"suppressed_icmp":   "masscanned_budget_suppressed_total{class=icmp}",
		"suppressed_udp":    "masscanned_budget_suppressed_total{class=udp}",
		"events_written":    "masscanned_output_records_written_total{output=events}",
		"events_dropped":    "masscanned_output_records_dropped_total{output=events}",
	} {
		v, ok := got[name]
		if s, sok := sum[k]; !ok || !sok || v != s {
			t.Errorf("exit summary %s=%v (present %v), scraped %s=%v (present %v)", k, s, sok, name, v, ok)
		}
	}
	if f := familySum(got, "masscanned_frames_total"); f != got["masscanned_link_frames_received_total"] {
		t.Errorf("frames_total adds up to %v, %v frames received", f, got["masscanned_link_frames_received_total"])
	}

	// the events: every one was written, so the counters match them
	want := map[string]float64{}
	for _, e := range l.Events() {
		if e.Str("kind") == "" {
			want[fmt.Sprintf("masscanned_frames_total{layer=%s,verdict=%s}", e.Str("layer"), e.Str("verdict"))]++
		}
		if e.Str("verdict") == "drop" {
			want["masscanned_drops_total{reason="+e.Str("reason")+"}"]++
		}
		if r := e.Str("reply"); r != "" {
			want["masscanned_replies_total{kind="+r+"}"]++
		}
		if e.Str("kind") == "conn-end" {
			if c, _ := e["conn"].(map[string]any); c != nil {
				svc, _ := c["proto"].(string)
				if svc == "" {
					svc = "none"
				}
				end, _ := c["end"].(string)
				want["masscanned_tcp_connections_ended_total{end="+end+",service="+svc+"}"]++
			}
		}
		a := e.App()
		if a == nil {
			continue
		}
		svc, _ := a["proto"].(string)
		want["masscanned_app_requests_total{service="+svc+"}"]++
		if auth, ok := a["auth"].(map[string]any); ok {
			want[fmt.Sprintf("masscanned_credentials_total{service=%s,success=%v}", svc, auth["success"] == true)]++
		}
		if _, ok := a["command"]; ok {
			want["masscanned_commands_total{service="+svc+"}"]++
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v scraped, %v in the events", k, got[k], v)
		}
	}
	// and the clients' traffic is there
	for _, k := range []string{
		"masscanned_replies_total{kind=echo-reply}",
		"masscanned_replies_total{kind=syn-ack}",
		"masscanned_app_requests_total{service=http}",
		"masscanned_credentials_total{service=http,success=false}",
		"masscanned_credentials_total{service=ftp,success=false}",
		"masscanned_commands_total{service=ftp}",
		"masscanned_credentials_total{service=ssh,success=true}",
		"masscanned_commands_total{service=ssh}",
	} {
		if got[k] == 0 {
			t.Errorf("%s is 0", k)
		}
	}
	if got["masscanned_replies_total{kind=echo-reply}"] != 5 {
		t.Errorf("%v echo replies, 5 pings", got["masscanned_replies_total{kind=echo-reply}"])
	}
	for _, k := range []string{"go_goroutines", "process_cpu_seconds_total", "masscanned_workers"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
}
