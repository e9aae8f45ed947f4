//go:build linux

package afpacket

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

	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/link"
)

// testNet is a pair of network namespaces joined by a veth pair: the link
// under test opens "vr" in namespace R, the peer "vg" lives in namespace G.
type testNet struct {
	nsR, nsG   string
	macR, macG net.HardwareAddr
}

const (
	ifR = "vr"
	ifG = "vg"
	ipG = "192.0.2.1"
	ipR = "192.0.2.2"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newTestNet creates the namespaces and the veth pair; they are removed
// when the test ends, whatever happens.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, packet sockets)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	n := &testNet{nsR: "mcafp-r-" + id, nsG: "mcafp-g-" + id}
	for _, ns := range []string{n.nsR, n.nsG} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		// Quiet namespaces: no IPv6 autoconfiguration chatter on the veth.
		_ = exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").Run()
		_ = exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").Run()
	}
	run(t, "ip", "-n", n.nsR, "link", "add", ifR, "type", "veth", "peer", "name", ifG, "netns", n.nsG)
	run(t, "ip", "-n", n.nsR, "link", "set", ifR, "up")
	run(t, "ip", "-n", n.nsG, "link", "set", ifG, "up")
	run(t, "ip", "-n", n.nsG, "addr", "add", ipG+"/24", "dev", ifG)
	n.inNS(t, n.nsR, func() {
		var err error
		if n.macR, err = HardwareAddr(ifR); err != nil {
			t.Fatal(err)
		}
	})
	n.inNS(t, n.nsG, func() {
		var err error
		if n.macG, err = HardwareAddr(ifG); err != nil {
			t.Fatal(err)
		}
	})
	run(t, "ip", "-n", n.nsG, "neigh", "add", ipR, "lladdr", n.macR.String(), "dev", ifG, "nud", "permanent")
	return n
}

// inNS runs fn on an OS thread switched into namespace ns. The thread is
// switched back afterwards, or discarded if that fails.
func (n *testNet) inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return // thread stays locked and dies with the goroutine
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

// openLink opens the link under test on vr, closed at the end of the test.
func (n *testNet) openLink(t *testing.T, opts Options) *AFPacket {
	t.Helper()
	var l *AFPacket
	var err error
	n.inNS(t, n.nsR, func() { l, err = Open(ifR, opts) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// peer is a plain packet socket on vg.
type peer struct{ fd int }

func (n *testNet) openPeer(t *testing.T) *peer {
	t.Helper()
	var fd int
	var err error
	n.inNS(t, n.nsG, func() {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(ifG); err != nil {
			return
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethPAll))); err != nil {
			return
		}
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: ifi.Index})
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

func (p *peer) send(t *testing.T, frame []byte) {
	t.Helper()
	if _, err := unix.Write(p.fd, frame); err != nil {
		t.Fatal(err)
	}
}

// recvMatch reads from the peer socket until a frame contains marker.
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

// recvFrame reads from l until a frame matches; on a stuck link the test
// fails instead of hanging (the link is closed after a generous delay).
func recvFrame(t *testing.T, l *AFPacket, match func([]byte) bool) link.Frame {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { _ = l.Close() })
	defer timer.Stop()
	fs := make([]link.Frame, 1)
	for {
		if _, err := l.Recv(fs, 0); err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if f := fs[0]; match(f.Data) {
			f.Data = append([]byte(nil), f.Data...)
			return f
		}
	}
}

func hasMarker(m []byte) func([]byte) bool {
	return func(b []byte) bool { return bytes.Contains(b, m) }
}

// ethFrame builds dst, src, then the rest (ethertype/tags and payload).
func ethFrame(dst, src net.HardwareAddr, rest ...[]byte) []byte {
	b := append(append([]byte{}, dst...), src...)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// udp4Frame builds an IPv4/UDP frame with full, correct checksums.
func udp4Frame(dst, src net.HardwareAddr, sip, dip string, payload []byte) []byte {
	s, d := net.ParseIP(sip).To4(), net.ParseIP(dip).To4()
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	var ps uint32
	for i := 0; i < 4; i += 2 {
		ps += uint32(s[i])<<8 | uint32(s[i+1]) + uint32(d[i])<<8 | uint32(d[i+1])
	}
	ps += 17 + uint32(len(udp))
	binary.BigEndian.PutUint16(udp[6:], checksum(udp, ps))
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	ip = append(append(ip, s...), d...)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	return ethFrame(dst, src, u16(0x0800), ip, udp)
}
