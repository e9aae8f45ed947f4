package e2e

import (
	"context"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Real clients at layers 2-4 against masscanned, each checked both on the
// wire (the client's own view) and in masscanned's events.

// python is the interpreter that has scapy (the Debian one; a pyenv shim
// may come first on PATH).
func python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import scapy.all").Run() == nil {
				return path
			}
		}
	}
	t.Fatal("missing python3-scapy (installed by .ci/run)")
	return ""
}

// script is the absolute path of a helper script under e2e/scripts.
func script(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// find returns the events matching pred.
func find(evs []Event, pred func(Event) bool) []Event {
	var out []Event
	for _, e := range evs {
		if pred(e) {
			out = append(out, e)
		}
	}
	return out
}

// stop stops masscanned and fails t if it did not exit cleanly.
func stop(t *testing.T, l *Lab) []Event {
	t.Helper()
	// Let the last frames (a client's final ACK or FIN, sent as its tool
	// exits) reach masscanned: it does not drain its ring at SIGINT.
	time.Sleep(300 * time.Millisecond)
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	return l.Events()
}

func TestPing(t *testing.T) {
	Require(t, "ping")
	l := NewLab(t, LabOptions{})
	l.Start()
	// A recognisable payload pattern: ping checks that the data comes back
	// unchanged (it prints "wrong data byte" otherwise).
	out, err := l.InClient(10*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-p", "c0ffee", "-s", "100", RespIP4)
	if err != nil || !strings.Contains(out, "3 received") || strings.Contains(out, "wrong data") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	out, err = l.InClient(10*time.Second, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-p", "c0ffee", "-s", "100", RespIP6)
	if err != nil || !strings.Contains(out, "3 received") || strings.Contains(out, "wrong data") {
		t.Fatalf("ping -6: %v\n%s", err, out)
	}
	evs := stop(t, l)
	v4 := find(evs, func(e Event) bool {
		return e.Str("verdict") == "send" && e.Str("reply") == "echo-reply" && e.Str("layer") == "icmpv4" &&
			e.Str("ip_src") == ClientIP4 && e.Str("ip_dst") == RespIP4 && e.Num("icmp_type") == 8 && e.Num("payload_len") >= 100
	})
	v6 := find(evs, func(e Event) bool {
		return e.Str("verdict") == "send" && e.Str("reply") == "echo-reply" && e.Str("layer") == "icmpv6" &&
			e.Str("ip_src") == ClientIP6 && e.Str("ip_dst") == RespIP6 && e.Num("icmp_type") == 128
	})
	if len(v4) != 3 || len(v6) != 3 {
		t.Errorf("echo-reply events: ipv4 %d ipv6 %d, want 3 and 3", len(v4), len(v6))
	}
}

func TestArping(t *testing.T) {
	Require(t, "arping")
	l := NewLab(t, LabOptions{})
	l.Start()
	// Thomas Habets' arping: -i interface, -c count, -w deadline (s).
	out, err := l.InClient(15*time.Second, "arping", "-i", l.ClientIf, "-c", "3", "-w", "5", RespIP4)
	if err != nil || !strings.Contains(strings.ToLower(out), RespMAC) {
		t.Fatalf("arping: %v\n%s", err, out)
	}
	if n := strings.Count(strings.ToLower(out), "bytes from "+RespMAC); n != 3 {
		t.Errorf("arping: %d replies from %s, want 3\n%s", n, RespMAC, out)
	}
	evs := stop(t, l)
	arp := find(evs, func(e Event) bool {
		return e.Str("verdict") == "send" && e.Str("reply") == "arp-reply" && e.Str("layer") == "arp" &&
			e.Str("ip_src") == ClientIP4 && e.Str("ip_dst") == RespIP4 && e.Num("arp_op") == 1
	})
	if len(arp) != 3 {
		t.Errorf("arp-reply events: %d, want 3", len(arp))
	}
}

func TestNdisc6(t *testing.T) {
	Require(t, "ndisc6", "ping")
	l := NewLab(t, LabOptions{})
	l.Start()
	out, err := l.InClient(10*time.Second, "ndisc6", "-1", "-r", "3", "-w", "1000", RespIP6, l.ClientIf)
	if err != nil || !strings.Contains(strings.ToLower(out), RespMAC) {
		t.Fatalf("ndisc6: %v\n%s", err, out)
	}
	// The client kernel solicits the neighbour itself before a ping -6 (NS
	// to the solicited-node multicast address).
	if out, err := l.InClient(10*time.Second, "ping", "-6", "-c", "1", "-W", "2", RespIP6); err != nil {
		t.Fatalf("ping -6: %v\n%s", err, out)
	}
	neigh, _ := l.InClient(5*time.Second, "ip", "-6", "neigh", "show", RespIP6)
	if !strings.Contains(strings.ToLower(neigh), RespMAC) {
		t.Errorf("client neighbour table: %q, want %s", neigh, RespMAC)
	}
	evs := stop(t, l)
	na := find(evs, func(e Event) bool {
		return e.Str("verdict") == "send" && e.Str("reply") == "na" && e.Str("layer") == "icmpv6" &&
			e.Str("ip_src") == ClientIP6 && e.Num("icmp_type") == 135
	})
	// ndisc6 (one solicitation, -1 stops at the first answer) plus at least
	// one from the kernel.
	if len(na) < 2 {
		t.Errorf("na events: %d, want >= 2: %v", len(na), na)
	}
	if len(find(na, func(e Event) bool { return strings.HasPrefix(e.Str("ip_dst"), "ff02::1:ff") })) == 0 {
		t.Errorf("no NA event for a solicitation to the solicited-node address: %v", na)
	}
}

func randomPorts(n int) []int {
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		p := 1 + mrand.IntN(65535)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func TestNcConnect(t *testing.T) {
	Require(t, "nc")
	l := NewLab(t, LabOptions{})
	l.Start()
	ports4, ports6 := randomPorts(8), randomPorts(4)
	for _, p := range ports4 {
		if out, err := l.InClient(10*time.Second, "nc", "-z", "-w", "3", RespIP4, strconv.Itoa(p)); err != nil {
			t.Errorf("nc -z %s %d: %v\n%s", RespIP4, p, err, out)
		}
	}
	for _, p := range ports6 {
		if out, err := l.InClient(10*time.Second, "nc", "-6", "-z", "-w", "3", RespIP6, strconv.Itoa(p)); err != nil {
			t.Errorf("nc -6 -z %s %d: %v\n%s", RespIP6, p, err, out)
		}
	}
	evs := stop(t, l)
	check := func(src string, ports []int) {
		for _, p := range ports {
			syn := find(evs, func(e Event) bool {
				return e.Str("verdict") == "send" && e.Str("reply") == "syn-ack" && e.Str("layer") == "tcp" &&
					e.Str("ip_src") == src && e.Num("port_dst") == float64(p) && e.Str("tcp_flags") == "S"
			})
			if len(syn) != 1 {
				t.Errorf("%s port %d: %d syn-ack events, want 1", src, p, len(syn))
			}
			// the handshake's last ACK is accepted (a valid cookie)
			ack := find(evs, func(e Event) bool {
				return e.Str("ip_src") == src && e.Num("port_dst") == float64(p) && e.Str("tcp_flags") == "A"
			})
			if len(ack) == 0 || ack[0].Str("verdict") == "drop" {
				t.Errorf("%s port %d: handshake ACK event %v; all: %v", src, p, ack,
					find(evs, func(e Event) bool { return e.Str("ip_src") == src }))
			}
		}
	}
	check(ClientIP4, ports4)
	check(ClientIP6, ports6)
}

func TestNmapSYNScan(t *testing.T) {
	Require(t, "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	// nmap -sS reads replies through libpcap and reports the ports open
	// without this (scripts/demo.sh runs it so); dropping incoming TCP at
	// the client's input keeps the client kernel's own RSTs for the
	// unexpected SYN-ACKs off the wire, so the scan stays nmap's alone.
	l.DropClientTCP()
	l.Start()
	out, err := l.InClient(120*time.Second, "nmap", "-n", "-Pn", "-sS", "-p", "1-1000", "--max-retries", "1", "-T4", "-oG", "-", RespIP4)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	open := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Host:") && strings.Contains(line, "Ports:") {
			open = strings.Count(line, "/open/tcp/")
		}
	}
	if open != 1000 {
		t.Fatalf("nmap reported %d open ports, want 1000\n%s", open, out)
	}
	evs := stop(t, l)
	ports := map[float64]bool{}
	for _, e := range evs {
		if e.Str("verdict") == "send" && e.Str("reply") == "syn-ack" && e.Str("ip_src") == ClientIP4 {
			ports[e.Num("port_dst")] = true
		}
	}
	for p := 1; p <= 1000; p++ {
		if !ports[float64(p)] {
			t.Errorf("no syn-ack event for port %d", p)
			break
		}
	}
}

// hping3 flag combinations: which get a SYN-ACK, per personality.
func TestHping3Flags(t *testing.T) {
	Require(t, "hping3")
	combos := []struct {
		args              []string
		linux, masscanned bool // a SYN-ACK is expected
	}{
		{[]string{"-S"}, true, true},
		{[]string{"-S", "-A"}, false, false},
		{[]string{"-S", "-F"}, false, false},
		{[]string{"-S", "-R"}, false, false},
		{[]string{"-F"}, false, false},
		{[]string{"-A"}, false, false},
		{[]string{"-R"}, false, false},
		{[]string{"-P"}, false, false},
		{[]string{"-S", "-U"}, true, true},
		{[]string{"-S", "-P"}, true, true},
		{[]string{"-S", "-X"}, true, true},        // ECE
		{[]string{"-S", "-Y"}, true, true},        // CWR
		{[]string{"-S", "-X", "-Y"}, true, false}, // ECN setup: upstream ignores it
		{[]string{"-F", "-P", "-U"}, false, false},
		{[]string{"-S", "-P", "-U", "-X"}, true, true},
	}
	for _, pers := range []string{"linux", "masscanned"} {
		t.Run(pers, func(t *testing.T) {
			l := NewLab(t, LabOptions{NoClientIPv6: true})
			l.DropClientTCP()
			l.Start("--personality", pers)
			for i, c := range combos {
				port := 2000 + i
				args := append([]string{"-c", "2", "-i", "u100000", "-p", strconv.Itoa(port)}, c.args...)
				args = append(args, RespIP4)
				out, _ := l.InClient(10*time.Second, "hping3", args...)
				want := c.linux
				if pers == "masscanned" {
					want = c.masscanned
				}
				// hping3 prints flags=SA for a SYN-ACK, and ECE as "E".
				got := strings.Contains(out, "flags=SA") || strings.Contains(out, "flags=SAE")
				if got != want {
					t.Errorf("hping3 %v: SYN-ACK %v, want %v\n%s", c.args, got, want, out)
				}
			}
			evs := stop(t, l)
			for i, c := range combos {
				port := float64(2000 + i)
				want := c.linux
				if pers == "masscanned" {
					want = c.masscanned
				}
				// the frames' events (not the timers': SYN-ACK retransmissions)
				es := find(evs, func(e Event) bool {
					return e.Str("kind") == "" && e.Str("ip_src") == ClientIP4 && e.Num("port_dst") == port
				})
				if len(es) != 2 {
					t.Errorf("hping3 %v: %d events, want 2", c.args, len(es))
					continue
				}
				for _, e := range es {
					if want && (e.Str("verdict") != "send" || e.Str("reply") != "syn-ack") {
						t.Errorf("hping3 %v: event %v, want a syn-ack", c.args, e)
					}
					if !want && e.Str("verdict") == "send" {
						t.Errorf("hping3 %v: event %v, want no reply", c.args, e)
					}
				}
			}
		})
	}
}

func TestDenyList(t *testing.T) {
	Require(t, "ping", "arping", "nc")
	l := NewLab(t, LabOptions{})
	l.Start("--remote-ip-deny-list", ClientIP4+","+ClientIP6)
	if out, err := l.InClient(10*time.Second, "arping", "-i", l.ClientIf, "-c", "2", "-w", "1", RespIP4); err == nil || strings.Contains(strings.ToLower(out), RespMAC) {
		t.Errorf("arping from a denied client got a reply:\n%s", out)
	}
	// Static neighbours, so that IP traffic reaches masscanned without ARP/ND.
	l.must("ip", "-n", l.Client, "neigh", "replace", RespIP4, "lladdr", RespMAC, "dev", l.ClientIf)
	l.must("ip", "-n", l.Client, "neigh", "replace", RespIP6, "lladdr", RespMAC, "dev", l.ClientIf)
	if out, err := l.InClient(10*time.Second, "ping", "-c", "2", "-i", "0.2", "-W", "1", RespIP4); err == nil {
		t.Errorf("ping from a denied client got a reply:\n%s", out)
	}
	if out, err := l.InClient(10*time.Second, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", RespIP6); err == nil {
		t.Errorf("ping -6 from a denied client got a reply:\n%s", out)
	}
	if out, err := l.InClient(10*time.Second, "nc", "-z", "-w", "1", RespIP4, "80"); err == nil {
		t.Errorf("nc from a denied client connected:\n%s", out)
	}
	evs := stop(t, l)
	if s := find(evs, func(e Event) bool { return e.Str("verdict") == "send" }); len(s) != 0 {
		t.Errorf("replies sent to a denied client: %v", s)
	}
	for _, layer := range []string{"arp", "ipv4", "ipv6"} {
		d := find(evs, func(e Event) bool {
			return e.Str("verdict") == "drop" && e.Str("reason") == "deny-list" && e.Str("layer") == layer
		})
		if len(d) == 0 {
			t.Errorf("no deny-list drop at layer %s", layer)
		}
	}
	for _, e := range find(evs, func(e Event) bool {
		return e.Str("ip_src") == ClientIP4 && (e.Str("proto") == "tcp" || e.Str("proto") == "icmp")
	}) {
		if e.Str("reason") != "deny-list" {
			t.Errorf("event from the denied client with reason %q: %v", e.Str("reason"), e)
		}
	}
}

// Startup errors: one clear line on stderr, non-zero exit, no stack trace.
func TestStartupErrors(t *testing.T) {
	Require(t)
	l := NewLab(t, LabOptions{})
	bin := Binary(t)
	// an interface that exists but is down
	l.must("ip", "-n", l.Resp, "link", "add", "mcdown0", "type", "veth", "peer", "name", "mcdown1")
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "self-ips")
	if err := os.Mkdir(unreadable, 0o755); err != nil { // a directory cannot be read as a file
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad-ips")
	if err := os.WriteFile(bad, []byte("198.51.100.2\nnot-an-address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // a word the message must contain
	}{
		{"self-ip-file missing", []string{"-i", l.RespIf, "--self-ip-file", filepath.Join(dir, "nope")}, "nope"},
		{"self-ip-file unreadable", []string{"-i", l.RespIf, "--self-ip-file", unreadable}, "self-ips"},
		{"self-ip-file malformed", []string{"-i", l.RespIf, "--self-ip-file", bad}, "not-an-address"},
		{"missing interface", []string{"-i", "mcnone0", "--self-ip-list", RespIP4}, "mcnone0"},
		{"interface down", []string{"-i", "mcdown0", "--self-ip-list", RespIP4}, "mcdown0"},
		{"bad flag", []string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Resp, bin}, c.args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("did not exit: %s", stderr.String())
			}
			if err == nil {
				t.Fatalf("exit 0, want non-zero; stderr %q", stderr.String())
			}
			msg := strings.TrimRight(stderr.String(), "\n")
			if strings.Count(msg, "\n") != 0 || msg == "" {
				t.Errorf("stderr is not one line: %q", msg)
			}
			if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
				t.Errorf("stack trace on stderr: %q", msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("stderr %q does not mention %q", msg, c.want)
			}
		})
	}
}
