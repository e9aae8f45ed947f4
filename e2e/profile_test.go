package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Host profiles against real scanners: a profiled address shows only its
// open ports, resets the others, greets on server-first ports and gives
// nmap the same OS guess as the Linux kernel answering the same ports.

// writeProfile writes a host profile for the lab's addresses into the
// test's directory and returns its path.
func writeProfile(t *testing.T, l *Lab, body string) string {
	t.Helper()
	p := filepath.Join(l.Dir, "profile.toml")
	text := fmt.Sprintf("[[host]]\naddresses = [%q, %q]\n%s", RespIP4, RespIP6, body)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// nmapPorts parses nmap's normal output into port -> "state service version...".
func nmapPorts(out string) map[string][]string {
	m := map[string][]string{}
	re := regexp.MustCompile(`^(\d+/(tcp|udp))\s+(\S+)\s*(.*)$`)
	for _, line := range strings.Split(out, "\n") {
		if g := re.FindStringSubmatch(strings.TrimSpace(line)); g != nil {
			m[g[1]] = append([]string{g[3]}, strings.Fields(g[4])...)
		}
	}
	return m
}

// kernelListeners makes the responder namespace's kernel listen on ports.
func kernelListeners(t *testing.T, l *Lab, ports ...int) {
	t.Helper()
	var ps []string
	for _, p := range ports {
		ps = append(ps, strconv.Itoa(p))
	}
	src := `import socket,time
ss=[]
for p in [` + strings.Join(ps, ",") + `]:
    s=socket.socket(socket.AF_INET6,socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
    s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)
    s.bind(("::",p));s.listen(128);ss.append(s)
time.sleep(600)`
	cmd := exec.Command("ip", "netns", "exec", l.Resp, python(t), "-c", src)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		out, _ := l.InResp(5*time.Second, "ss", "-Hltn")
		if strings.Count(out, "LISTEN") >= len(ports) {
			return
		}
		if i > 50 {
			t.Fatalf("listeners did not start: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// osGuess is what nmap -O concluded: its "OS details" or, failing that,
// "Running" / aggressive guesses / no exact match line.
func osGuess(out string) string {
	for _, key := range []string{"OS details:", "Running:", "Aggressive OS guesses:", "Running (JUST GUESSING):", "No exact OS matches"} {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, key) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

// osFingerprint is nmap's TCP/IP fingerprint without what differs between
// two runs against the same OS: the SCAN line and the sequence tests'
// statistics (SP, GCD, ISR, TS); IP ID policies (TI, CI, II) stay.
func osFingerprint(out string) map[string]string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "OS:") {
			b.WriteString(strings.TrimPrefix(line, "OS:"))
		}
	}
	fp := map[string]string{}
	for _, test := range strings.Split(b.String(), ")") {
		name, body, ok := strings.Cut(test, "(")
		if !ok || name == "SCAN" {
			continue
		}
		if name == "SEQ" {
			var keep []string
			for _, kv := range strings.Split(body, "%") {
				if k, _, _ := strings.Cut(kv, "="); k == "TI" || k == "CI" || k == "II" {
					keep = append(keep, kv)
				}
			}
			body = strings.Join(keep, "%")
		}
		fp[name] = body
	}
	return fp
}

// TestProfileNmapOS: nmap -O gives the same OS guess against a linux
// profile with 22, 80, 443 open as against the kernel listening on the
// same ports, in the same run.
func TestProfileNmapOS(t *testing.T) {
	Require(t, "nmap")
	ports := "22,80,443,8080"
	var kOut, mOut string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		k := NewLab(t, LabOptions{Kernel: true})
		k.must("ip", "netns", "exec", k.Resp, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 131072 6291456")
		kernelListeners(t, k, 22, 80, 443)
		kOut, _ = k.InClient(180*time.Second, "nmap", "-O", "-Pn", "-n", "-p", ports, RespIP4)
	}()
	go func() {
		defer wg.Done()
		m := NewLab(t, LabOptions{})
		m.SilenceRespKernel()
		m.Start("--profile", writeProfile(t, m, "personality = \"linux\"\ntcp = [22, 80, 443]\nudp = []\n"))
		mOut, _ = m.InClient(180*time.Second, "nmap", "-O", "-Pn", "-n", "-p", ports, RespIP4)
		if !m.Alive() {
			t.Errorf("masscanned died:\n%s", m.Stderr())
		}
	}()
	wg.Wait()
	kg, mg := osGuess(kOut), osGuess(mOut)
	t.Logf("kernel:     %s", kg)
	t.Logf("masscanned: %s", mg)
	if kg == "" || kg != mg {
		t.Errorf("OS guesses differ\n--- kernel\n%s\n--- masscanned\n%s", kOut, mOut)
	}
	// nmap's own fingerprint of both: every test equal
	kf, mf := osFingerprint(kOut), osFingerprint(mOut)
	if len(kf) < 10 {
		t.Errorf("kernel fingerprint has %d tests:\n%s", len(kf), kOut)
	}
	for name, kv := range kf {
		if mf[name] != kv {
			t.Errorf("nmap test %s: kernel %q, masscanned %q", name, kv, mf[name])
		}
	}
	for name := range mf {
		if _, ok := kf[name]; !ok {
			t.Errorf("nmap test %s only against masscanned: %q", name, mf[name])
		}
	}
	if p := nmapPorts(mOut); len(p["8080/tcp"]) == 0 || p["8080/tcp"][0] != "closed" || p["22/tcp"][0] != "open" {
		t.Errorf("ports: %v", p)
	}
}

// TestProfileServices: nmap -sV names the services of a profile (the
// server-first ones from their greeting) and reports unlisted ports
// closed.
func TestProfileServices(t *testing.T) {
	Require(t, "nmap")
	l := NewLab(t, LabOptions{})
	l.SilenceRespKernel()
	l.Start("--profile", writeProfile(t, l, `personality = "linux"
tcp = [21, 22, 23, 25, 80, 110, 143, 443, 502, 1433, 1883, 2375, 3306, 3389, 5060, 5555, 5900, 6379]
udp = []
[host.banners]
http_server = "nginx/1.22.1"
`))
	ports := "21,22,23,25,80,110,143,443,502,1433,1883,2375,3306,3389,5060,5555,5900,6379,8080"
	out, err := l.InClient(400*time.Second, "nmap", "-sV", "-Pn", "-n", "-p", ports, RespIP4)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	t.Logf("nmap -sV:\n%s", out)
	got := nmapPorts(out)
	want := map[string][2]string{
		"21/tcp":   {"ftp", "vsftpd"},
		"22/tcp":   {"ssh", "OpenSSH"},
		"23/tcp":   {"telnet", ""},
		"25/tcp":   {"smtp", "Postfix"},
		"80/tcp":   {"http", "nginx"},
		"110/tcp":  {"pop3", "Dovecot"},
		"143/tcp":  {"imap", "Dovecot"},
		"1433/tcp": {"ms-sql-s", "Microsoft SQL Server"},
		"1883/tcp": {"mqtt", ""},
		"2375/tcp": {"docker", "Docker"},
		"3306/tcp": {"mysql", "MySQL"},
		"3389/tcp": {"ms-wbt-server", ""},
		"5060/tcp": {"sip", ""},
		"5555/tcp": {"adb", "Android Debug Bridge"},
		"5900/tcp": {"vnc", "VNC"},
		"6379/tcp": {"redis", "Redis"},
	}
	for port, w := range want {
		f := got[port]
		if len(f) < 2 || f[0] != "open" || !strings.HasPrefix(f[1], w[0]) || !strings.Contains(strings.Join(f, " "), w[1]) {
			t.Errorf("%s: %v, want open %s %s", port, f, w[0], w[1])
		}
	}
	for _, port := range []string{"443/tcp", "502/tcp"} {
		if f := got[port]; len(f) == 0 || f[0] != "open" {
			t.Errorf("%s: %v, want open", port, f)
		}
	}
	if f := got["8080/tcp"]; len(f) == 0 || f[0] != "closed" {
		t.Errorf("8080/tcp: %v, want closed", f)
	}
	if !l.Alive() {
		t.Errorf("masscanned died:\n%s", l.Stderr())
	}
}

// TestProfileFullScan: a SYN scan of all 65535 ports of a profiled
// address finds exactly its open ports, all others closed (reset). At
// 10 kpps: the port map is the subject, not the rate (with CPU hogs beside
// it, a paced masscanned left 15 % of nmap's 20 kpps unanswered, the stop
// 13 build 8 %; at 10 kpps none in three runs).
func TestProfileFullScan(t *testing.T) {
	Require(t, "nmap")
	l := NewLab(t, LabOptions{})
	l.SilenceRespKernel()
	l.Start("--profile", writeProfile(t, l, "tcp = [22, 80, 443, \"8000-8002\"]\nudp = []\n"))
	out, err := l.InClient(300*time.Second, "nmap", "-sS", "-Pn", "-n", "-p-", "--min-rate", "10000", "--max-retries", "3", RespIP4)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	ports := nmapPorts(out)
	var open []string
	for p, f := range ports {
		if f[0] == "open" {
			open = append(open, p)
		}
	}
	m := regexp.MustCompile(`Not shown: (\d+) closed tcp ports`).FindStringSubmatch(out)
	closed := 0
	if m != nil {
		closed, _ = strconv.Atoi(m[1])
	}
	t.Logf("open %d %v, closed %d", len(open), open, closed)
	if len(open) != 6 || closed != 65535-6 {
		t.Errorf("want 6 open and 65529 closed:\n%s", out)
	}
}

// TestProfileMasscanBanner: masscan --banners records the greeting of a
// profiled SSH port, and of an unprofiled one after --greet-after.
func TestProfileMasscanBanner(t *testing.T) {
	Require(t, "masscan")
	for _, tc := range []struct {
		name, port string
		profile    bool
	}{{"profile port 2222", "2222", true}, {"silent client on 22", "22", false}} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLab(t, LabOptions{NoClientIPv6: true})
			l.SilenceRespKernel()
			if tc.profile {
				l.Start("--profile", writeProfile(t, l, "tcp = [2222]\n[host.services]\n2222 = \"ssh\"\n"))
			} else {
				l.Start()
			}
			// masscan speaks from an address the client kernel does not
			// own, so that the kernel does not reset its connection.
			out, err := l.InClient(60*time.Second, "masscan", "-p"+tc.port, RespIP4, "--banners", "-e", l.ClientIf,
				"--source-ip", "198.51.100.77", "--router-mac", RespMAC, "--wait", "6")
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "Banner on") || strings.Contains(line, "Discovered") {
					t.Logf("masscan: %s", strings.TrimSpace(line[strings.LastIndex(line, "  ")+1:]))
				}
			}
			if err != nil {
				t.Fatalf("masscan: %v", err)
			}
			if !strings.Contains(out, "SSH-2.0-OpenSSH_9.2p1") {
				t.Errorf("no SSH banner recorded:\n%s", out)
			}
		})
	}
}

// TestUnprofiledFullScan: without a profile every port is open
// (upstream's behaviour): a SYN scan of 1-65535 finds 65535.
func TestUnprofiledFullScan(t *testing.T) {
	Require(t, "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.SilenceRespKernel()
	l.Start("--no-rate-limit", "-q")
	out, err := l.InClient(300*time.Second, "nmap", "-sS", "-Pn", "-n", "-p-", "--min-rate", "20000", "-oG", "-", RespIP4)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	open := strings.Count(out, "/open/tcp/")
	t.Logf("open ports: %d", open)
	if open != 65535 {
		t.Errorf("%d ports open, want 65535", open)
	}
}

// TestProfileReload: SIGHUP reloads the profile; a bad file keeps the
// previous one.
func TestProfileReload(t *testing.T) {
	Require(t, "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.SilenceRespKernel()
	path := writeProfile(t, l, "tcp = [22]\n")
	l.Start("--profile", path)
	state := func() string {
		out, err := l.InClient(60*time.Second, "nmap", "-sS", "-Pn", "-n", "-p", "80", RespIP4)
		if err != nil {
			t.Fatalf("nmap: %v\n%s", err, out)
		}
		if f := nmapPorts(out)["80/tcp"]; len(f) > 0 {
			return f[0]
		}
		return "?"
	}
	waitLog := func(msg string) {
		t.Helper()
		for i := 0; i < 100; i++ {
			if strings.Contains(l.Stderr(), msg) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %q in the log:\n%s", msg, l.Stderr())
	}
	if s := state(); s != "closed" {
		t.Fatalf("80 is %s before the reload, want closed", s)
	}
	writeProfile(t, l, "tcp = [22, 80]\n")
	l.Signal(syscall.SIGHUP)
	waitLog("reloaded host profile")
	if s := state(); s != "open" {
		t.Errorf("80 is %s after the reload, want open", s)
	}
	if err := os.WriteFile(path, []byte("[[host]]\naddresses = [\"198.51.100.2\"]\ntcp = [\"x\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Signal(syscall.SIGHUP)
	waitLog("reload failed, keeping the previous host profile")
	if !strings.Contains(l.Stderr(), "profile.toml:3") {
		t.Errorf("the reload error does not name the line:\n%s", l.Stderr())
	}
	if s := state(); s != "open" {
		t.Errorf("80 is %s after a bad reload, want open (the previous profile)", s)
	}
}
