package e2e

import (
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
