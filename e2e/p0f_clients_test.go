package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestP0fClients: masscanned's fingerprint of each client SYN (event
// field tcp_fp, labelled with --p0f-db) equals what p0f itself logs for
// the same SYN, watching the same link in the same run: the Linux kernel's
// SYN over IPv4 and IPv6 (nc) and nmap's raw SYN scan.
func TestP0fClients(t *testing.T) {
	t.Parallel()
	Require(t, "p0f", "nc", "nmap")
	l := NewLab(t, LabOptions{})
	l.Start("--p0f-db", "/etc/p0f/p0f.fp")
	logPath := filepath.Join(l.Dir, "p0f-cli.log")
	stop, _ := startP0f(t, l, logPath)
	if o, err := l.InClient(10*time.Second, "nc", "-z", "-w", "2", RespIP4, "80"); err != nil {
		t.Fatalf("nc -z: %v\n%s", err, o)
	}
	if o, err := l.InClient(10*time.Second, "nc", "-6", "-z", "-w", "2", RespIP6, "80"); err != nil {
		t.Fatalf("nc -6 -z: %v\n%s", err, o)
	}
	if o, err := l.InClient(30*time.Second, "nmap", "-sS", "-Pn", "-n", "-p", "81", RespIP4); err != nil {
		t.Fatalf("nmap -sS: %v\n%s", err, o)
	}
	time.Sleep(time.Second)
	stop()
	b, _ := os.ReadFile(logPath)
	// p0f's view: client port -> raw_sig, os
	type sig struct{ raw, os, line string }
	p0f := map[string]sig{}
	for _, line := range strings.Split(string(b), "\n") {
		f := p0fFields(line)
		if f["mod"] != "syn" || f["subj"] != "cli" {
			continue
		}
		cli := f["cli"]
		port := cli[strings.LastIndexByte(cli, '/')+1:]
		p0f[port] = sig{f["raw_sig"], f["os"], line}
	}
	if len(p0f) < 3 {
		t.Fatalf("p0f logged %d client SYNs:\n%s", len(p0f), b)
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, e := range l.Events() {
		if e.Str("tcp_flags") != "S" {
			continue
		}
		fp, _ := e["tcp_fp"].(map[string]any)
		port := str(e["port_src"])
		want, ok := p0f[port]
		if !ok {
			continue
		}
		compared++
		os := str(fp["os"])
		if os == "" {
			os = "???"
		}
		if want.os == "" && os != "???" && strings.Contains(want.line, os) {
			want.os = os // a tool (class "!"): p0f logs it in another field
		}
		if str(fp["raw"]) != want.raw || os != want.os {
			t.Errorf("SYN from port %s: masscanned %q (%s), p0f %q (%s): %s", port, fp["raw"], os, want.raw, want.os, want.line)
		} else {
			t.Logf("SYN from port %s: %s (%s), as p0f", port, want.raw, want.os)
		}
	}
	if compared < 3 {
		t.Errorf("compared %d SYNs with p0f's, want 3 (p0f: %v)", compared, p0f)
	}
}
