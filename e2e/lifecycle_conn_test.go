package e2e

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/link/pcapfile"
)

// Connection lifecycle and closed ports end to end: connection-end events
// (fin/close, rst, idle, evicted), closed ports of a profiled host seen by
// nmap, ICMP errors and their rate limit, and the SYN-ACK retransmission
// schedule against a real kernel's.

// lifeProbe runs e2e/scripts/lifecycle_probe.py in the client namespace and
// decodes its JSON output into v.
func lifeProbe(t *testing.T, l *Lab, timeout time.Duration, v any, args ...string) {
	t.Helper()
	out, err := l.InClient(timeout, python(t), append([]string{script(t, "lifecycle_probe.py")}, args...)...)
	if err != nil {
		t.Fatalf("lifecycle_probe.py %v: %v\n%s", args, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("lifecycle_probe.py %v output: %v\n%s", args, err, out)
	}
}

// connEnd is the "conn" object of a connection-end event (nil otherwise).
func connEnd(e Event) map[string]any { c, _ := e["conn"].(map[string]any); return c }

// endsOf returns the connection-end events of the client port sport to
// server port dport.
func endsOf(evs []Event, sport, dport int) []Event {
	return find(evs, func(e Event) bool {
		return connEnd(e) != nil && int(e.Num("port_src")) == sport && int(e.Num("port_dst")) == dport
	})
}

// oneEnd checks that the connection sport -> dport has exactly one end
// event, with an end in ends, and returns its conn object.
func oneEnd(t *testing.T, evs []Event, sport, dport int, ends ...string) map[string]any {
	t.Helper()
	got := endsOf(evs, sport, dport)
	if len(got) != 1 {
		t.Fatalf("connection %d -> %d: %d end events, want 1: %s\nall conn events: %s", sport, dport, len(got), js(got),
			js(find(evs, func(e Event) bool { return connEnd(e) != nil })))
	}
	c := connEnd(got[0])
	for _, e := range ends {
		if c["end"] == e {
			return c
		}
	}
	t.Fatalf("connection %d -> %d: end %v, want one of %v: %s", sport, dport, c["end"], ends, js(got[0]))
	return nil
}

func num(v any) float64 { f, _ := v.(float64); return f }

func TestConnEndEvents(t *testing.T) {
	Require(t, "curl")
	start := func(t *testing.T) *Lab {
		l := NewLab(t, LabOptions{NoClientIPv6: true})
		l.Start("--idle-timeout", "2s", "--max-conns", "64")
		return l
	}
	t.Run("fin", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		out, err := l.InClient(15*time.Second, "curl", "-s", "-o", "/dev/null", "--max-time", "5",
			"-w", "%{local_port} %{http_code}", "http://"+RespIP4+"/")
		f := strings.Fields(out)
		if err != nil || len(f) != 2 || f[1] == "000" {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		port, _ := strconv.Atoi(f[0])
		evs := stop(t, l)
		c := oneEnd(t, evs, port, 80, "fin", "close")
		t.Logf("curl (HTTP %s) from port %d: %s", f[1], port, js(c))
		if c["proto"] != "http" || num(c["bytes_in"]) <= 0 || num(c["bytes_out"]) <= 0 {
			t.Errorf("conn %s: want proto http, bytes_in > 0, bytes_out > 0", js(c))
		}
	})
	t.Run("rst", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		var r struct{ Port int }
		lifeProbe(t, l, 15*time.Second, &r, "rst", RespIP4, "80")
		evs := stop(t, l)
		c := oneEnd(t, evs, r.Port, 80, "rst")
		t.Logf("reset from port %d: %s", r.Port, js(c))
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		// 8081: no well-known service that speaks first, so no greeting
		var r struct {
			Port    int
			EOF     bool
			Data    string
			After   float64
			Timeout bool
		}
		lifeProbe(t, l, 20*time.Second, &r, "idle", RespIP4, "8081", "6")
		if !r.EOF {
			t.Errorf("silent client: no FIN from masscanned within 6 s (data %q, timeout %v, after %.2f s)", r.Data, r.Timeout, r.After)
		}
		if r.After < 1.8 || r.After > 3.5 {
			t.Errorf("FIN after %.2f s, want about the 2 s idle timeout", r.After)
		}
		evs := stop(t, l)
		c := oneEnd(t, evs, r.Port, 8081, "idle")
		t.Logf("silent client on port %d: FIN after %.2f s; %s", r.Port, r.After, js(c))
		if d := num(c["duration"]); d < 1.8 || d > 3.5 {
			t.Errorf("idle connection duration %.3f s, want about 2 s", d)
		}
	})
	t.Run("evicted", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		// The table is sharded 64 ways: --max-conns 64 is one connection
		// per shard, so 200 concurrent connections evict most.
		var r struct {
			Opened, Errors int
			Ports          []int
		}
		lifeProbe(t, l, 60*time.Second, &r, "hold", RespIP4, "80", "200", "1")
		if r.Opened != 200 {
			t.Errorf("opened %d of 200 connections (%d errors)", r.Opened, r.Errors)
		}
		evs := stop(t, l)
		count := map[string]int{}
		var multi []string
		for _, p := range r.Ports {
			ends := endsOf(evs, p, 80)
			for _, e := range ends {
				count[fmt.Sprint(connEnd(e)["end"])]++
			}
			if len(ends) != 1 {
				multi = append(multi, fmt.Sprintf("port %d: %d ends %s", p, len(ends), js(ends)))
			}
		}
		t.Logf("200 concurrent connections, --max-conns 64: ends %v", count)
		if count["evicted"] == 0 {
			t.Errorf("no evicted end among %v", count)
		}
		if len(multi) > 0 {
			t.Errorf("connections without exactly one end event:\n%s", strings.Join(multi, "\n"))
		}
	})
}

// hostProfile: ssh, http and https open; DNS on UDP.
const hostProfile = `[[host]]
addresses   = ["198.51.100.2", "2001:db8:100::2"]
personality = "linux"
tcp         = [22, 80, 443]
udp         = [53]
`

// nmapStates parses nmap's port table: "22/tcp open ssh" -> "22/tcp": "open".
func nmapStates(out string) map[string]string {
	m := map[string]string{}
	re := regexp.MustCompile(`(?m)^(\d+/(?:tcp|udp))\s+(\S+)`)
	for _, g := range re.FindAllStringSubmatch(out, -1) {
		m[g[1]] = g[2]
	}
	return m
}

func TestClosedPortsUnreachable(t *testing.T) {
	Require(t, "nmap", "ip")
	start := func(t *testing.T) *Lab {
		l := NewLab(t, LabOptions{})
		l.SilenceRespKernel()
		path := filepath.Join(l.Dir, "profile.toml")
		writeFile(t, path, hostProfile)
		l.Start("--profile", path)
		return l
	}
	t.Run("nmap-tcp", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		want := map[string]string{"22/tcp": "open", "80/tcp": "open", "443/tcp": "open", "8080/tcp": "closed", "3389/tcp": "closed"}
		for _, v := range []struct{ flag, ip string }{{"-4", RespIP4}, {"-6", RespIP6}} {
			out, err := l.InClient(60*time.Second, "nmap", v.flag, "-sS", "-Pn", "-n", "-p", "22,80,443,8080,3389", v.ip)
			if err != nil {
				t.Fatalf("nmap %s: %v\n%s", v.flag, err, out)
			}
			got := nmapStates(out)
			for p, s := range want {
				if got[p] != s {
					t.Errorf("nmap %s %s: %s is %q, want %q\n%s", v.flag, v.ip, p, got[p], s, out)
				}
			}
			t.Logf("nmap %s -sS: %v", v.flag, got)
		}
		evs := stop(t, l)
		rsts := find(evs, func(e Event) bool { return e.Str("reply") == "rst-ack" && e.Str("reason") == "closed-port" })
		if len(rsts) < 4 {
			t.Errorf("%d rst-ack events for closed ports, want >= 4 (8080 and 3389, IPv4 and IPv6)", len(rsts))
		}
	})
	t.Run("nmap-udp", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		out, err := l.InClient(60*time.Second, "nmap", "-sU", "-Pn", "-n", "-p", "53,161", RespIP4)
		if err != nil {
			t.Fatalf("nmap -sU: %v\n%s", err, out)
		}
		got := nmapStates(out)
		t.Logf("nmap -sU: %v", got)
		if got["161/udp"] != "closed" {
			t.Errorf("161/udp is %q, want closed\n%s", got["161/udp"], out)
		}
		if got["53/udp"] == "closed" {
			t.Errorf("53/udp (open in the profile) is closed\n%s", out)
		}
		evs := stop(t, l)
		if len(find(evs, func(e Event) bool { return e.Str("reply") == "port-unreachable" && e.Num("port_dst") == 161 })) == 0 {
			t.Errorf("no port-unreachable event for 161")
		}
	})
	t.Run("udp-burst", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		// a static neighbour: the burst is not queued behind ARP
		l.must("ip", "-n", l.Client, "neigh", "replace", RespIP4, "lladdr", RespMAC, "dev", l.ClientIf)
		const n, port = 200, 9999
		type burst struct {
			Sent     int
			Start    float64
			SendTime float64 `json:"send_time"`
			ICMP     int
			Times    []float64
		}
		// A burst, then (after its 3 s of listening) a second one: the
		// first gets Linux's per-peer burst of 6, the second the credit
		// earned since, 1 per second.
		var r, r2 burst
		lifeProbe(t, l, 30*time.Second, &r, "udpburst", RespIP4, strconv.Itoa(port), strconv.Itoa(n), "3")
		lifeProbe(t, l, 30*time.Second, &r2, "udpburst", RespIP4, strconv.Itoa(port), strconv.Itoa(n), "2")
		evs := stop(t, l)
		sent := find(evs, func(e Event) bool { return e.Str("reply") == "port-unreachable" && e.Num("port_dst") == port })
		limited := find(evs, func(e Event) bool {
			return e.Str("suppressed") == "port-unreachable" && e.Str("reason") == "rate-limited" && e.Num("port_dst") == port
		})
		gap := r2.Start - r.Start - r.SendTime
		t.Logf("burst 1: %d datagrams in %.3f s: client received %d ICMP port unreachable (at %v s)", r.Sent, r.SendTime, r.ICMP, r.Times)
		t.Logf("burst 2, %.3f s later: %d datagrams in %.3f s: client received %d (at %v s)", gap, r2.Sent, r2.SendTime, r2.ICMP, r2.Times)
		t.Logf("events: %d port-unreachable, %d suppressed rate-limited", len(sent), len(limited))
		hi := 6 + int(math.Ceil(r.SendTime)) + 1
		if r.Sent != n || r2.Sent != n {
			t.Errorf("sent %d and %d of %d datagrams", r.Sent, r2.Sent, n)
		}
		if r.ICMP < 6 || r.ICMP > hi {
			t.Errorf("first burst: client received %d ICMP errors, want 6..%d (burst 6, then 1/s)", r.ICMP, hi)
		}
		lo2, hi2 := int(math.Floor(gap))-1, min(6, int(math.Ceil(gap+r2.SendTime))+1)
		if r2.ICMP < lo2 || r2.ICMP > hi2 {
			t.Errorf("second burst %.3f s later: client received %d ICMP errors, want %d..%d (1/s since the first)", gap, r2.ICMP, lo2, hi2)
		}
		if len(sent) != r.ICMP+r2.ICMP {
			t.Errorf("%d port-unreachable events, the client received %d", len(sent), r.ICMP+r2.ICMP)
		}
		if len(sent)+len(limited) != 2*n {
			t.Errorf("port-unreachable %d + rate-limited %d events != %d datagrams", len(sent), len(limited), 2*n)
		}
	})
	t.Run("protocol", func(t *testing.T) {
		t.Parallel()
		l := start(t)
		type reply struct {
			Type, Code  int
			Rest, Quote string
		}
		var r map[string]struct {
			Sent    string
			Replies []reply
		}
		lifeProbe(t, l, 30*time.Second, &r, "proto", l.ClientIf, RespMAC)
		t.Logf("replies: %s", js(r))
		check := func(v string, typ, code int, rest string) {
			got := r[v].Replies
			if len(got) != 1 {
				t.Errorf("%s protocol 132: %d ICMP errors, want 1: %s", v, len(got), js(got))
				return
			}
			g := got[0]
			if g.Type != typ || g.Code != code || g.Rest != rest || g.Quote != r[v].Sent {
				t.Errorf("%s protocol 132: type %d code %d rest %s quote %s; want type %d code %d rest %s quote %s",
					v, g.Type, g.Code, g.Rest, g.Quote, typ, code, rest, r[v].Sent)
			}
		}
		check("v4", 3, 2, "00000000") // protocol unreachable
		check("v6", 4, 1, "00000006") // parameter problem, next header at offset 6
		evs := stop(t, l)
		if pu := find(evs, func(e Event) bool { return e.Str("reply") == "protocol-unreachable" }); len(pu) != 2 {
			t.Errorf("%d protocol-unreachable events, want 2: %s", len(pu), js(pu))
		}
	})
}

// synAck is one SYN-ACK seen by the client.
type synAck struct {
	At     time.Time
	Seq    uint32
	Window uint16
	TTL    uint8
	DF     bool
	Opts   []string // kinds in order, with MSS and window scale values
}

// captureSYNACKs reads a pcap of Ethernet frames and returns the SYN-ACKs
// to client port dport.
func captureSYNACKs(path string, dport uint16) ([]synAck, error) {
	r, err := pcapfile.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []synAck
	for {
		f, ts, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if len(f) < 14 {
			continue
		}
		var s synAck
		var tcp []byte
		switch binary.BigEndian.Uint16(f[12:]) {
		case 0x0800:
			ip := f[14:]
			if len(ip) < 20 || ip[9] != 6 {
				continue
			}
			s.TTL, s.DF = ip[8], ip[6]&0x40 != 0
			tcp = ip[int(ip[0]&15)*4:]
		case 0x86dd:
			ip := f[14:]
			if len(ip) < 40 || ip[6] != 6 {
				continue
			}
			s.TTL = ip[7]
			tcp = ip[40:]
		default:
			continue
		}
		if len(tcp) < 20 || binary.BigEndian.Uint16(tcp[2:]) != dport || tcp[13]&0x12 != 0x12 {
			continue
		}
		s.At, s.Seq, s.Window = ts, binary.BigEndian.Uint32(tcp[4:]), binary.BigEndian.Uint16(tcp[14:])
		o := tcp[20:min(len(tcp), int(tcp[12]>>4)*4)]
		for len(o) > 0 {
			switch k := o[0]; {
			case k == 0:
				s.Opts = append(s.Opts, "eol")
				o = nil
			case k == 1:
				s.Opts = append(s.Opts, "nop")
				o = o[1:]
			case len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o):
				s.Opts = append(s.Opts, "bad")
				o = nil
			default:
				v := o[2:o[1]]
				switch {
				case k == 2 && len(v) == 2:
					s.Opts = append(s.Opts, fmt.Sprintf("mss=%d", binary.BigEndian.Uint16(v)))
				case k == 3 && len(v) == 1:
					s.Opts = append(s.Opts, fmt.Sprintf("ws=%d", v[0]))
				case k == 4:
					s.Opts = append(s.Opts, "sok")
				case k == 8:
					s.Opts = append(s.Opts, "ts")
				default:
					s.Opts = append(s.Opts, fmt.Sprintf("opt%d", k))
				}
				o = o[o[1]:]
			}
		}
		out = append(out, s)
	}
}

// synAckSchedule sends one Linux-like SYN to port 80 of l (dstMAC), never
// acknowledges it, captures the SYN-ACKs in the client namespace for
// capture, and returns them.
func synAckSchedule(t *testing.T, l *Lab, dstMAC string, capture time.Duration) []synAck {
	t.Helper()
	const sport = 45123
	pcap := filepath.Join(l.Dir, "synack.pcap")
	errPath := filepath.Join(l.Dir, "tcpdump.stderr")
	errFile, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	td := exec.Command("ip", "netns", "exec", l.Client, "tcpdump", "-i", l.ClientIf, "-U", "-n", "-w", pcap,
		"tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)")
	td.Stderr = errFile
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stopDump := func() {
		if stopped {
			return
		}
		stopped = true
		_ = td.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = td.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = td.Process.Kill()
			<-done
		}
	}
	defer stopDump()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(errPath); strings.Contains(string(b), "listening on") {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(errPath)
			t.Fatalf("tcpdump did not start:\n%s", b)
		}
	}
	syn := fmt.Sprintf(`from scapy.all import *
conf.verb = 0
i = %q
sendp(Ether(src=get_if_hwaddr(i), dst=%q) / IP(src=%q, dst=%q, flags="DF", ttl=64) /
      TCP(sport=%d, dport=80, flags="S", seq=3000000000, window=64240,
          options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (987654, 0)), ("NOP", None), ("WScale", 7)]), iface=i)
`, l.ClientIf, dstMAC, ClientIP4, RespIP4, sport)
	if out, err := l.InClient(30*time.Second, python(t), "-c", syn); err != nil {
		t.Fatalf("scapy SYN: %v\n%s", err, out)
	}
	// the window counts from the SYN, which scapy sends just before it
	// exits (importing scapy takes seconds on a loaded machine)
	time.Sleep(capture)
	stopDump()
	sa, err := captureSYNACKs(pcap, sport)
	if err != nil {
		t.Fatalf("reading %s: %v", pcap, err)
	}
	return sa
}

func delays(sa []synAck) []float64 {
	var d []float64
	for i := 1; i < len(sa); i++ {
		d = append(d, math.Round(sa[i].At.Sub(sa[i-1].At).Seconds()*1000)/1000)
	}
	return d
}

// TestSYNACKRetransmission: one SYN, never acknowledged, to the kernel
// (listening on port 80) and to masscanned --personality linux, in
// parallel: the same number of SYN-ACKs (Linux: the first and 5
// retransmissions after 1, 2, 4, 8 and 16 s), each delay within 20 % of
// the kernel's, all with the same sequence number, and the first SYN-ACK's
// JA4TS fields (window, options and their order, MSS, window scale) the
// kernel's.
func TestSYNACKRetransmission(t *testing.T) {
	Require(t, "nft", "ss", "tcpdump")
	const capture = 34 * time.Second // the last SYN-ACK is due at 31 s
	var mu sync.Mutex
	got := map[string][]synAck{}
	t.Run("capture", func(t *testing.T) {
		t.Run("kernel", func(t *testing.T) {
			t.Parallel()
			k := kernelLab(t)
			sa := synAckSchedule(t, k, k.RespIfMAC, capture)
			mu.Lock()
			got["kernel"] = sa
			mu.Unlock()
		})
		t.Run("masscanned", func(t *testing.T) {
			t.Parallel()
			m := masscannedLab(t, "linux")
			sa := synAckSchedule(t, m, RespMAC, capture)
			evs := stop(t, m)
			re := find(evs, func(e Event) bool { return e.Str("reason") == "retransmit" && e.Str("reply") == "syn-ack" })
			if len(sa) > 0 && len(re) != len(sa)-1 {
				t.Errorf("%d retransmit syn-ack events, %d SYN-ACKs captured", len(re), len(sa))
			}
			mu.Lock()
			got["masscanned"] = sa
			mu.Unlock()
		})
	})
	k, m := got["kernel"], got["masscanned"]
	kd, md := delays(k), delays(m)
	t.Logf("kernel:     %d SYN-ACKs, delays %v s", len(k), kd)
	t.Logf("masscanned: %d SYN-ACKs, delays %v s", len(m), md)
	if len(k) == 0 || len(m) == 0 {
		t.Fatalf("no SYN-ACK captured: kernel %d, masscanned %d", len(k), len(m))
	}
	if len(k) != 6 {
		t.Errorf("the kernel sent %d SYN-ACKs, expected 6 (tcp_synack_retries 5)", len(k))
	}
	if len(m) != len(k) {
		t.Errorf("masscanned sent %d SYN-ACKs, the kernel %d", len(m), len(k))
	}
	for i := range min(len(kd), len(md)) {
		if math.Abs(md[i]-kd[i]) > 0.2*kd[i] {
			t.Errorf("delay %d: masscanned %.3f s, kernel %.3f s (more than 20 %% apart)", i+1, md[i], kd[i])
		}
	}
	for name, sa := range got {
		for i, s := range sa {
			if s.Seq != sa[0].Seq {
				t.Errorf("%s: SYN-ACK %d has seq %d, the first %d", name, i, s.Seq, sa[0].Seq)
			}
		}
	}
	kf, mf := k[0], m[0]
	t.Logf("first SYN-ACK: kernel win %d ttl %d df %v opts %v; masscanned win %d ttl %d df %v opts %v",
		kf.Window, kf.TTL, kf.DF, kf.Opts, mf.Window, mf.TTL, mf.DF, mf.Opts)
	if kf.Window != mf.Window || kf.TTL != mf.TTL || kf.DF != mf.DF || strings.Join(kf.Opts, ",") != strings.Join(mf.Opts, ",") {
		t.Errorf("first SYN-ACK differs: kernel win %d ttl %d df %v opts %v; masscanned win %d ttl %d df %v opts %v",
			kf.Window, kf.TTL, kf.DF, kf.Opts, mf.Window, mf.TTL, mf.DF, mf.Opts)
	}
	for i := 1; i < len(m); i++ {
		if strings.Join(m[i].Opts, ",") != strings.Join(mf.Opts, ",") || m[i].Window != mf.Window {
			t.Errorf("masscanned retransmission %d differs from the first SYN-ACK: win %d opts %v", i, m[i].Window, m[i].Opts)
		}
	}
}
