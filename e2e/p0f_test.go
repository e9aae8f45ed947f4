package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// p0f (passive OS fingerprinting, Debian's p0f 3.09b with its database in
// /etc/p0f/p0f.fp) watches the client's side of a lab while the client
// connects to TCP port 80, and classifies the responder's SYN-ACK. Three
// responders: the Linux kernel of a namespace that owns the address and
// listens, masscanned --personality linux and masscanned --personality
// windows. The linux personality's raw signature must be the kernel's, and
// p0f must call the windows personality Windows.

// p0fSig is what p0f logged about one SYN-ACK.
type p0fSig struct {
	OS, RawSig, Line string
}

// p0fFields splits a p0f log line ("[date] mod=...|cli=...|...") into its
// key=value fields.
func p0fFields(line string) map[string]string {
	if i := strings.Index(line, "] "); i >= 0 {
		line = line[i+2:]
	}
	m := map[string]string{}
	for _, kv := range strings.Split(line, "|") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// p0fSYNACK returns the first server (SYN-ACK) signature in a p0f log.
func p0fSYNACK(log string) (p0fSig, bool) {
	for _, line := range strings.Split(log, "\n") {
		f := p0fFields(line)
		if f["mod"] == "syn+ack" && f["subj"] == "srv" && f["raw_sig"] != "" {
			return p0fSig{OS: f["os"], RawSig: f["raw_sig"], Line: line}, true
		}
	}
	return p0fSig{}, false
}

// startP0f runs p0f on the client's interface, logging to logPath, and
// returns once it has entered its event loop; stop ends it (also at the
// test's end).
func startP0f(t *testing.T, l *Lab, logPath string) (stop func(), readOut func() string) {
	t.Helper()
	outPath := logPath + ".out"
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs p0f: cmd's PID is p0f's
	cmd := exec.Command("ip", "netns", "exec", l.Client, "p0f", "-i", l.ClientIf, "-o", logPath, "tcp")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() {
		if cmd.Process == nil {
			return
		}
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		cmd.Process = nil
		out.Close()
	}
	t.Cleanup(stop)
	readOut = func() string { b, _ := os.ReadFile(outPath); return string(b) }
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(readOut(), "Entered main event loop"); {
		select {
		case err := <-done:
			t.Fatalf("p0f exited at start: %v\n%s", err, readOut())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("p0f did not start:\n%s", readOut())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop, readOut
}

// p0fConnect runs p0f on the client's interface, connects from the client
// to RespIP4 port 80 and returns p0f's view of the SYN-ACK.
func p0fConnect(t *testing.T, l *Lab) p0fSig {
	t.Helper()
	logPath := filepath.Join(l.Dir, "p0f.log")
	stop, readOut := startP0f(t, l, logPath)
	if o, err := l.InClient(10*time.Second, "nc", "-z", "-w", "2", RespIP4, "80"); err != nil {
		t.Fatalf("nc -z %s 80: %v\n%s", RespIP4, err, o)
	}
	var log string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if log = string(b); strings.Contains(log, "subj=srv") {
			break
		}
	}
	stop()
	b, _ := os.ReadFile(logPath)
	log = string(b)
	sig, ok := p0fSYNACK(log)
	if !ok {
		t.Fatalf("p0f logged no SYN-ACK signature:\nlog:\n%s\noutput:\n%s", log, readOut())
	}
	return sig
}

// kernelListenerLab is a lab whose responder kernel owns the addresses and
// listens on port 80, its receive buffer pinned like kernelLab's (window
// scale 7 whatever the kernel's default).
func kernelListenerLab(t *testing.T) *Lab {
	t.Helper()
	l := NewLab(t, LabOptions{Kernel: true})
	l.must("ip", "netns", "exec", l.Resp, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 131072 6291456")
	cmd := exec.Command("ip", "netns", "exec", l.Resp, "nc", "-lk", "80")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if out, _ := l.InResp(5*time.Second, "ss", "-Hltn", "sport = :80"); len(out) > 0 {
			return l
		}
		if i > 50 {
			t.Fatal("listener did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestP0f(t *testing.T) {
	Require(t, "p0f", "nc", "ss", "nft")
	sigs := map[string]p0fSig{}
	sigs["kernel"] = p0fConnect(t, kernelListenerLab(t))
	for _, name := range []string{"linux", "windows"} {
		l := NewLab(t, LabOptions{})
		l.SilenceRespKernel()
		l.Start("--personality", name)
		sigs[name] = p0fConnect(t, l)
		if err := l.Stop(); err != nil {
			t.Fatalf("%s: stop: %v\n%s", name, err, l.Stderr())
		}
	}
	for _, name := range []string{"kernel", "linux", "windows"} {
		t.Logf("%-8s raw_sig=%s os=%s", name, sigs[name].RawSig, sigs[name].OS)
		t.Logf("%-8s %s", "", sigs[name].Line)
	}
	if sigs["linux"].RawSig != sigs["kernel"].RawSig {
		t.Errorf("linux personality: raw_sig %s, the kernel's %s", sigs["linux"].RawSig, sigs["kernel"].RawSig)
	}
	if !strings.Contains(sigs["windows"].OS, "Windows") {
		t.Errorf("windows personality: p0f says os=%s (raw_sig %s)", sigs["windows"].OS, sigs["windows"].RawSig)
	}
}
