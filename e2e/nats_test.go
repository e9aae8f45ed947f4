package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsURL is where the test's nats-server listens: the responder
// namespace's loopback (masscanned runs there too).
const natsURL = "nats://127.0.0.1:4222"

var (
	dumpOnce sync.Once
	dumpPath string
	dumpErr  error
)

// natsDump builds the stream reader (./natsdump) once.
func natsDump(t *testing.T) string {
	t.Helper()
	dumpOnce.Do(func() {
		dir, err := os.MkdirTemp("", "masscanned-e2e-natsdump")
		if err != nil {
			dumpErr = err
			return
		}
		dumpPath = filepath.Join(dir, "natsdump")
		if out, err := exec.Command("go", "build", "-o", dumpPath, "./natsdump").CombinedOutput(); err != nil {
			dumpErr = err
			dumpPath = string(out)
		}
	})
	if dumpErr != nil {
		t.Fatalf("building natsdump: %v\n%s", dumpErr, dumpPath)
	}
	return dumpPath
}

// natsServer is a nats-server with JetStream in the responder namespace,
// stopped (SIGKILL, by its PID) and started again on the same store.
type natsServer struct {
	t   *testing.T
	l   *Lab
	dir string
	cmd *exec.Cmd
}

func startNATS(t *testing.T, l *Lab) *natsServer {
	n := &natsServer{t: t, l: l, dir: filepath.Join(l.Dir, "jetstream")}
	t.Cleanup(n.kill)
	n.start()
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.l.Resp, "nats-server", "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", n.dir)
	log, err := os.OpenFile(filepath.Join(n.l.Dir, "nats-server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("nats-server: %v", err)
	}
	log.Close()
	n.cmd = cmd
	for i := 0; i < 100; i++ {
		if out, _ := n.l.InResp(5*time.Second, "ss", "-Hltn", "sport = :4222"); strings.Contains(out, "LISTEN") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatal("nats-server does not listen on 4222")
}

// kill stops the server at once (ip netns exec execs it: the PID is the
// server's).
func (n *natsServer) kill() {
	if n.cmd != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// streamMsg is one message natsdump prints.
type streamMsg struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	ID      string `json:"id"`
	Sensor  string `json:"sensor"`
	Data    string `json:"data"`
}

func (n *natsServer) count() int {
	out, err := n.l.InResp(30*time.Second, natsDump(n.t), "-url", natsURL, "-count")
	if err != nil {
		return -1
	}
	c, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return -1
	}
	return c
}

func (n *natsServer) dump() []streamMsg {
	n.t.Helper()
	ctx := exec.Command("ip", "netns", "exec", n.l.Resp, natsDump(n.t), "-url", natsURL)
	var stderr bytes.Buffer
	ctx.Stderr = &stderr
	out, err := ctx.Output()
	if err != nil {
		n.t.Fatalf("natsdump: %v\n%s", err, stderr.String())
	}
	var msgs []streamMsg
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m streamMsg
		if err := json.Unmarshal(line, &m); err != nil {
			n.t.Fatalf("natsdump line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// stdoutLines are masscanned's JSON event lines, newline included (the
// bytes each message carries).
func stdoutLines(t *testing.T, l *Lab) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir, "masscanned.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range strings.SplitAfter(string(b), "\n") {
		if s != "" {
			lines = append(lines, s)
		}
	}
	return lines
}

// summary reads the nats_* counters of masscanned's exit summary.
func summary(t *testing.T, stderr string) map[string]int {
	t.Helper()
	m := map[string]int{}
	var line string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, `msg=stopped`) {
			line = l
		}
	}
	for _, kv := range regexp.MustCompile(`(nats_\w+|events_\w+)=(\d+)`).FindAllStringSubmatch(line, -1) {
		m[kv[1]], _ = strconv.Atoi(kv[2])
	}
	if len(m) == 0 {
		t.Fatalf("no exit summary with nats counters:\n%s", stderr)
	}
	return m
}

func natsTraffic(t *testing.T, l *Lab, ports string) {
	t.Helper()
	if out, err := l.InClient(10*time.Second, "ping", "-c", "2", "-i", "0.2", RespIP4); err != nil {
		t.Errorf("ping: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "curl", "-s", "-o", "/dev/null", "--max-time", "5", "-u", "admin:hunter2", "http://"+RespIP4+"/admin"); err != nil {
		t.Errorf("curl: %v\n%s", err, out)
	}
	if out, err := l.InClient(120*time.Second, "nmap", "-n", "-Pn", "-sT", "-T4", "-p", ports, RespIP4); err != nil {
		t.Errorf("nmap: %v\n%s", err, out)
	}
}

// waitStderr waits until masscanned has logged s.
func waitNATSLog(t *testing.T, l *Lab, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(l.Stderr(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("masscanned did not log %q:\n%s", s, l.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStream waits until the stream holds want messages or stops growing.
func waitStream(n *natsServer, want int) int {
	deadline := time.Now().Add(60 * time.Second)
	last, same := -1, 0
	for time.Now().Before(deadline) {
		c := n.count()
		if c == want {
			return c
		}
		if c == last {
			if same++; same >= 10 {
				return c
			}
		} else {
			last, same = c, 0
		}
		time.Sleep(300 * time.Millisecond)
	}
	return last
}

// runNATSOutage runs masscanned with --nats against a real nats-server,
// kills the server in the middle of the traffic, keeps the traffic going,
// starts the server again, and returns masscanned's event lines, the
// stream's messages and the exit summary.
func runNATSOutage(t *testing.T, outagePorts string, extra ...string) ([]string, []streamMsg, map[string]int) {
	l := NewLab(t, LabOptions{})
	n := startNATS(t, l)
	l.Start(append([]string{"--nats", natsURL, "--sensor-id", "e2e-sensor", "--state-dir", filepath.Join(l.Dir, "state"),
		"--no-rate-limit", "--idle-timeout", "3s", "-v"}, extra...)...)
	waitNATSLog(t, l, "nats: created stream")

	t0 := time.Now()
	step := func(s string) { t.Logf("%v %s", time.Since(t0).Round(time.Millisecond), s) }
	natsTraffic(t, l, "21,22,80,443,8080")
	step("traffic 1")
	if c := waitStream(n, len(stdoutLines(t, l))); c <= 0 {
		t.Fatalf("nothing in the stream before the outage (%d)\n%s", c, l.Stderr())
	}

	step("stream 1")
	// kill the broker while events flow (acknowledgements in flight)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sT", "-T4", "-p", "1000-1300", RespIP4)
	}()
	time.Sleep(150 * time.Millisecond)
	n.kill()
	wg.Wait()
	waitNATSLog(t, l, "nats: disconnected")
	step("disconnected")
	natsTraffic(t, l, outagePorts)
	step("traffic 2")

	n.start()
	waitNATSLog(t, l, "nats: reconnected")
	step("reconnected")
	natsTraffic(t, l, "25,110,3306")
	step("traffic 3")
	// everything written so far has reached the stream (or was dropped):
	// then stop; the last events are sent while stopping
	waitStream(n, len(stdoutLines(t, l)))
	step("stream 2")
	if err := l.Stop(); err != nil {
		t.Fatalf("masscanned: %v\n%s", err, l.Stderr())
	}
	stderr := l.Stderr()
	return stdoutLines(t, l), n.dump(), summary(t, stderr)
}

func checkMessages(t *testing.T, msgs []streamMsg) {
	t.Helper()
	ids := map[string]bool{}
	for _, m := range msgs {
		if m.Subject != "masscanned.events.e2e-sensor" || m.Sensor != "e2e-sensor" {
			t.Fatalf("message %d: subject %q, sensor %q", m.Seq, m.Subject, m.Sensor)
		}
		if ids[m.ID] || !strings.HasPrefix(m.ID, "e2e-sensor.") {
			t.Fatalf("message %d: id %q twice or not the sensor's", m.Seq, m.ID)
		}
		ids[m.ID] = true
	}
}

// TestNATSBrokerRestart: every event masscanned writes on stdout reaches
// the JetStream stream exactly once, byte for byte and in order, across a
// broker killed and restarted in the middle of a run.
func TestNATSBrokerRestart(t *testing.T) {
	Require(t, "nats-server", "ping", "curl", "nmap", "ss")
	t.Parallel()
	lines, msgs, sum := runNATSOutage(t, "1-400")
	checkMessages(t, msgs)
	if len(msgs) != len(lines) {
		t.Errorf("%d events on stdout, %d in the stream; summary %v", len(lines), len(msgs), sum)
	}
	for i := range min(len(lines), len(msgs)) {
		if msgs[i].Data != lines[i] {
			t.Fatalf("stream message %d differs from event line %d:\n%q\n%q", i+1, i+1, msgs[i].Data, lines[i])
		}
	}
	if sum["nats_acked"] != len(lines) || sum["nats_dropped"] != 0 || sum["nats_unsent"] != 0 || sum["events_written"] != len(lines) {
		t.Errorf("exit summary %v, %d events", sum, len(lines))
	}
	// the outage's events waited in the spool
	if sum["nats_spooled"] < 400 || sum["nats_published"] < len(lines) {
		t.Errorf("exit summary %v: want at least the outage's 800 frames spooled", sum)
	}
	t.Logf("%d events, summary %v", len(lines), sum)
}

// TestNATSSpoolBound: with a small spool, a long outage drops the oldest
// spooled events, counted; the rest reach the stream in order.
func TestNATSSpoolBound(t *testing.T) {
	Require(t, "nats-server", "ping", "curl", "nmap", "ss")
	t.Parallel()
	lines, msgs, sum := runNATSOutage(t, "1-2000", "--nats-spool-size", "64K")
	checkMessages(t, msgs)
	// Messages the broker stored but whose acknowledgements the kill
	// lost are in the stream and, once the spool drops them, counted as
	// dropped too: the gap is at most the dropped count, and the stream
	// holds at least the acknowledged ones.
	dropped := sum["nats_dropped"]
	gap := len(lines) - len(msgs)
	if dropped == 0 || gap <= 0 || gap > dropped || len(msgs) < sum["nats_acked"] || sum["nats_unsent"] != 0 {
		t.Fatalf("%d events, %d in the stream, summary %v", len(lines), len(msgs), sum)
	}
	// the stream is the event lines, in order, less events of the outage
	// (the oldest spooled ones; a few the broker stored before it died
	// may remain among them): a subsequence that starts with the first
	// event and ends with the last
	i := 0
	for i < len(msgs) && msgs[i].Data == lines[i] {
		i++
	}
	k := i
	for j := i; j < len(msgs); j++ {
		for k < len(lines) && lines[k] != msgs[j].Data {
			k++
		}
		if k == len(lines) {
			t.Fatalf("stream message %d is not a later event than message %d's: out of order or not an event", j+1, j)
		}
		k++
	}
	if i == 0 || i == len(msgs) || msgs[len(msgs)-1].Data != lines[len(lines)-1] {
		t.Errorf("the gap is at %d of %d messages (want it in the middle: the outage), last message is the last event: %v",
			i, len(msgs), msgs[len(msgs)-1].Data == lines[len(lines)-1])
	}
	t.Logf("%d events, %d missing from event %d (%d counted dropped), summary %v", len(lines), gap, i+1, dropped, sum)
}
