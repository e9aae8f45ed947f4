package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"
)

// The linux personality against the real kernel: the same probes (a Linux
// client's SYN over IPv4 and IPv6, a SYN without options, an ECN-setup SYN,
// ICMP and ICMPv6 echo, NS to the solicited-node address and unicast, an
// ARP request) go once to the kernel of a namespace that owns the
// addresses and listens on port 80, and once to masscanned --personality
// linux, and so does a first data segment after a handshake (the window,
// DF, ID policy and options of the segment that acknowledges it).
// e2e/scripts/diff_probe.py reduces each reply to its fields, with
// the fields random in Linux replaced by their policy; everything else must
// be equal.

// kernelLab is a lab whose responder kernel owns the addresses and listens
// on TCP port 80 (IPv4 and IPv6).
func kernelLab(t *testing.T) *Lab {
	t.Helper()
	py := python(t)
	l := NewLab(t, LabOptions{Kernel: true})
	l.DropClientTCP()
	// The reference is Linux's long-standing default receive buffer limit
	// (6 MiB, window scale 7). Linux 6.16 raised tcp_rmem[2] to 32 MiB,
	// which makes the window scale 10; pin the value so that the reference
	// does not depend on the kernel the tests run on.
	l.must("ip", "netns", "exec", l.Resp, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 131072 6291456")
	listener := `import socket,time
s=socket.socket(socket.AF_INET6,socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)
s.bind(("::",80));s.listen(4096)
time.sleep(600)`
	cmd := exec.Command("ip", "netns", "exec", l.Resp, py, "-c", listener)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		out, _ := l.InResp(5*time.Second, "ss", "-Hltn", "sport = :80")
		if len(out) > 0 {
			break
		}
		if i > 50 {
			t.Fatal("listener did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return l
}

func masscannedLab(t *testing.T, personality string) *Lab {
	t.Helper()
	l := NewLab(t, LabOptions{})
	l.DropClientTCP()
	l.SilenceRespKernel()
	l.Start("--personality", personality)
	return l
}

func runProbe(t *testing.T, l *Lab, dstMAC, mode string, v any) {
	t.Helper()
	out, err := l.InClient(120*time.Second, python(t), script(t, "diff_probe.py"), l.ClientIf, dstMAC, mode)
	if err != nil {
		t.Fatalf("diff_probe.py %s: %v\n%s", mode, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("diff_probe.py output: %v\n%s", err, out)
	}
}

func TestKernelDiff(t *testing.T) {
	Require(t, "nft", "ss")
	var kern, mc map[string][]any
	k := kernelLab(t)
	runProbe(t, k, k.RespIfMAC, "probes", &kern)
	m := masscannedLab(t, "linux")
	runProbe(t, m, RespMAC, "probes", &mc)
	if err := m.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, m.Stderr())
	}
	names := make([]string, 0, len(kern))
	for n := range kern {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		kr, mr := kern[n], mc[n]
		if len(kr) == 0 {
			t.Errorf("%s: the kernel did not answer", n)
			continue
		}
		if len(kr) != len(mr) {
			t.Errorf("%s: kernel %d replies, masscanned %d:\nkernel     %v\nmasscanned %v", n, len(kr), len(mr), kr, mr)
			continue
		}
		for i := range kr {
			kd, _ := kr[i].(map[string]any)
			md, _ := mr[i].(map[string]any)
			if kd == nil || md == nil {
				if !reflect.DeepEqual(kr[i], mr[i]) {
					t.Errorf("%s[%d]: kernel %v, masscanned %v", n, i, kr[i], mr[i])
				}
				continue
			}
			for _, f := range diffKeys(kd, md) {
				// Without window scaling the kernel's ACK of the first data
				// shows the 12 bytes its (non-reading) listener has not
				// consumed yet; masscanned answers as a server that has.
				if n == "data4-plain" && f == "tcp_window" && kd[f] != nil && md[f] != nil &&
					kd[f].(float64)+float64(dataProbeLen) == md[f].(float64) {
					continue
				}
				t.Errorf("%s: field %s: kernel %v, masscanned %v", n, f, js(kd[f]), js(md[f]))
			}
		}
	}
	// Every probe got an answer from masscanned, and the events say so.
	evs := m.Events()
	for _, r := range []string{"arp-reply", "na", "syn-ack", "echo-reply"} {
		if len(find(evs, func(e Event) bool { return e.Str("verdict") == "send" && e.Str("reply") == r })) == 0 {
			t.Errorf("no %s event", r)
		}
	}
}

// dataProbeLen is the payload of diff_probe.py's data probes.
const dataProbeLen = 12

func diffKeys(a, b map[string]any) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

// All 256 TCP flag combinations to a listening port: the same set gets a
// SYN-ACK from the kernel and from masscanned --personality linux, with the
// same flags (ECE for an ECN-setup SYN). The kernel also resets some
// combinations (a bare ACK, ...), which masscanned never does by design;
// only SYN-ACKs are compared.
func TestKernelDiffTCPFlags(t *testing.T) {
	Require(t, "nft", "ss")
	var kern, mc map[string][]int
	k := kernelLab(t)
	runProbe(t, k, k.RespIfMAC, "flags", &kern)
	m := masscannedLab(t, "linux")
	runProbe(t, m, RespMAC, "flags", &mc)
	if err := m.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, m.Stderr())
	}
	synack := func(replies []int) (int, bool) {
		for _, f := range replies {
			if f&0x12 == 0x12 {
				return f, true
			}
		}
		return 0, false
	}
	opened := 0
	for f := range 256 {
		kf, kok := synack(kern[strconv.Itoa(f)])
		mf, mok := synack(mc[strconv.Itoa(f)])
		if kok {
			opened++
		}
		if kok != mok || kf != mf {
			t.Errorf("flags %#02x (%s): kernel SYN-ACK %v flags %s, masscanned %v flags %s", f, flagStr(f), kok, flagStr(kf), mok, flagStr(mf))
		}
		for _, r := range mc[strconv.Itoa(f)] {
			if r&0x04 != 0 {
				t.Errorf("flags %#02x: masscanned sent a RST", f)
			}
		}
	}
	if opened == 0 {
		t.Fatal("the kernel answered no SYN")
	}
	t.Logf("%d of 256 flag combinations get a SYN-ACK from both", opened)
}

func flagStr(f int) string {
	const letters = "FSRPAUEC"
	s := ""
	for i := range 8 {
		if f&(1<<i) != 0 {
			s += string(letters[i])
		}
	}
	if s == "" {
		return "-"
	}
	return fmt.Sprint(s)
}
