package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNATSStartErrors: a bad --nats option or an unreadable credentials
// file is one line on stderr and a usage exit.
func TestNATSStartErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.creds")
	if err := os.WriteFile(garbage, []byte("not a creds file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join("testdata", "replay.pcap")
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"bad scheme", []string{"--nats", "http://127.0.0.1:4222"}, `scheme "http"`},
		{"no host", []string{"--nats", "nats://:4222"}, "no host"},
		{"bad url", []string{"--nats", "nats://[::1"}, "invalid server URL"},
		{"empty url in a list", []string{"--nats", "nats://127.0.0.1:4222,"}, "no host"},
		{"unreadable creds", []string{"--nats", "nats://127.0.0.1:4222", "--nats-creds", filepath.Join(dir, "none.creds")}, "--nats-creds: cannot read"},
		{"not a creds file", []string{"--nats", "nats://127.0.0.1:4222", "--nats-creds", garbage}, "holds no user JWT"},
		{"wildcard subject", []string{"--nats", "nats://127.0.0.1:4222", "--nats-subject", "a.*"}, "--nats-subject"},
		{"bad sensor id", []string{"--nats", "nats://127.0.0.1:4222", "--sensor-id", "a b"}, "--sensor-id"},
		{"bad stream", []string{"--nats", "nats://127.0.0.1:4222", "--nats-stream", "a.b"}, "--nats-stream"},
		{"tiny spool", []string{"--nats", "nats://127.0.0.1:4222", "--nats-spool-size", "1K"}, "--nats-spool-size"},
		{"subject without --nats", []string{"--nats-subject", "a.b"}, "need --nats"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"--read-pcap", pcap}, tc.args...), &out, &errb)
		msg := errb.String()
		if code != exitUsage || !strings.Contains(msg, tc.msg) || !strings.HasPrefix(msg, "masscanned: error: ") || strings.Count(msg, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want one line with %q", tc.name, code, msg, tc.msg)
		}
	}
}

// TestNATSUnreachable: a broker that does not answer is not fatal: the
// run says so, spools every event (-q: stdout has none) and counts them
// as unsent at exit.
func TestNATSUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	var out, errb bytes.Buffer
	code := run([]string{"--read-pcap", filepath.Join("testdata", "replay.pcap"), "-q", "-v", "--nats", "nats://" + addr,
		"--sensor-id", "unit", "--state-dir", t.TempDir()}, &out, &errb)
	stderr := errb.String()
	if code != exitOK || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out.String(), stderr)
	}
	if !strings.Contains(stderr, "broker unreachable at start") {
		t.Errorf("no word of the unreachable broker:\n%s", stderr)
	}
	m := regexp.MustCompile(`events_written=(\d+).*`).FindStringSubmatch(stderr)
	if m == nil || m[1] == "0" {
		t.Fatalf("no events:\n%s", stderr)
	}
	want := "nats_published=0 nats_acked=0 nats_spooled=" + m[1] + " nats_dropped=0 nats_unsent=" + m[1]
	if !strings.Contains(stderr, want) {
		t.Errorf("exit summary lacks %q:\n%s", want, stderr)
	}
}
