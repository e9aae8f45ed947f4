package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReportNATS: "masscanned report --nats" reads the fleet stream a
// sensor published to a real nats-server, and its page counts the same
// events, verdicts, credentials and sources as the page made from the
// sensor's own event file.
func TestReportNATS(t *testing.T) {
	Require(t, "nats-server", "curl", "nmap")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	startNATS(t, l)
	l.Start("--nats", natsURL, "--sensor-id", "report-e2e", "--state-dir", filepath.Join(l.Dir, "state"), "-v")
	natsTraffic(t, l, "21,22,80,443")
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	if s := summary(t, l.Stderr()); s["nats_unsent"] != 0 || s["nats_dropped"] != 0 {
		t.Fatalf("not every event reached the stream: %v", s)
	}
	fromFile := filepath.Join(l.Dir, "file.html")
	fromNATS := filepath.Join(l.Dir, "nats.html")
	if out, err := l.InResp(60*time.Second, Binary(t), "report", "-o", fromFile, filepath.Join(l.Dir, "masscanned.stdout")); err != nil {
		t.Fatalf("report from the file: %v\n%s", err, out)
	}
	if out, err := l.InResp(60*time.Second, Binary(t), "report", "-o", fromNATS, "--nats", natsURL,
		"--nats-subject", "masscanned.events.report-e2e"); err != nil {
		t.Fatalf("report --nats: %v\n%s", err, out)
	}
	a, err := os.ReadFile(fromFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fromNATS)
	if err != nil {
		t.Fatal(err)
	}
	n := len(stdoutLines(t, l))
	for _, id := range []string{"total-events", "verdict-send", "verdict-recv", "verdict-drop", "total-credentials", "total-sources"} {
		if x, y := domNumber(t, string(a), id), domNumber(t, string(b), id); x != y {
			t.Errorf("%s: %d from the file, %d from the stream", id, x, y)
		}
	}
	if got := domNumber(t, string(b), "total-events"); got != n {
		t.Errorf("the stream's page counts %d events, the sensor wrote %d", got, n)
	}
	// a stream that does not exist is a clear error
	if out, err := l.InResp(30*time.Second, Binary(t), "report", "-o", filepath.Join(l.Dir, "x.html"), "--nats", natsURL,
		"--nats-stream", "nosuch"); err == nil {
		t.Errorf("report --nats-stream nosuch succeeded:\n%s", out)
	}
}
