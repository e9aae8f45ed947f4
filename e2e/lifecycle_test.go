package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/link/pcapfile"
)

// logLine returns the key=value fields of the last stderr log line whose
// msg is msg (nil when absent).
func logLine(stderr, msg string) map[string]string {
	var out map[string]string
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, " msg="+msg+" ") && !strings.HasSuffix(line, " msg="+msg) {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = strings.Trim(v, `"`)
			}
		}
		out = kv
	}
	return out
}

func atoi(t *testing.T, kv map[string]string, k string) int {
	t.Helper()
	n, err := strconv.Atoi(kv[k])
	if err != nil {
		t.Fatalf("field %s=%q: %v", k, kv[k], err)
	}
	return n
}

// TestLifecycleStopFlushes: SIGINT and SIGTERM stop masscanned cleanly and
// every frame it received becomes one complete JSON line: events written =
// frames received, none dropped.
func TestLifecycleStopFlushes(t *testing.T) {
	Require(t, "ping")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			l := NewLab(t, LabOptions{NoClientIPv6: true})
			l.Start("-v", "--event-queue", "1000000")
			const n = 2000
			out, err := l.InClient(30*time.Second, "ping", "-q", "-i", "0.002", "-c", strconv.Itoa(n), "-W", "1", RespIP4)
			if err != nil {
				t.Fatalf("ping: %v\n%s", err, out)
			}
			l.Signal(sig)
			if err := l.Stop(); err != nil {
				t.Fatalf("stop: %v\n%s", err, l.Stderr())
			}
			st := logLine(l.Stderr(), "stopped")
			if st == nil {
				t.Fatalf("no stopped line:\n%s", l.Stderr())
			}
			frames, written, dropped := atoi(t, st, "frames"), atoi(t, st, "events_written"), atoi(t, st, "events_dropped")
			b, err := os.ReadFile(filepath.Join(l.Dir, "masscanned.stdout"))
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Count(b, []byte("\n"))
			if len(b) > 0 && b[len(b)-1] != '\n' {
				t.Errorf("last event line is incomplete")
			}
			evs := l.Events() // fails on any line that is not complete JSON
			echo := 0
			for _, e := range evs {
				if e.Str("reply") == "echo-reply" {
					echo++
				}
			}
			t.Logf("%v: frames=%d events_written=%d events_dropped=%d json_lines=%d echo_replies=%d", sig, frames, written, dropped, lines, echo)
			if frames < n || written != frames || dropped != 0 || lines != written || len(evs) != lines {
				t.Errorf("frames=%d written=%d dropped=%d lines=%d parsed=%d", frames, written, dropped, lines, len(evs))
			}
			if echo != n {
				t.Errorf("echo-reply events %d, want %d", echo, n)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// write then rename, as an operator's tooling would
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitStderr(t *testing.T, l *Lab, s string, count int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(l.Stderr(), s) < count {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never showed %q %d times:\n%s", s, count, l.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pingOK(l *Lab, ip string) bool {
	_, err := l.InClient(10*time.Second, "ping", "-c", "2", "-i", "0.2", "-W", "1", ip)
	return err == nil
}

// TestLifecycleReloadLists: SIGHUP re-reads --self-ip-file and
// --remote-ip-deny-file without losing packets; a bad file keeps the old
// lists and says why.
func TestLifecycleReloadLists(t *testing.T) {
	Require(t, "ping")
	const ip3 = "198.51.100.3"
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	self := filepath.Join(l.Dir, "self.txt")
	deny := filepath.Join(l.Dir, "deny.txt")
	writeFile(t, self, RespIP4+"\n")
	writeFile(t, deny, "# nobody\n")
	l.StartRaw("-i", l.RespIf, "--format", "json", "-m", RespMAC, "--self-ip-file", self, "--remote-ip-deny-file", deny)
	if !pingOK(l, RespIP4) {
		t.Fatalf("%s does not answer:\n%s", RespIP4, l.Stderr())
	}
	if pingOK(l, ip3) {
		t.Fatalf("%s answers before it is in the self file", ip3)
	}

	// a ping flood toward .2 runs across the reload
	const n = 1500
	flood := make(chan string, 1)
	go func() {
		out, err := l.InClient(30*time.Second, "ping", "-q", "-i", "0.002", "-c", strconv.Itoa(n), "-W", "1", RespIP4)
		if err != nil {
			out += "\n" + err.Error()
		}
		flood <- out
	}()
	time.Sleep(500 * time.Millisecond)
	writeFile(t, self, "# reloaded\n"+RespIP4+"\n"+ip3+"\n")
	l.Signal(syscall.SIGHUP)
	waitStderr(t, l, "reloaded address lists", 1)
	out := <-flood
	if !strings.Contains(out, fmt.Sprintf("%d packets transmitted, %d received", n, n)) {
		t.Errorf("flood across the reload lost replies:\n%s", out)
	}
	t.Logf("flood across SIGHUP: %s", strings.TrimSpace(out))
	if !pingOK(l, ip3) {
		t.Errorf("%s does not answer after the reload", ip3)
	}

	// deny list: the client is ignored after a reload, then allowed again
	writeFile(t, deny, ClientIP4+"\n")
	l.Signal(syscall.SIGHUP)
	waitStderr(t, l, "reloaded address lists", 2)
	if pingOK(l, RespIP4) {
		t.Errorf("denied client still answered")
	}
	writeFile(t, deny, "\n")
	l.Signal(syscall.SIGHUP)
	waitStderr(t, l, "reloaded address lists", 3)
	if !pingOK(l, RespIP4) {
		t.Errorf("client not answered after removal from the deny list")
	}

	// a bad reload keeps the old lists
	writeFile(t, self, RespIP4+"\nthis is not an address\n")
	l.Signal(syscall.SIGHUP)
	waitStderr(t, l, "reload failed", 1)
	if !pingOK(l, ip3) || !pingOK(l, RespIP4) {
		t.Errorf("a bad reload changed the lists")
	}
	if !l.Alive() {
		t.Fatalf("masscanned died on a bad reload:\n%s", l.Stderr())
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	for _, line := range strings.Split(l.Stderr(), "\n") {
		if strings.Contains(line, "reload failed") {
			t.Logf("bad reload logged: %s", line)
		}
	}
}

// pcapEchoReplies reads a whole pcap file and counts ICMP echo replies; a
// truncated or corrupt file is an error.
func pcapEchoReplies(path string) (int, error) {
	r, err := pcapfile.OpenReader(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for {
		f, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if len(f) >= 35 && f[12] == 8 && f[13] == 0 && f[23] == 1 && f[34] == 0 {
			n++
		}
	}
}

// TestLifecycleReopenPcap: rename the --write-pcap file, SIGHUP, and a new
// file receives the new replies while the old one is a complete pcap.
func TestLifecycleReopenPcap(t *testing.T) {
	Require(t, "ping")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	pcap := filepath.Join(l.Dir, "replies.pcap")
	l.Start("--write-pcap", pcap)
	if out, err := l.InClient(10*time.Second, "ping", "-c", "5", "-i", "0.05", "-W", "1", RespIP4); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if err := os.Rename(pcap, pcap+".1"); err != nil {
		t.Fatal(err)
	}
	l.Signal(syscall.SIGHUP)
	waitStderr(t, l, "reopened --write-pcap", 1)
	if _, err := os.Stat(pcap); err != nil {
		t.Fatalf("no new pcap after SIGHUP: %v", err)
	}
	// the old file is closed and complete while masscanned still runs
	old, err := pcapEchoReplies(pcap + ".1")
	if err != nil || old != 5 {
		t.Errorf("rotated pcap: %d echo replies, err %v (want 5, nil)", old, err)
	}
	if out, err := l.InClient(10*time.Second, "ping", "-c", "7", "-i", "0.05", "-W", "1", RespIP4); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	cur, err := pcapEchoReplies(pcap)
	if err != nil || cur != 7 {
		t.Errorf("new pcap: %d echo replies, err %v (want 7, nil)", cur, err)
	}
	t.Logf("rotated file: %d echo replies; new file: %d", old, cur)
}

// TestLifecycleUser: --user nobody drops to uid 65534 with only
// CAP_NET_RAW (plus CAP_NET_ADMIN when promiscuous mode needs it) and still
// answers.
func TestLifecycleUser(t *testing.T) {
	Require(t, "ping")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--user", "nobody")
	if !pingOK(l, RespIP4) {
		t.Fatalf("no answer after dropping privileges:\n%s", l.Stderr())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var uid, gid, capEff, capPrm string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Uid":
			uid = v
		case "Gid":
			gid = v
		case "CapEff":
			capEff = v
		case "CapPrm":
			capPrm = v
		}
	}
	t.Logf("Uid %q Gid %q CapEff %s CapPrm %s", uid, gid, capEff, capPrm)
	if strings.Join(strings.Fields(uid), " ") != "65534 65534 65534 65534" {
		t.Errorf("Uid %q, want 65534 everywhere", uid)
	}
	const netRaw, netAdmin = "0000000000002000", "0000000000003000"
	if capEff != netRaw && capEff != netAdmin {
		t.Errorf("CapEff %s, want %s (or %s with promiscuous mode)", capEff, netRaw, netAdmin)
	}
	if capPrm != capEff {
		t.Errorf("CapPrm %s != CapEff %s", capPrm, capEff)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
}
