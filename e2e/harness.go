// Package e2e runs masscanned against real clients. Every test builds its
// own lab: two fresh network namespaces joined by a veth pair, documentation
// addresses only, removed when the test ends (even on failure). Nothing is
// configured in the machine's own namespace.
//
// The tests need root and the client tools (see .ci/run). They run when
// MASSCANNED_E2E=1 (make test sets it) and then fail if anything is
// missing; otherwise they skip.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Addresses of a lab. The client side is a normal Linux host; masscanned
// answers for RespIP4 and RespIP6 on the responder side.
const (
	ClientIP4 = "198.51.100.1"
	RespIP4   = "198.51.100.2"
	ClientIP6 = "2001:db8:100::1"
	RespIP6   = "2001:db8:100::2"
	// RespMAC is the MAC masscanned answers with (-m).
	RespMAC = "52:1c:4e:c2:a4:1f"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Enabled reports whether end-to-end tests should run.
func Enabled() bool { return os.Getenv("MASSCANNED_E2E") == "1" }

// Require skips t unless end-to-end tests are enabled, and fails it if a
// needed tool is missing.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if !Enabled() {
		t.Skip("end-to-end tests run with MASSCANNED_E2E=1 as root (make test)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end tests need root")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("missing tool %q (installed by .ci/run)", tool)
		}
	}
}

// Binary builds masscanned once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "masscanned-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "masscanned")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/masscanned")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Lab is a client namespace and a responder namespace joined by a veth.
type Lab struct {
	t                    testing.TB
	Client, Resp         string // namespace names
	ClientIf, RespIf     string // interface names in each namespace
	ClientMAC, RespIfMAC string

	mu     sync.Mutex
	proc   *exec.Cmd
	done   chan error
	stdout *os.File
	stderr *os.File
	Dir    string // scratch directory of the test
}

// LabOptions changes how a lab is built.
type LabOptions struct {
	// Kernel configures RespIP4/RespIP6 on the responder side's kernel
	// instead of leaving it to masscanned (the differential reference).
	Kernel bool
	// NoClientIPv6 skips the client's IPv6 address.
	NoClientIPv6 bool
}

func rnd() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewLab creates the namespaces and the veth pair; they are deleted when
// the test ends.
func NewLab(t testing.TB, opt LabOptions) *Lab {
	t.Helper()
	id := rnd()
	l := &Lab{t: t, Client: "mcc-" + id, Resp: "mcr-" + id, ClientIf: "vc" + id, RespIf: "vr" + id, Dir: t.TempDir()}
	t.Cleanup(l.destroy)
	l.must("ip", "netns", "add", l.Client)
	l.must("ip", "netns", "add", l.Resp)
	l.must("ip", "-n", l.Client, "link", "add", l.ClientIf, "type", "veth", "peer", "name", l.RespIf, "netns", l.Resp)
	for _, ns := range []string{l.Client, l.Resp} {
		l.must("ip", "-n", ns, "link", "set", "lo", "up")
		// no router solicitations, DAD or other chatter from the kernels
		l.must("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.default.router_solicitations=0", "net.ipv6.conf.all.router_solicitations=0")
	}
	l.must("ip", "-n", l.Client, "addr", "add", ClientIP4+"/24", "dev", l.ClientIf)
	if !opt.NoClientIPv6 {
		l.must("ip", "-n", l.Client, "addr", "add", ClientIP6+"/64", "dev", l.ClientIf, "nodad")
	}
	if opt.Kernel {
		l.must("ip", "-n", l.Resp, "addr", "add", RespIP4+"/24", "dev", l.RespIf)
		l.must("ip", "-n", l.Resp, "addr", "add", RespIP6+"/64", "dev", l.RespIf, "nodad")
	} else {
		// masscanned answers; the responder namespace's kernel has no
		// address and must stay silent
		l.must("ip", "netns", "exec", l.Resp, "sysctl", "-qw", "net.ipv6.conf."+l.RespIf+".disable_ipv6=1")
	}
	l.must("ip", "-n", l.Client, "link", "set", l.ClientIf, "up")
	l.must("ip", "-n", l.Resp, "link", "set", l.RespIf, "up")
	l.ClientMAC = l.ifMAC(l.Client, l.ClientIf)
	l.RespIfMAC = l.ifMAC(l.Resp, l.RespIf)
	return l
}

func (l *Lab) ifMAC(ns, ifname string) string {
	out := l.must("ip", "-n", ns, "-br", "link", "show", ifname)
	f := strings.Fields(out)
	if len(f) < 3 {
		l.t.Fatalf("cannot read MAC of %s: %q", ifname, out)
	}
	return f[2]
}

func (l *Lab) must(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (l *Lab) destroy() {
	l.Stop()
	if l.t.Failed() && l.stderr != nil {
		// the exit line's counters (sent, send_errors, kernel_drops,
		// suppressed_*) say where replies went
		lines := strings.Split(strings.TrimSpace(l.Stderr()), "\n")
		l.t.Logf("masscanned's last log lines:\n%s", strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
	_ = exec.Command("ip", "netns", "del", l.Client).Run()
	_ = exec.Command("ip", "netns", "del", l.Resp).Run()
}

// Start runs masscanned in the responder namespace with JSON events, our
// addresses as the self list and RespMAC, plus args.
func (l *Lab) Start(args ...string) {
	l.t.Helper()
	l.StartRaw(append([]string{"-i", l.RespIf, "--format", "json", "-m", RespMAC,
		"--self-ip-list", RespIP4 + "," + RespIP6}, args...)...)
}

// StartRaw runs masscanned in the responder namespace with exactly args,
// and waits until its link is open.
func (l *Lab) StartRaw(args ...string) {
	l.t.Helper()
	bin := Binary(l.t)
	var err error
	if l.stdout, err = os.Create(filepath.Join(l.Dir, "masscanned.stdout")); err != nil {
		l.t.Fatal(err)
	}
	if l.stderr, err = os.Create(filepath.Join(l.Dir, "masscanned.stderr")); err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.Resp, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.proc = cmd
	l.done = make(chan error, 1)
	l.mu.Unlock()
	go func() { l.done <- cmd.Wait() }()
	// The link is open once the process has a packet socket; poll for it.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !l.Alive() {
			l.t.Fatalf("masscanned exited at start:\n%s", l.Stderr())
		}
		if hasPacketSocket(cmd.Process.Pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.t.Fatalf("masscanned did not open its link:\n%s", l.Stderr())
}

// hasPacketSocket reports whether pid (or its child, for ip netns exec,
// which execs) has an AF_PACKET socket open.
func hasPacketSocket(pid int) bool {
	inodes := map[string]bool{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/packet", pid))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 9 && f[0] != "sk" {
			inodes[f[len(f)-1]] = true
		}
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err == nil && strings.HasPrefix(target, "socket:[") {
			if inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
				return true
			}
		}
	}
	return false
}

// Alive reports whether masscanned is still running.
func (l *Lab) Alive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc == nil {
		return false
	}
	select {
	case err := <-l.done:
		l.done <- err
		return false
	default:
		return true
	}
}

// Pid is masscanned's process id (0 when not running).
func (l *Lab) Pid() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc == nil {
		return 0
	}
	return l.proc.Process.Pid
}

// Signal sends sig to masscanned.
func (l *Lab) Signal(sig syscall.Signal) {
	if pid := l.Pid(); pid != 0 {
		_ = syscall.Kill(pid, sig)
	}
}

// Stop ends masscanned with SIGINT (then SIGKILL after 10 s) and returns
// its exit error.
func (l *Lab) Stop() error {
	l.mu.Lock()
	proc, done := l.proc, l.done
	l.proc = nil
	l.mu.Unlock()
	if proc == nil {
		return nil
	}
	_ = proc.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = proc.Process.Kill()
		err = <-done
		err = fmt.Errorf("masscanned did not stop on SIGINT (killed): %v", err)
	}
	l.stdout.Close()
	l.stderr.Close()
	return err
}

// Stderr is what masscanned wrote on stderr so far.
func (l *Lab) Stderr() string {
	b, _ := os.ReadFile(filepath.Join(l.Dir, "masscanned.stderr"))
	return string(b)
}

// Event is one JSON event line.
type Event map[string]any

// Str returns a string field ("" when absent).
func (e Event) Str(k string) string { s, _ := e[k].(string); return s }

// Num returns a numeric field (0 when absent).
func (e Event) Num(k string) float64 { n, _ := e[k].(float64); return n }

// App returns the application record (nil when absent).
func (e Event) App() map[string]any { a, _ := e["app"].(map[string]any); return a }

// Events parses the events written so far (call after Stop for all).
func (l *Lab) Events() []Event {
	l.t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir, "masscanned.stdout"))
	if err != nil {
		l.t.Fatal(err)
	}
	var out []Event
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			l.t.Fatalf("bad event line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// InClient runs a command in the client namespace with a timeout and
// returns its combined output.
func (l *Lab) InClient(timeout time.Duration, name string, args ...string) (string, error) {
	return l.in(l.Client, timeout, name, args...)
}

// InResp runs a command in the responder namespace.
func (l *Lab) InResp(timeout time.Duration, name string, args ...string) (string, error) {
	return l.in(l.Resp, timeout, name, args...)
}

func (l *Lab) in(ns string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %v", name, timeout, err)
	}
	return string(out), err
}

// DropClientTCP makes the client kernel ignore incoming TCP, so that it
// does not reset connections opened by raw tools (scapy, hping3, nmap -sS).
func (l *Lab) DropClientTCP() {
	l.t.Helper()
	rules := "table inet mcfilter { chain in { type filter hook input priority 0; policy accept; meta l4proto tcp drop; }; }"
	if out, err := l.InClient(5*time.Second, "nft", rules); err != nil {
		l.t.Fatalf("nft: %v\n%s", err, out)
	}
}

// SilenceRespKernel drops everything at the responder namespace's kernel
// input (masscanned's packet socket still sees the frames).
func (l *Lab) SilenceRespKernel() {
	l.t.Helper()
	rules := "table inet mcsilence { chain in { type filter hook input priority 0; policy drop; }; }"
	if out, err := l.InResp(5*time.Second, "nft", rules); err != nil {
		l.t.Fatalf("nft: %v\n%s", err, out)
	}
}

// MAC parses a MAC string (for scapy scripts and comparisons).
func MAC(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

// RunInResp starts a server in the responder namespace, waits until its
// kernel listens on TCP port, and stops the server (by its PID) when the
// test ends. It reports false (and fails t) if the server did not start.
func (l *Lab) RunInResp(port string, name string, args ...string) bool {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.Resp, name}, args...)...)
	if err := cmd.Start(); err != nil {
		l.t.Errorf("%s: %v", name, err)
		return false
	}
	l.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 50; i++ {
		if out, _ := l.InResp(5*time.Second, "ss", "-Hltn", "sport = :"+port); strings.Contains(out, "LISTEN") {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Errorf("%s does not listen on %s", name, port)
	return false
}
