package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSmoke: ping and one HTTP request through a real stack.
func TestSmoke(t *testing.T) {
	Require(t, "ping", "curl")
	l := NewLab(t, LabOptions{})
	l.Start()
	if out, err := l.InClient(10*time.Second, "ping", "-c", "2", "-W", "2", RespIP4); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	out, _ := l.InClient(10*time.Second, "curl", "-s", "-i", "--max-time", "5", "http://"+RespIP4+":8080/smoke")
	if !strings.HasPrefix(out, "HTTP/1.1 401 Unauthorized") {
		t.Errorf("curl: %q", out)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	var echo, http bool
	for _, e := range l.Events() {
		if e.Str("reply") == "echo-reply" && e.Str("ip_src") == ClientIP4 {
			echo = true
		}
		if a := e.App(); a != nil && a["proto"] == "http" && a["path"] == "/smoke" {
			http = true
		}
	}
	if !echo || !http {
		t.Errorf("events: echo %v http %v", echo, http)
	}
}

// TestWorkers: several workers share the interface through a fanout
// group; every client is still answered and every frame gives one event.
func TestWorkers(t *testing.T) {
	Require(t, "ping", "curl", "nmap")
	l := NewLab(t, LabOptions{})
	l.Start("--workers", "2", "-v")
	if out, err := l.InClient(10*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "2", RespIP4); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	for _, port := range []string{"80", "8080", "31337"} {
		out, _ := l.InClient(10*time.Second, "curl", "-s", "-i", "--max-time", "5", "http://"+RespIP4+":"+port+"/w")
		if !strings.HasPrefix(out, "HTTP/1.1 401 Unauthorized") {
			t.Errorf("curl :%s: %q", port, out)
		}
	}
	out, err := l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sT", "-p", "1-300", "-T4", RespIP4)
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasSuffix(f[0], "/tcp") && f[1] == "open" {
			n++
		}
	}
	if err != nil || n != 300 {
		t.Errorf("nmap: %d of 300 ports open (%v)\n%s", n, err, out)
	}
	time.Sleep(300 * time.Millisecond)
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	if !strings.Contains(l.Stderr(), "workers=2") {
		t.Errorf("not 2 workers:\n%s", l.Stderr())
	}
	st := l.Stderr()
	i := strings.Index(st, "msg=stopped")
	if i < 0 {
		t.Fatalf("no exit summary:\n%s", st)
	}
	var frames, written int
	for _, f := range strings.Fields(st[i:]) {
		fmt.Sscanf(f, "frames=%d", &frames)
		fmt.Sscanf(f, "events_written=%d", &written)
	}
	// one event per frame, plus the timers' and connection ends' events
	evs := l.Events()
	perFrame := len(find(evs, func(e Event) bool { return e.Str("kind") == "" }))
	if frames == 0 || perFrame != frames || written != len(evs) {
		t.Errorf("frames %d, frame events %d, events written %d, event lines %d", frames, perFrame, written, len(evs))
	}
}
