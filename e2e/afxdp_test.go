package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KernelIP4 is an address of the responder namespace's own kernel, not
// in masscanned's self list: with AF_XDP its frames must still reach the
// kernel (XDP_PASS).
const KernelIP4 = "198.51.100.3"

// xdpOn reports whether an XDP program is attached to the responder's
// veth.
func xdpOn(t *testing.T, l *Lab) bool {
	t.Helper()
	out, err := l.InResp(5*time.Second, "ip", "-d", "link", "show", l.RespIf)
	if err != nil {
		t.Fatalf("ip link: %v\n%s", err, out)
	}
	return strings.Contains(out, "prog/xdp")
}

// waitNoXDP waits (the kernel detaches when the last descriptor of the
// bpf_link is closed, at process exit) and fails if a program remains.
func waitNoXDP(t *testing.T, l *Lab, when string) {
	t.Helper()
	for range 50 {
		if !xdpOn(t, l) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := l.InResp(5*time.Second, "ip", "-d", "link", "show", l.RespIf)
	t.Errorf("%s: an XDP program is still attached:\n%s", when, out)
}

// TestAFXDP: masscanned with --link afxdp answers ping (IPv4 and IPv6,
// through ARP and neighbour discovery handed over by the XDP program),
// nmap -sS, curl and ssh-keyscan; the responder namespace's kernel still
// answers for its own address; the program is gone after a clean exit and
// after kill -9.
func TestAFXDP(t *testing.T) {
	Require(t, "ping", "nmap", "curl", "ssh-keyscan", "nft")
	t.Parallel()
	l := NewLab(t, LabOptions{})
	if out, err := l.InResp(5*time.Second, "ip", "addr", "add", KernelIP4+"/24", "dev", l.RespIf); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	l.Start("--link", "afxdp", "-v")
	waitStderr(t, l, "type=afxdp", 1)
	if !regexp.MustCompile(`link.*type=afxdp.*AF_XDP on ` + l.RespIf + ` \(driver veth, native XDP, copy mode`).MatchString(l.Stderr()) {
		t.Errorf("no AF_XDP startup line:\n%s", l.Stderr())
	}
	if !xdpOn(t, l) {
		t.Fatal("no XDP program on the interface while running")
	}

	if out, err := l.InClient(10*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "2", RespIP4); err != nil {
		t.Errorf("ping %s: %v\n%s", RespIP4, err, out)
	}
	if out, err := l.InClient(10*time.Second, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", RespIP6); err != nil {
		t.Errorf("ping %s: %v\n%s", RespIP6, err, out)
	}
	// the kernel's own address: answered by the kernel, not by masscanned
	if out, err := l.InClient(10*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "2", KernelIP4); err != nil {
		t.Errorf("ping of the kernel's address %s (XDP_PASS): %v\n%s", KernelIP4, err, out)
	}
	out, _ := l.InClient(15*time.Second, "curl", "-s", "-i", "--max-time", "10", "http://"+RespIP4+"/afxdp")
	if !strings.HasPrefix(out, "HTTP/1.") {
		t.Errorf("curl: %q", out)
	}
	out, _ = l.InClient(30*time.Second, "ssh-keyscan", "-T", "10", "-t", "ed25519", RespIP4)
	if !strings.Contains(out, "ssh-ed25519 ") {
		t.Errorf("ssh-keyscan: %q", out)
	}
	l.DropClientTCP() // nmap -sS: the client kernel must not reset
	out, err := l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sS", "-p", "22,80,443,8080", RespIP4)
	if open := len(regexp.MustCompile(`/tcp\s+open\s`).FindAllString(out, -1)); err != nil || open != 4 {
		t.Errorf("nmap -sS: %d of 4 ports open (%v)\n%s", open, err, out)
	}
	if err := l.Stop(); err != nil {
		t.Errorf("stop: %v\n%s", err, l.Stderr())
	}
	waitNoXDP(t, l, "after SIGINT")

	var sawKernelIP, sawHTTP, sawICMP6 bool
	for _, e := range l.Events() {
		if e.Str("ip_dst") == KernelIP4 {
			sawKernelIP = true
		}
		if e.App() != nil && e.App()["proto"] == "http" {
			sawHTTP = true
		}
		if e.Str("ip_dst") == RespIP6 {
			sawICMP6 = true
		}
	}
	if sawKernelIP {
		t.Error("masscanned saw frames for the kernel's address")
	}
	if !sawHTTP || !sawICMP6 {
		t.Errorf("events: http %v, IPv6 %v", sawHTTP, sawICMP6)
	}

	// kill -9: the kernel closes the bpf_link, the program goes
	l.Start("--link", "afxdp", "-v")
	if !pingOK(l, RespIP4) {
		t.Fatalf("no answer after restart:\n%s", l.Stderr())
	}
	if !xdpOn(t, l) {
		t.Fatal("no XDP program after restart")
	}
	l.Signal(syscall.SIGKILL)
	_ = l.Stop()
	waitNoXDP(t, l, "after kill -9")
	// and the kernel has the interface back: its own address still answers
	if out, err := l.InClient(10*time.Second, "ping", "-c", "1", "-W", "2", KernelIP4); err != nil {
		t.Errorf("ping of the kernel's address after kill -9: %v\n%s", err, out)
	}
}

// TestAFXDPAutoReloadUser: --link auto (the default) picks AF_XDP on veth
// and says so; after --user drops to nobody, SIGHUP still updates the XDP
// program's address map: the new address answers, the old one goes back
// to the kernel (silent here).
func TestAFXDPAutoReloadUser(t *testing.T) {
	Require(t, "ping")
	t.Parallel()
	const ip4 = "198.51.100.4"
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	// a directory the dropped user can read
	dir, err := os.MkdirTemp("", "masscanned-afxdp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "self.txt")
	if err := os.WriteFile(self, []byte(RespIP4+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.StartRaw("-i", l.RespIf, "--format", "json", "-m", RespMAC, "--self-ip-file", self, "--user", "nobody", "-v")
	waitStderr(t, l, "type=", 1)
	if !strings.Contains(l.Stderr(), "type=afxdp") {
		t.Errorf("--link auto did not pick AF_XDP on veth:\n%s", l.Stderr())
	}
	if !pingOK(l, RespIP4) {
		t.Fatalf("no answer:\n%s", l.Stderr())
	}
	if pingOK(l, ip4) {
		t.Fatal(ip4 + " answered before it was added")
	}
	if err := os.WriteFile(self, []byte(ip4+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Signal(syscall.SIGHUP)
	waitStderr(t, l, "reloaded address lists", 1)
	if strings.Contains(l.Stderr(), "XDP address map failed") {
		t.Fatalf("map update after dropping privileges:\n%s", l.Stderr())
	}
	if !pingOK(l, ip4) {
		t.Errorf("%s not answered after SIGHUP:\n%s", ip4, l.Stderr())
	}
	if pingOK(l, RespIP4) {
		t.Errorf("%s still answered after it left the list", RespIP4)
	}
	if err := l.Stop(); err != nil {
		t.Errorf("stop: %v\n%s", err, l.Stderr())
	}
	waitNoXDP(t, l, "after SIGINT")
}

// TestLinkAFPacketForced: --link afpacket attaches no XDP program.
func TestLinkAFPacketForced(t *testing.T) {
	Require(t, "ping")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--link", "afpacket", "-v")
	waitStderr(t, l, "type=afpacket", 1)
	if !strings.Contains(l.Stderr(), "type=afpacket") || xdpOn(t, l) {
		t.Errorf("--link afpacket: XDP attached or wrong startup line:\n%s", l.Stderr())
	}
	if !pingOK(l, RespIP4) {
		t.Errorf("no answer:\n%s", l.Stderr())
	}
}
