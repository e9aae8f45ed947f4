package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exitSummary reads every counter of masscanned's exit summary.
func exitSummary(t *testing.T, stderr string) map[string]int {
	t.Helper()
	var line string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "msg=stopped") {
			line = l
		}
	}
	m := map[string]int{}
	for _, kv := range regexp.MustCompile(`(\w+)=(\d+)`).FindAllStringSubmatch(line, -1) {
		m[kv[1]], _ = strconv.Atoi(kv[2])
	}
	if len(m) == 0 {
		t.Fatalf("no exit summary:\n%s", stderr)
	}
	return m
}

// TestOutputsAll: --capture, --ivre, --metrics and --nats all on, under
// real clients, with the broker killed and restarted in the middle: the
// capture holds one commented packet per frame and per reply, the IVRE file
// has records for the application events, a metrics scrape promtool
// accepts matches the exit summary, and the stream holds every event
// exactly once.
func TestOutputsAll(t *testing.T) {
	Require(t, "curl", "ping", "nmap", "ssh", "sshpass", "ssh-keyscan", "promtool", "tshark", "nats-server")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	n := startNATS(t, l)
	capDir := filepath.Join(l.Dir, "cap")
	if err := os.MkdirAll(capDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ivreFile := filepath.Join(l.Dir, "passiverecon.json")
	l.Start("--capture", filepath.Join(capDir, "cap.pcapng"), "--capture-rotate-size", "16K",
		"--ivre", ivreFile, "--metrics", metricsAddr,
		"--nats", natsURL, "--sensor-id", "all-outputs", "--state-dir", filepath.Join(l.Dir, "state"),
		"--ssh-accept-after", "1", "--idle-timeout", "3s", "-v")

	natsTraffic(t, l, "21,22,80,443,3306")
	warmSSH(t, l)
	if out, err := l.InClient(30*time.Second, "sshpass", "-p", "toor", "ssh", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", "root@"+RespIP4, "uname -a"); err != nil {
		t.Errorf("ssh: %v\n%s", err, out)
	}
	// the broker goes away during traffic, and comes back
	n.kill()
	natsTraffic(t, l, "8080-8090")
	if out, err := l.InClient(20*time.Second, "curl", "-k", "-s", "-o", "/dev/null", "--max-time", "10", "https://"+RespIP4+"/"); err != nil {
		t.Errorf("curl https: %v\n%s", err, out)
	}
	n.start()

	// settle: no connection left, frame count stable
	var text string
	var got map[string]float64
	prev := -1.0
	deadline := time.Now().Add(60 * time.Second)
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
	pt := exec.Command("promtool", "check", "metrics")
	pt.Stdin = strings.NewReader(text)
	if out, err := pt.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	sum := exitSummary(t, l.Stderr())

	// metrics = exit summary
	for name, key := range map[string]string{
		"masscanned_link_frames_received_total": "frames",
		"masscanned_link_frames_sent_total":     "sent",
	} {
		if int(got[name]) != sum[key] {
			t.Errorf("%s = %v, exit summary %s = %d", name, got[name], key, sum[key])
		}
	}

	// capture: one packet per frame and per reply, each commented
	files := captureFiles(t, capDir)
	if len(files) < 2 {
		t.Errorf("%d capture files with a 16K rotation", len(files))
	}
	pkts := readCapture(t, files)
	if len(pkts) != sum["frames"]+sum["sent"] {
		t.Errorf("capture: %d packets, want frames %d + sent %d", len(pkts), sum["frames"], sum["sent"])
	}
	for _, p := range pkts {
		if p.comment == "" {
			t.Errorf("%s: a packet without a comment", p.file)
			break
		}
	}

	// NATS: every event exactly once, in order
	lines := stdoutLines(t, l)
	if c := waitStream(n, len(lines)); c != len(lines) {
		t.Errorf("stream holds %d messages, masscanned emitted %d events", c, len(lines))
	}
	msgs := n.dump()
	for i := 0; i < len(msgs) && i < len(lines); i++ {
		if msgs[i].Data != lines[i] {
			t.Errorf("stream message %d differs from event line %d:\n%q\n%q", i, i, msgs[i].Data, lines[i])
			break
		}
	}
	if sum["nats_dropped"] != 0 || sum["nats_unsent"] != 0 {
		t.Errorf("nats counters: %v", sum)
	}

	// IVRE: records for the application events, joined by uid
	f, err := os.Open(ivreFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	uids := map[string]bool{}
	types := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("ivre line %q: %v", sc.Text(), err)
		}
		types[strings.TrimPrefix(str(r["recon_type"]), "PassiveRecon::")]++
		if u := str(r["uid"]); u != "" {
			uids[u] = true
		}
	}
	for _, want := range []string{"TCP_HONEYPOT_HIT", "HTTP_HONEYPOT_REQUEST", "SSH_CLIENT", "SSL_CLIENT"} {
		if types[want] == 0 {
			t.Errorf("no %s record (records: %v)", want, types)
		}
	}
	for _, e := range l.Events() {
		a := e.App()
		if a == nil || e.Str("uid") == "" {
			continue
		}
		if p := str(a["proto"]); (p == "http" || p == "ssh" || p == "tls") && !uids[e.Str("uid")] {
			t.Errorf("%s event of connection %s has no IVRE record", p, e.Str("uid"))
		}
	}
}
