package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostPortsArgs runs masscanned on the responder's own address and
// interface (the kernel owns RespIP4), the kernel keeping ports.
func hostPortsArgs(l *Lab, ports string) []string {
	return []string{"-i", l.RespIf, "--format", "json", "--self-ip-list", RespIP4, "--host-ports", ports}
}

// startSSHD runs Debian's sshd on the responder's port 22 with fresh host
// keys and an authorized key for root; it returns the client's key and
// the ed25519 host public key.
func startSSHD(t *testing.T, l *Lab) (clientKey, hostKey string) {
	t.Helper()
	dir := l.Dir
	for _, kt := range [][]string{{"rsa", "3072"}, {"ecdsa", "256"}, {"ed25519", "256"}} {
		l.must("ssh-keygen", "-q", "-t", kt[0], "-b", kt[1], "-N", "", "-f", filepath.Join(dir, "ssh_host_"+kt[0]+"_key"))
	}
	clientKey = filepath.Join(dir, "client_key")
	l.must("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey)
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	l.must("mkdir", "-p", "/run/sshd")
	if !l.RunInResp("22", "/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config",
		"-o", "HostKey="+filepath.Join(dir, "ssh_host_rsa_key"), "-o", "HostKey="+filepath.Join(dir, "ssh_host_ecdsa_key"),
		"-o", "HostKey="+filepath.Join(dir, "ssh_host_ed25519_key"), "-o", "PidFile=none",
		"-o", "AuthorizedKeysFile="+filepath.Join(dir, "authorized_keys"), "-o", "StrictModes=no",
		"-o", "PermitRootLogin=prohibit-password", "-o", "ListenAddress=0.0.0.0") {
		t.FailNow()
	}
	f := strings.Fields(string(hk))
	return clientKey, f[0] + " " + f[1]
}

// checkSSH logs in to the responder's sshd with the client key and runs
// a command, and checks the host key is the one sshd was given.
func checkSSH(t *testing.T, l *Lab, clientKey, hostKey, when string) {
	t.Helper()
	out, err := l.InClient(30*time.Second, "ssh", "-i", clientKey, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		"root@"+RespIP4, "echo", "login-as-$(id -un)")
	if err != nil || !strings.Contains(out, "login-as-root") {
		t.Errorf("%s: ssh login to the host's sshd: %v\n%s", when, err, out)
	}
	out, err = l.InClient(30*time.Second, "ssh-keyscan", "-T", "10", "-t", "ed25519", RespIP4)
	if err != nil || !strings.Contains(out, hostKey) {
		t.Errorf("%s: ssh-keyscan: the host key is not the host sshd's %q: %v\n%s", when, hostKey, err, out)
	}
}

// curlMasscanned checks that masscanned answers HTTP on port.
func curlMasscanned(t *testing.T, l *Lab, port, path string) {
	t.Helper()
	out, _ := l.InClient(15*time.Second, "curl", "-s", "-i", "--max-time", "5", "http://"+RespIP4+":"+port+path)
	if !strings.HasPrefix(out, "HTTP/1.1 401 Unauthorized") {
		t.Errorf("curl :%s%s: %q", port, path, out)
	}
}

// startHostPorts starts masscanned with --host-ports and waits for its
// table (the packet socket, which StartRaw waits for, opens first).
func startHostPorts(t *testing.T, l *Lab, ports string, extra ...string) string {
	t.Helper()
	l.StartRaw(append(hostPortsArgs(l, ports), extra...)...)
	for range 200 {
		out, err := l.InResp(5*time.Second, "nft", "list", "table", "inet", "masscanned_"+l.RespIf)
		if err == nil {
			return out
		}
		if !l.Alive() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("masscanned did not install its table:\n%s", l.Stderr())
	return ""
}

// noMasscannedTable fails t if the responder has a masscanned table.
func noMasscannedTable(t *testing.T, l *Lab, when string) {
	t.Helper()
	out, err := l.InResp(5*time.Second, "nft", "list", "ruleset")
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	if strings.Contains(out, "masscanned") {
		t.Errorf("%s: a masscanned table is left:\n%s", when, out)
	}
}

// TestHostPorts: masscanned shares the responder kernel's own address.
// A real sshd on 22 stays reachable (key exchange with its own host key,
// a login) while masscanned answers 80 and 8080 on the same address, the
// kernel sending no reset for them; the host's own outgoing connection
// works; the nftables table goes at exit and when masscanned is killed.
func TestHostPorts(t *testing.T) {
	Require(t, "ssh", "sshd", "ssh-keygen", "ssh-keyscan", "curl", "tcpdump", "nft", "ss")
	t.Parallel()
	l := NewLab(t, LabOptions{Kernel: true, NoClientIPv6: true})
	clientKey, hostKey := startSSHD(t, l)

	// Without masscanned the kernel refuses port 80 with a reset: what
	// the rules must prevent.
	if out, err := l.InClient(10*time.Second, "curl", "-s", "--max-time", "5", "http://"+RespIP4+"/"); err == nil ||
		!strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("curl before masscanned: want connection refused (exit 7), got %v %q", err, out)
	}
	checkSSH(t, l, clientKey, hostKey, "before masscanned")

	// a server on the client side for the host's own outgoing connection
	py := exec.Command("ip", "netns", "exec", l.Client, "python3", "-m", "http.server", "8000", "--bind", ClientIP4)
	py.Dir = l.Dir
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = py.Process.Kill(); _ = py.Wait() })

	// resets from the responder, on the client's side of the veth
	rstLog := filepath.Join(l.Dir, "rst.txt")
	rstErr, err := os.Create(filepath.Join(l.Dir, "tcpdump.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	rstOut, err := os.Create(rstLog)
	if err != nil {
		t.Fatal(err)
	}
	td := exec.Command("ip", "netns", "exec", l.Client, "tcpdump", "-i", l.ClientIf, "-l", "-n",
		"src host "+RespIP4+" and tcp[tcpflags] & tcp-rst != 0")
	td.Stdout, td.Stderr = rstOut, rstErr
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	stopDump := func() {
		_ = td.Process.Signal(os.Interrupt)
		_ = td.Wait()
		rstOut.Close()
	}
	t.Cleanup(func() { _ = td.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(rstErr.Name()); strings.Contains(string(b), "listening on") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tcpdump did not start")
		}
	}

	table := startHostPorts(t, l, "tcp:22")
	if !strings.Contains(table, "flags owner") || !strings.Contains(table, "tcp dport 22") {
		t.Fatalf("masscanned's table:\n%s\n%s", table, l.Stderr())
	}
	checkSSH(t, l, clientKey, hostKey, "with masscanned")
	curlMasscanned(t, l, "80", "/hostports-80")
	curlMasscanned(t, l, "8080", "/hostports-8080")
	// ping: masscanned answers it, the kernel drops it (one reply each)
	if out, err := l.InClient(10*time.Second, "ping", "-c", "2", "-W", "2", RespIP4); err != nil || strings.Contains(out, "DUP!") {
		t.Errorf("ping: %v\n%s", err, out)
	}
	// the host's own connection out, its replies on an ephemeral port
	var got string
	for range 50 {
		got, err = l.InResp(10*time.Second, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "http://"+ClientIP4+":8000/")
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "200" {
		t.Errorf("the host's own connection out: %v %q", err, got)
	}
	// the kernel saw and dropped the frames masscanned answered
	table, _ = l.InResp(5*time.Second, "nft", "list", "chain", "inet", "masscanned_"+l.RespIf, "shared")
	m := regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`).FindStringSubmatch(table)
	if m == nil {
		t.Errorf("no drop counter:\n%s", table)
	} else if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("the kernel dropped nothing for masscanned:\n%s", table)
	}

	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	stopDump()
	rst, _ := os.ReadFile(rstLog)
	for _, line := range strings.Split(string(rst), "\n") {
		if strings.Contains(line, RespIP4+".80 >") || strings.Contains(line, RespIP4+".8080 >") {
			t.Errorf("a reset from the responder for masscanned's port: %s", line)
		}
	}
	noMasscannedTable(t, l, "after a normal exit")
	if !strings.Contains(l.Stderr(), "host_frames=") {
		t.Errorf("no host_frames in the exit summary:\n%s", l.Stderr())
	}

	seen := map[string]bool{}
	for _, e := range l.Events() {
		if p := e.Num("port_dst"); p == 22 || (p >= 32768 && p <= 60999) {
			t.Errorf("masscanned saw a frame of the host's: %v", e)
		}
		if a := e.App(); a != nil && a["proto"] == "http" {
			seen[a["path"].(string)] = true
		}
		if e.Str("layer") == "arp" && e.Str("reply") != "" {
			t.Errorf("masscanned answered ARP for the host's address: %v", e)
		}
	}
	if !seen["/hostports-80"] || !seen["/hostports-8080"] {
		t.Errorf("HTTP events: %v", seen)
	}

	// killed: the kernel removes the table with the process's socket
	startHostPorts(t, l, "tcp:22")
	l.Signal(syscall.SIGKILL)
	for i := 0; l.Alive() && i < 100; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = l.Stop()
	noMasscannedTable(t, l, "after SIGKILL")
	checkSSH(t, l, clientKey, hostKey, "after SIGKILL")

	// and a fresh start works, unprivileged after the start: the exit's
	// delete then fails, closing the socket removes the table
	startHostPorts(t, l, "tcp:22", "--user", "nobody")
	curlMasscanned(t, l, "80", "/again")
	checkSSH(t, l, clientKey, hostKey, "after a restart")
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	noMasscannedTable(t, l, "after the last exit")
	if strings.Contains(l.Stderr(), "removing the nftables table") {
		t.Errorf("an error removing the table:\n%s", l.Stderr())
	}
}

// TestHostPortsErrors: each refusal is one line on stderr and a non-zero
// exit, and leaves no table behind.
func TestHostPortsErrors(t *testing.T) {
	Require(t, "sshd", "ssh-keygen", "nft", "ss", "setpriv")
	t.Parallel()
	l := NewLab(t, LabOptions{Kernel: true, NoClientIPv6: true})
	startSSHD(t, l)
	bin := Binary(t)
	for _, c := range []struct {
		name string
		pre  []string // before the binary (setpriv)
		args []string
		code int
		want string
	}{
		{"bad port", nil, hostPortsArgs(l, "tcp:0"), 2, `--host-ports: "tcp:0": invalid port "0"`},
		{"bad protocol", nil, hostPortsArgs(l, "sctp:22"), 2, `want tcp:PORT or udp:PORT`},
		{"no self list", nil, []string{"-i", l.RespIf, "--host-ports", "tcp:22"}, 2, "--host-ports needs -i IFACE and --self-ip-list"},
		{"not the host's address", nil, []string{"-i", l.RespIf, "--self-ip-list", "198.51.100.77", "--host-ports", "tcp:22"}, 1,
			"none of the self IPs is an address of " + l.RespIf},
		{"another MAC", nil, append(hostPortsArgs(l, "tcp:22"), "-m", RespMAC), 1, "must answer with " + l.RespIf + "'s own MAC"},
		{"sshd would be lost", nil, hostPortsArgs(l, "tcp:2222"), 1,
			"the host serves tcp:22 (0.0.0.0) on its shared address but the list leaves it to masscanned"},
		{"no CAP_NET_ADMIN", []string{"setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--"},
			hostPortsArgs(l, "tcp:22"), 1, "needs CAP_NET_ADMIN"},
	} {
		args := append(append([]string{"netns", "exec", l.Resp}, c.pre...), bin)
		cmd := exec.Command("ip", append(args, c.args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != c.code || len(lines) != 1 || !strings.HasPrefix(lines[0], "masscanned: error: ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: exit %d (want %d), stderr:\n%s\nwant one line with %q", c.name, code, c.code, stderr.String(), c.want)
		}
		noMasscannedTable(t, l, c.name)
	}
}
