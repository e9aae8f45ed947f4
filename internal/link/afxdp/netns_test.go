//go:build linux

package afxdp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/link"
)

// A pair of namespaces joined by a veth with two queues on each side: the
// backend opens "vr" in nsR; a packet socket on "vg" in nsG plays the
// remote host.

const (
	ifR = "vr"
	ifG = "vg"
	ipG = "192.0.2.1"
	ipR = "192.0.2.2" // ours
	ipK = "192.0.2.3" // the responder kernel's
)

type testNet struct {
	nsR, nsG   string
	macR, macG net.HardwareAddr
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, XDP)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	n := &testNet{nsR: "mcxdp-r-" + id, nsG: "mcxdp-g-" + id}
	for _, ns := range []string{n.nsR, n.nsG} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		_ = exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").Run()
		_ = exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").Run()
	}
	sh(t, "ip", "-n", n.nsR, "link", "add", ifR, "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
		"peer", "name", ifG, "numrxqueues", "2", "numtxqueues", "2", "netns", n.nsG)
	sh(t, "ip", "-n", n.nsR, "link", "set", ifR, "up")
	sh(t, "ip", "-n", n.nsG, "link", "set", ifG, "up")
	sh(t, "ip", "-n", n.nsG, "addr", "add", ipG+"/24", "dev", ifG)
	sh(t, "ip", "-n", n.nsR, "addr", "add", ipK+"/24", "dev", ifR)
	n.macR = mac(t, n.nsR, ifR)
	n.macG = mac(t, n.nsG, ifG)
	sh(t, "ip", "-n", n.nsG, "neigh", "add", ipR, "lladdr", n.macR.String(), "dev", ifG, "nud", "permanent")
	return n
}

func mac(t *testing.T, ns, ifname string) net.HardwareAddr {
	t.Helper()
	f := strings.Fields(sh(t, "ip", "-n", ns, "-br", "link", "show", ifname))
	if len(f) < 3 {
		t.Fatalf("no MAC for %s", ifname)
	}
	m, err := net.ParseMAC(f[2])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// inNS runs fn on an OS thread switched into namespace ns.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		func() {
			defer func() {
				if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
					runtime.UnlockOSThread()
				}
			}()
			fn()
		}()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("netns %s: %v", ns, err)
	}
}

func (n *testNet) open(t *testing.T, opts Options) *XDP {
	t.Helper()
	var x *XDP
	var err error
	inNS(t, n.nsR, func() { x, err = Open(ifR, opts) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

type peer struct{ fd int }

func (n *testNet) peer(t *testing.T) *peer {
	t.Helper()
	var fd int
	var err error
	inNS(t, n.nsG, func() {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(ifG); err != nil {
			return
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
			return
		}
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return &peer{fd}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (p *peer) send(t *testing.T, frame []byte) {
	t.Helper()
	if _, err := unix.Write(p.fd, frame); err != nil {
		t.Fatal(err)
	}
}

func (p *peer) recvMatch(t *testing.T, marker []byte) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(p.fd, buf, 0)
		if err != nil {
			t.Fatalf("peer receive: %v", err)
		}
		if bytes.Contains(buf[:n], marker) {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

// udpFrame is an IPv4/UDP frame from the peer to dip carrying payload.
func udpFrame(dst, src net.HardwareAddr, sip, dip string, payload []byte) []byte {
	s, d := net.ParseIP(sip).To4(), net.ParseIP(dip).To4()
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	ip = append(append(ip, s...), d...)
	b := append(append(append([]byte{}, dst...), src...), 0x08, 0x00)
	return append(append(b, ip...), udp...)
}

// recv1 receives one frame (the rest of the link's batch stays for the
// next call).
func recv1(l *Link, f *link.Frame, d time.Duration) error {
	fs := [1]link.Frame{}
	_, err := l.Recv(fs[:], d)
	*f = fs[0]
	return err
}

// send1 sends one frame.
func send1(l *Link, frame []byte) error {
	_, err := l.Send([][]byte{frame})
	return err
}

// recvMarker reads from l until a frame carries one of the markers, and
// returns which; a stuck link fails the test.
func recvMarker(t *testing.T, l *Link, markers ...[]byte) int {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { _ = l.Close() })
	defer timer.Stop()
	for {
		var f link.Frame
		if err := recv1(l, &f, 0); err != nil {
			t.Fatalf("Recv: %v", err)
		}
		for i, m := range markers {
			if bytes.Contains(f.Data, m) {
				return i
			}
		}
	}
}

func xdpAttached(t *testing.T, ns, ifname string) bool {
	t.Helper()
	return strings.Contains(sh(t, "ip", "-n", ns, "-d", "link", "show", ifname), "prog/xdp")
}

// One link over both queues: frames for our address arrive, frames for
// the kernel's address do not (the kernel gets them), replies reach the
// peer, and closing detaches the program.
func TestLinkVeth(t *testing.T) {
	n := newTestNet(t)
	x := n.open(t, Options{Workers: 1, Self: mustSet(t, ipR)})
	if x.Queues() != 2 || len(x.Links()) != 1 || !x.Native() || x.ZeroCopy() {
		t.Fatalf("got %s; want 2 queues, 1 worker, native XDP, copy mode on veth", x.Describe())
	}
	if !xdpAttached(t, n.nsR, ifR) {
		t.Fatal("no XDP program on the interface after Open")
	}
	l := x.Links()[0]
	p := n.peer(t)
	theirs, ours := []byte("for-the-kernel"), []byte("for-masscanned")
	for i := range 20 {
		p.send(t, udpFrame(n.macR, n.macG, ipG, ipK, append(theirs, byte(i))))
	}
	p.send(t, udpFrame(n.macR, n.macG, ipG, ipR, ours))
	if got := recvMarker(t, l, theirs, ours); got != 1 {
		t.Fatal("a frame for the kernel's address reached the socket")
	}
	// a reply: sent on the link, seen by the peer
	reply := udpFrame(n.macG, n.macR, ipR, ipG, []byte("reply-from-xsk"))
	for range 3 * txFrames { // more than the transmit pool: frames are recycled
		if err := send1(l, reply); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	l.Flush()
	p.recvMatch(t, []byte("reply-from-xsk"))
	// the packet path does not allocate: Send of a batch, and Recv
	replies := [][]byte{reply, reply}
	if a := testing.AllocsPerRun(200, func() { _, _ = l.Send(replies) }); a != 0 {
		t.Errorf("Send+Flush: %v allocations", a)
	}
	for range 50 {
		p.send(t, udpFrame(n.macR, n.macG, ipG, ipR, ours))
	}
	var rf link.Frame
	if a := testing.AllocsPerRun(20, func() { _ = recv1(l, &rf, time.Second) }); a != 0 {
		t.Errorf("Recv: %v allocations", a)
	}
	if st := l.Stats(); st.Received < 1 || st.Sent < 3*txFrames {
		t.Errorf("stats %+v", st)
	}
	// the kernel's address is still answered by the kernel (XDP_PASS)
	out, err := exec.Command("ip", "netns", "exec", n.nsG, "ping", "-c", "1", "-W", "2", ipK).CombinedOutput()
	if _, lookErr := exec.LookPath("ping"); lookErr == nil && err != nil {
		t.Errorf("ping of the kernel's address: %v\n%s", err, out)
	}
	// with a socket in the map, the program's verdict for ours is a redirect
	ret, err := x.prog.Prog.Run(&ebpf.RunOptions{Data: udpFrame(n.macR, n.macG, ipG, ipR, ours)})
	if err != nil || ret != xdpRedirect {
		t.Errorf("verdict for ours with sockets: %d, %v; want %d", ret, err, xdpRedirect)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if xdpAttached(t, n.nsR, ifR) {
		t.Error("XDP program still attached after Close")
	}
	var f link.Frame
	if err := recv1(l, &f, 0); err != link.ErrClosed {
		t.Errorf("Recv after Close: %v", err)
	}
	if err := send1(l, reply); err != link.ErrClosed {
		t.Errorf("Send after Close: %v", err)
	}
}

// Two workers: one socket each; frames of one flow keep to one queue,
// and both links together see every frame sent.
func TestTwoWorkers(t *testing.T) {
	n := newTestNet(t)
	x := n.open(t, Options{Workers: 2, Self: mustSet(t, ipR)})
	ls := x.Links()
	if len(ls) != 2 || len(ls[0].socks) != 1 || len(ls[1].socks) != 1 {
		t.Fatalf("want 2 links of 1 socket: %s", x.Describe())
	}
	p := n.peer(t)
	const total = 200
	for i := range total {
		p.send(t, udpFrame(n.macR, n.macG, ipG, ipR, []byte(fmt.Sprintf("frame-%03d", i))))
	}
	got := make(chan int, 2)
	for _, l := range ls {
		go func() {
			k := 0
			var f link.Frame
			for {
				if err := recv1(l, &f, 300*time.Millisecond); err != nil {
					got <- k
					return
				}
				if bytes.Contains(f.Data, []byte("frame-")) {
					k++
				}
			}
		}()
	}
	a, b := <-got, <-got
	if a+b != total {
		t.Errorf("links received %d + %d frames, want %d in all", a, b, total)
	}
}

// Drain returns what is already in the ring, then ErrClosed.
func TestDrain(t *testing.T) {
	n := newTestNet(t)
	x := n.open(t, Options{Workers: 1, Self: mustSet(t, ipR)})
	l := x.Links()[0]
	p := n.peer(t)
	for i := range 10 {
		p.send(t, udpFrame(n.macR, n.macG, ipG, ipR, []byte(fmt.Sprintf("drain-%d", i))))
	}
	// wait until the frames are in the rx rings
	deadline := time.Now().Add(5 * time.Second)
	for {
		k := uint32(0)
		for _, s := range l.socks {
			k += s.rx.avail(s.nrx)
		}
		if k >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Drain()
	k := 0
	var f link.Frame
	for {
		err := recv1(l, &f, 0)
		if err == link.ErrClosed {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(f.Data, []byte("drain-")) {
			k++
		}
	}
	if k != 10 {
		t.Errorf("drained %d frames, want 10", k)
	}
}

// Backlog counts the frames received and not yet returned by Recv: the
// rest of the current batch and the rx rings' entries.
func TestBacklog(t *testing.T) {
	n := newTestNet(t)
	x := n.open(t, Options{Workers: 1, Self: mustSet(t, ipR)})
	l := x.Links()[0]
	p := n.peer(t)
	const count = 40
	for i := range count {
		p.send(t, udpFrame(n.macR, n.macG, ipG, ipR, []byte{'b', 'l', byte(i)}))
	}
	time.Sleep(50 * time.Millisecond)
	fs := make([]link.Frame, 4)
	k, err := l.Recv(fs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if b := l.Backlog(); b != count-k {
		t.Fatalf("backlog %d after reading %d of %d frames", b, k, count)
	}
	for {
		if _, err := l.Recv(fs, 50*time.Millisecond); err == link.ErrTimeout {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if b := l.Backlog(); b != 0 {
		t.Fatalf("backlog %d with every frame read", b)
	}
}
