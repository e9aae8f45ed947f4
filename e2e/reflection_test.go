package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/link/pcapfile"

	"github.com/masscanned-go/masscanned/internal/wire"
)

// Victim is the spoofed source of the reflection test: an address that
// exists only in the lab's client namespace, which counts what arrives.
const Victim = "203.0.113.7"

// Budgets per IPv4 /32: the defaults (internal/ratelimit.DefaultConfig)
// but for SYN-ACKs, lowered with --rate-synack-host (burst twice the rate,
// as the default) so that the SYN flood exceeds it whatever rate this
// machine handles frames at (the default, 20,000/s, is above what a
// loaded 2-core VM answers while it also generates the flood), and still
// far above what the 1000-port scan needs.
const (
	udpBytesRate, udpBytesBurst = 64 << 10, 256 << 10
	synackRate, synackBurst     = 2000, 4000
	icmpRate, icmpBurst         = 1000, 2000
	budgetSlack                 = 1.10
)

// ipv4Frame builds an Ethernet + IPv4 frame around an L4 segment whose
// checksum field is at csumOff (-1: ICMP, checksum without pseudo-header).
func ipv4Frame(dst, src net.HardwareAddr, sip, dip string, proto byte, l4 []byte, csumOff int) []byte {
	s, d := netip.MustParseAddr(sip).As4(), netip.MustParseAddr(dip).As4()
	f := make([]byte, 14+20+len(l4))
	copy(f[0:], dst)
	copy(f[6:], src)
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], 0x1234)
	ip[6] = 0x40
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], wire.Fold(wire.Sum(0, ip)))
	seg := f[34:]
	copy(seg, l4)
	if csumOff < 0 {
		binary.BigEndian.PutUint16(seg[2:], wire.Fold(wire.Sum(0, seg)))
		return f
	}
	ph := wire.Sum(0, s[:])
	ph = wire.Sum(ph, d[:])
	ph += uint32(proto) + uint32(len(seg))
	c := wire.Fold(wire.Sum(ph, seg))
	if proto == 17 && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[csumOff:], c)
	return f
}

func udpSeg(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

func synSeg(sport, dport uint16, seq uint32) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12] = 5 << 4
	b[13] = 0x02
	binary.BigEndian.PutUint16(b[14:], 64240)
	return b
}

func echoSeg(id, seq uint16, n int) []byte {
	b := make([]byte, 8+n)
	b[0] = 8
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// udpProbe is one UDP protocol sent from the victim's address.
type udpProbe struct {
	name     string
	port     uint16
	payload  []byte
	mustDrop bool // must never be answered over UDP
}

func udpProbes(t *testing.T) []udpProbe {
	dns := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	dns = append(dns, 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1)
	stun := make([]byte, 20)
	binary.BigEndian.PutUint16(stun[0:], 0x0001)
	binary.BigEndian.PutUint32(stun[4:], 0x2112a442)
	copy(stun[8:], "reflect-test")
	be := func(v ...uint32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.BigEndian.PutUint32(b[4*i:], x)
		}
		return b
	}
	smb, err := os.ReadFile("../internal/app/smb/testdata/req01.bin") // NBT + SMB2 NEGOTIATE
	if err != nil {
		t.Fatal(err)
	}
	ghost := append([]byte("Gh0st"), 0x1d, 0, 0, 0, 0x20, 0, 0, 0, 0x78, 0x9c, 0x4b, 0x4c, 0x4a, 0x06, 0, 0x02, 0x4d, 0x01, 0x27, 0x01, 0x02, 0x03, 0x04, 0x05)
	return []udpProbe{
		{"dns", 53, dns, false},
		{"http", 8080, []byte("GET / HTTP/1.0\r\n\r\n"), false},
		{"http-long", 80, []byte("GET /index.html HTTP/1.1\r\nHost: 198.51.100.2\r\nUser-Agent: reflect-test/1.0 (lab)\r\nAccept: */*\r\n\r\n"), false},
		{"stun", 3478, stun, false},
		{"ssh", 22, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), false},
		{"ssh-short", 2222, []byte("SSH-2.0-x\r\n"), false},
		{"http09", 8081, []byte("GET /\r\n"), false},
		{"rpc-dump", 111, be(0x5eed0001, 0, 2, 100000, 2, 4, 0, 0, 0, 0), false},
		{"smb", 445, smb, true},
		{"ghost", 8000, ghost, true},
	}
}

// trafgenConf writes frames as a trafgen configuration (sent round-robin).
func trafgenConf(t *testing.T, path string, frames [][]byte) {
	var b strings.Builder
	for _, f := range frames {
		b.WriteString("{ ")
		for i, c := range f {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "0x%02x", c)
		}
		b.WriteString(" }\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// victimCounters reads the client-side ingress counters toward the victim.
func victimCounters(t *testing.T, l *Lab) map[string][2]uint64 {
	t.Helper()
	out, err := l.InClient(5*time.Second, "nft", "-j", "list", "table", "netdev", "mcrefl")
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("nft json: %v", err)
	}
	res := map[string][2]uint64{}
	for _, o := range doc.Nftables {
		raw, ok := o["rule"]
		if !ok {
			continue
		}
		var r struct {
			Comment string            `json:"comment"`
			Expr    []json.RawMessage `json:"expr"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		for _, e := range r.Expr {
			var c struct {
				Counter *struct{ Packets, Bytes uint64 } `json:"counter"`
			}
			if json.Unmarshal(e, &c) == nil && c.Counter != nil {
				res[r.Comment] = [2]uint64{c.Counter.Packets, c.Counter.Bytes}
			}
		}
	}
	return res
}

// flood sends n copies of frames (round-robin) at pps from the client
// veth with trafgen and returns how long it took.
func flood(t *testing.T, l *Lab, name string, frames [][]byte, n, pps int) time.Duration {
	t.Helper()
	cfg := filepath.Join(l.Dir, name+".cfg")
	trafgenConf(t, cfg, frames)
	start := time.Now()
	out, err := l.InClient(time.Duration(n/pps+30)*time.Second, "trafgen", "-i", cfg, "-o", l.ClientIf, "-P", "1",
		"-n", strconv.Itoa(n), "-b", fmt.Sprintf("%dpps", pps), "-C", "-Q")
	d := time.Since(start)
	if err != nil {
		t.Fatalf("trafgen: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // replies in flight
	return d
}

type phase struct {
	name                   string
	sentPkts, sentBytes    uint64 // frames (with Ethernet header)
	recvPkts, recvBytes    uint64 // at the victim's ingress (IP bytes)
	dur                    time.Duration
	budget                 float64 // allowed (packets or UDP payload bytes)
	measured               float64 // what counts against the budget
	budgetUnit, budgetName string
}

func (p phase) log(t *testing.T) {
	s := p.dur.Seconds()
	t.Logf("%-5s sent %7d pkts %9d B in %.2fs = %8.0f pps %10.0f B/s | victim got %7d pkts %9d B = %8.0f pps %10.0f B/s | ratio pkts %.4f bytes %.4f | %s %.0f %s <= budget %.0f",
		p.name, p.sentPkts, p.sentBytes, s, float64(p.sentPkts)/s, float64(p.sentBytes)/s,
		p.recvPkts, p.recvBytes, float64(p.recvPkts)/s, float64(p.recvBytes)/s,
		float64(p.recvPkts)/float64(p.sentPkts), float64(p.recvBytes)/float64(p.sentBytes),
		p.budgetName, p.measured, p.budgetUnit, p.budget)
	if p.measured > p.budget {
		t.Errorf("%s: %s %.0f %s exceeds the budget %.0f", p.name, p.budgetName, p.measured, p.budgetUnit, p.budget)
	}
}

// TestReflection floods masscanned (default budgets) with requests
// spoofed from a victim address inside the lab: every UDP protocol, SYNs
// and pings. What reaches the victim must stay within the documented
// per-/32 budgets, no UDP reply may exceed 3x its request, and an
// ordinary client and a 10 kpps vertical scan are still answered in full.
func TestReflection(t *testing.T) {
	Require(t, "trafgen", "tcpdump", "nft", "masscan", "dig")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.must("ip", "-n", l.Client, "addr", "add", Victim+"/32", "dev", l.ClientIf)
	l.DropClientTCP()
	// Count (and drop, so that the client kernel stays silent) everything
	// toward the victim at the client veth's ingress.
	rules := fmt.Sprintf(`table netdev mcrefl {
  chain in {
    type filter hook ingress device "%s" priority 0;
    ip daddr %s meta l4proto udp counter drop comment "udp"
    ip daddr %s meta l4proto tcp counter drop comment "tcp"
    ip daddr %s meta l4proto icmp counter drop comment "icmp"
    ip saddr %s ip daddr %s tcp flags & (syn|ack) == syn|ack counter comment "scan"
  }
}`, l.ClientIf, Victim, Victim, Victim, RespIP4, ClientIP4)
	rf := filepath.Join(l.Dir, "mcrefl.nft")
	if err := os.WriteFile(rf, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := l.InClient(5*time.Second, "nft", "-f", rf); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	// -v for the "stopped" line
	l.Start("-v", "--rate-synack-host", strconv.Itoa(synackRate))
	cmac, rmac := MAC(l.ClientMAC), MAC(RespMAC)
	// the responder must know the victim's MAC only from the frames
	// themselves: masscanned answers to the source MAC.

	// 1. An ordinary client is answered in full.
	var batch strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&batch, "@%s q%d.example A +tries=1 +time=2\n", RespIP4, i)
	}
	bf := filepath.Join(l.Dir, "dig.batch")
	if err := os.WriteFile(bf, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := l.InClient(60*time.Second, "dig", "-f", bf)
	if got := strings.Count(out, "status: NOERROR"); got != 100 {
		t.Errorf("ordinary client: %d of 100 DNS queries answered", got)
	} else {
		t.Logf("ordinary client: 100/100 DNS queries answered")
	}
	mdir := t.TempDir()
	scan := fmt.Sprintf("cd %s && masscan %s -p1-1000 --rate 10000 -e %s --adapter-ip %s --adapter-mac %s --router-mac %s --wait 3 2>&1",
		mdir, RespIP4, l.ClientIf, ClientIP4, l.ClientMAC, RespMAC)
	start := time.Now()
	s0 := victimCounters(t, l)["scan"][0]
	out, err := l.InClient(60*time.Second, "sh", "-c", scan)
	synacks := victimCounters(t, l)["scan"][0] - s0
	if err != nil {
		t.Errorf("masscan: %v\n%s", err, out)
	}
	ports := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Discovered open port ") {
			ports[strings.Fields(line)[3]] = true
		}
	}
	t.Logf("vertical scan (masscan --rate 10000, 1000 ports, %.1fs): %d SYN-ACKs on the wire, masscan reported %d open ports",
		time.Since(start).Seconds(), synacks, len(ports))
	// Count on the wire: masscan's own receiver misses some replies on
	// a veth (it reported 600-1000 while all 1000 SYN-ACKs arrived).
	if synacks < 1000 {
		t.Errorf("vertical scan: %d SYN-ACKs for 1000 ports", synacks)
	}

	// 2. UDP flood from the victim, all protocols round-robin; capture
	// every reply to check its size.
	probes := udpProbes(t)
	reqLen := map[uint16]int{}
	var frames [][]byte
	for i, p := range probes {
		reqLen[p.port] = len(p.payload)
		frames = append(frames, ipv4Frame(rmac, cmac, Victim, RespIP4, 17, udpSeg(uint16(40000+i), p.port, p.payload), 6))
	}
	capFile := filepath.Join(l.Dir, "victim-udp.pcap")
	td := exec.Command("ip", "netns", "exec", l.Client, "tcpdump", "-i", l.ClientIf, "-n", "-p", "-B", "32768", "-s", "256", "-w", capFile,
		"udp and dst host "+Victim)
	tdErr, _ := os.Create(filepath.Join(l.Dir, "tcpdump.stderr"))
	td.Stderr = tdErr
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, _ := os.ReadFile(tdErr.Name())
		if strings.Contains(string(b), "listening on") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var phases []phase
	sizeOf := func(fs [][]byte) uint64 {
		var s uint64
		for _, f := range fs {
			s += uint64(len(f))
		}
		return s
	}
	const udpN, udpPPS = 80000, 20000
	c0 := victimCounters(t, l)
	d := flood(t, l, "udp", frames, udpN, udpPPS)
	c1 := victimCounters(t, l)
	_ = td.Process.Signal(os.Interrupt)
	_ = td.Wait()
	tdErr.Close()
	// sizes of every reply
	var payloadBytes uint64
	captured := 0
	perProto := map[uint16]int{}
	r, err := pcapfile.OpenReader(capFile)
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(f) < 42 || f[23] != 17 {
			continue
		}
		ihl := int(f[14]&0xf) * 4
		u := f[14+ihl:]
		sport := binary.BigEndian.Uint16(u[0:])
		plen := int(binary.BigEndian.Uint16(u[4:])) - 8
		captured++
		payloadBytes += uint64(plen)
		perProto[sport]++
		req, ok := reqLen[sport]
		if !ok {
			t.Errorf("UDP reply from unexpected port %d (%d bytes)", sport, plen)
			continue
		}
		if plen > 3*req {
			t.Errorf("UDP reply from port %d: %d bytes for a %d-byte request (> 3x)", sport, plen, req)
		}
	}
	r.Close()
	for _, p := range probes {
		t.Logf("  udp %-9s request %3d B: %6d replies at the victim", p.name, len(p.payload), perProto[p.port])
		if p.mustDrop && perProto[p.port] > 0 {
			t.Errorf("%s over UDP was answered %d times", p.name, perProto[p.port])
		}
	}
	up := c1["udp"][0] - c0["udp"][0]
	if uint64(captured) != up {
		t.Logf("tcpdump captured %d of %d UDP replies counted by nft (sizes checked on the captured ones)", captured, up)
	}
	secs := d.Seconds() + 0.5
	phases = append(phases, phase{name: "udp", sentPkts: udpN, sentBytes: sizeOf(frames) * udpN / uint64(len(frames)), dur: d,
		recvPkts: up, recvBytes: c1["udp"][1] - c0["udp"][1],
		measured: float64(payloadBytes), budgetName: "UDP reply payload", budgetUnit: "B",
		budget: budgetSlack * (udpBytesRate*secs + udpBytesBurst)})
	if captured == 0 {
		t.Errorf("no UDP reply reached the victim at all (the budget should let some through)")
	}

	// 3. SYN flood from the victim.
	frames = nil
	for i := 0; i < 64; i++ {
		frames = append(frames, ipv4Frame(rmac, cmac, Victim, RespIP4, 6, synSeg(uint16(20000+i), uint16(80+i), uint32(i)*7919), 16))
	}
	const synN, synPPS = 150000, 50000
	c0 = victimCounters(t, l)
	d = flood(t, l, "syn", frames, synN, synPPS)
	c1 = victimCounters(t, l)
	secs = d.Seconds() + 0.5
	tp := c1["tcp"][0] - c0["tcp"][0]
	phases = append(phases, phase{name: "syn", sentPkts: synN, sentBytes: sizeOf(frames) * synN / uint64(len(frames)), dur: d,
		recvPkts: tp, recvBytes: c1["tcp"][1] - c0["tcp"][1],
		measured: float64(tp), budgetName: "SYN-ACKs", budgetUnit: "pkts",
		budget: budgetSlack * (synackRate*secs + synackBurst)})

	// 4. Ping flood from the victim.
	frames = [][]byte{ipv4Frame(rmac, cmac, Victim, RespIP4, 1, echoSeg(0x4242, 1, 56), -1)}
	const icmpN, icmpPPS = 30000, 10000
	c0 = victimCounters(t, l)
	d = flood(t, l, "icmp", frames, icmpN, icmpPPS)
	c1 = victimCounters(t, l)
	secs = d.Seconds() + 0.5
	ip := c1["icmp"][0] - c0["icmp"][0]
	phases = append(phases, phase{name: "icmp", sentPkts: icmpN, sentBytes: sizeOf(frames) * icmpN, dur: d,
		recvPkts: ip, recvBytes: c1["icmp"][1] - c0["icmp"][1],
		measured: float64(ip), budgetName: "echo replies", budgetUnit: "pkts",
		budget: budgetSlack * (icmpRate*secs + icmpBurst)})

	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	for _, p := range phases {
		p.log(t)
		if p.recvPkts == 0 {
			t.Errorf("%s: nothing reached the victim: the budget should let the first burst through", p.name)
		}
	}

	// 5. Suppressions are visible in events and at exit.
	st := logLine(l.Stderr(), "stopped")
	if st == nil {
		t.Fatalf("no stopped line:\n%s", l.Stderr())
	}
	t.Logf("stopped: frames=%s sent=%s kernel_drops=%s suppressed_synack=%s suppressed_icmp=%s suppressed_udp=%s events_written=%s events_dropped=%s",
		st["frames"], st["sent"], st["kernel_drops"], st["suppressed_synack"], st["suppressed_icmp"], st["suppressed_udp"], st["events_written"], st["events_dropped"])
	for _, k := range []string{"suppressed_synack", "suppressed_icmp", "suppressed_udp"} {
		if n, _ := strconv.Atoi(st[k]); n == 0 {
			t.Errorf("stopped line: %s=%q, want > 0", k, st[k])
		}
	}
	sup := suppressedEvents(t, l)
	t.Logf("suppressed events: %v", sup)
	for _, k := range []string{"syn-ack/rate-limited", "echo-reply/rate-limited", "udp-reply/rate-limited", "udp-reply/udp-ratio"} {
		if sup[k] == 0 {
			t.Errorf("no event with suppressed/reason %s", k)
		}
	}
}

// suppressedEvents counts events by "suppressed/reason", streaming the
// (large) event file.
func suppressedEvents(t *testing.T, l *Lab) map[string]int {
	f, err := os.Open(filepath.Join(l.Dir, "masscanned.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"suppressed"`) {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("bad event line %q: %v", line, err)
		}
		res[e.Str("suppressed")+"/"+e.Str("reason")]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}
