package hostports

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/masscanned-go/masscanned/internal/link"
)

// Filter tells the host's frames from masscanned's on a shared address.
// A frame is the host's when it is
//
//   - an ARP packet for a shared IPv4 address, or an ICMPv6 neighbour
//     solicitation for a shared IPv6 address (the kernel answers them,
//     with the interface's MAC);
//   - TCP or UDP to a shared address and a listed port of its protocol;
//   - TCP or UDP to a shared address and a port of the kernel's ephemeral
//     range (net.ipv4.ip_local_port_range, IPv6 included): the replies to
//     the host's own connections (DNS answers, SYN-ACKs, data) arrive
//     there, and masscanned must not answer them.
//
// Everything else goes to the stack. Host reads only the frame and never
// allocates.
type Filter struct {
	v4         [][4]byte
	v6         [][16]byte
	tcp, udp   [8192]byte // bitmaps of the listed ports
	ephLo      uint16     // ephemeral range [ephLo, ephHi]; ephLo 0: none
	ephHi      uint16
	listedTCP  int
	listedUDP  int
	sharedAddr []netip.Addr
}

// NewFilter builds the filter of the shared addresses, the listed ports
// and the kernel's ephemeral range [ephLo, ephHi] (ephLo 0: none).
func NewFilter(shared []netip.Addr, sp Spec, ephLo, ephHi uint16) *Filter {
	f := &Filter{ephLo: ephLo, ephHi: ephHi}
	for _, a := range shared {
		a = a.Unmap()
		f.sharedAddr = append(f.sharedAddr, a)
		if a.Is4() {
			f.v4 = append(f.v4, a.As4())
		} else {
			f.v6 = append(f.v6, a.As16())
		}
	}
	for _, p := range sp.TCP {
		f.tcp[p>>3] |= 1 << (p & 7)
	}
	for _, p := range sp.UDP {
		f.udp[p>>3] |= 1 << (p & 7)
	}
	f.listedTCP, f.listedUDP = len(sp.TCP), len(sp.UDP)
	return f
}

// Shared returns the shared addresses.
func (f *Filter) Shared() []netip.Addr { return f.sharedAddr }

func (f *Filter) is4(b []byte) bool {
	for i := range f.v4 {
		if string(f.v4[i][:]) == string(b) {
			return true
		}
	}
	return false
}

func (f *Filter) is6(b []byte) bool {
	for i := range f.v6 {
		if string(f.v6[i][:]) == string(b) {
			return true
		}
	}
	return false
}

// port: whether a TCP (6) or UDP (17) segment to port is the host's.
func (f *Filter) port(proto uint8, port uint16) bool {
	if f.ephLo != 0 && port >= f.ephLo && port <= f.ephHi {
		return true
	}
	switch proto {
	case 6:
		return f.tcp[port>>3]&(1<<(port&7)) != 0
	case 17:
		return f.udp[port>>3]&(1<<(port&7)) != 0
	}
	return false
}

// Host reports whether the Ethernet frame b is the host kernel's.
func (f *Filter) Host(b []byte) bool {
	if len(b) < 14 {
		return false
	}
	etype := binary.BigEndian.Uint16(b[12:14])
	off := 14
	for i := 0; i < 2 && (etype == 0x8100 || etype == 0x88a8); i++ {
		if len(b) < off+4 {
			return false
		}
		etype = binary.BigEndian.Uint16(b[off+2 : off+4])
		off += 4
	}
	p := b[off:]
	switch etype {
	case 0x0806:
		// ARP for IPv4 over Ethernet: the target protocol address
		return len(p) >= 28 && binary.BigEndian.Uint16(p[2:4]) == 0x0800 && p[5] == 4 && f.is4(p[24:28])
	case 0x0800:
		return f.ipv4(p)
	case 0x86dd:
		return f.ipv6(p)
	}
	return false
}

func (f *Filter) ipv4(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 {
		return false
	}
	ihl := int(p[0]&15) * 4
	if ihl < 20 || len(p) < ihl || !f.is4(p[16:20]) {
		return false
	}
	if binary.BigEndian.Uint16(p[6:8])&0x1fff != 0 {
		return false // a later fragment: no ports to look at
	}
	return f.l4(p[9], p[ihl:])
}

func (f *Filter) l4(proto uint8, l4 []byte) bool {
	if (proto != 6 && proto != 17) || len(l4) < 4 {
		return false
	}
	return f.port(proto, binary.BigEndian.Uint16(l4[2:4]))
}

func (f *Filter) ipv6(p []byte) bool {
	if len(p) < 40 || p[0]>>4 != 6 {
		return false
	}
	dstShared := f.is6(p[24:40])
	nh, off := p[6], 40
	for range 8 {
		switch nh {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(p) < off+8 {
				return false
			}
			nh, off = p[off], off+(int(p[off+1])+1)*8
			continue
		case 44: // fragment
			if len(p) < off+8 || binary.BigEndian.Uint16(p[off+2:off+4])&0xfff8 != 0 {
				return false
			}
			nh, off = p[off], off+8
			continue
		}
		break
	}
	if len(p) < off {
		return false
	}
	l4 := p[off:]
	if nh == 58 {
		// neighbour solicitation: to the solicited-node group (or the
		// address itself), the target names the address
		return len(l4) >= 24 && l4[0] == 135 && f.is6(l4[8:24])
	}
	return dstShared && f.l4(nh, l4)
}

// EphemeralRange reads the kernel's ephemeral port range (shared by IPv4
// and IPv6) from /proc.
func EphemeralRange() (lo, hi uint16, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, fmt.Errorf("reading the kernel's ephemeral port range: %v", err)
	}
	return parseRange(string(b))
}

func parseRange(s string) (lo, hi uint16, err error) {
	fs := strings.Fields(s)
	if len(fs) != 2 {
		return 0, 0, fmt.Errorf("ip_local_port_range %q: want two ports", s)
	}
	a, err1 := strconv.ParseUint(fs[0], 10, 16)
	b, err2 := strconv.ParseUint(fs[1], 10, 16)
	if err1 != nil || err2 != nil || a == 0 || b < a {
		return 0, 0, fmt.Errorf("ip_local_port_range %q: want two ports, the first not larger", s)
	}
	return uint16(a), uint16(b), nil
}

// Link hides the host's frames from the stack: Recv returns only the
// frames that are not the host's (see Filter).
type Link struct {
	link.Link
	f    *Filter
	host atomic.Uint64
}

// NewLink wraps l.
func NewLink(l link.Link, f *Filter) *Link { return &Link{Link: l, f: f} }

// HostFrames counts the frames left to the host's kernel.
func (l *Link) HostFrames() uint64 { return l.host.Load() }

// Recv implements link.Link: the wrapped link's batch without the host's
// frames, compacted in place. A batch of host frames only does not count
// as one: Recv waits for the next, within what is left of timeout.
func (l *Link) Recv(frames []link.Frame, timeout time.Duration) (int, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		n, err := l.Link.Recv(frames, timeout)
		k := 0
		for i := 0; i < n; i++ {
			if l.f.Host(frames[i].Data) {
				l.host.Add(1)
				continue
			}
			frames[k] = frames[i]
			k++
		}
		if k > 0 || err != nil {
			return k, err
		}
		if timeout > 0 {
			if timeout = time.Until(deadline); timeout <= 0 {
				return 0, link.ErrTimeout
			}
		}
	}
}

// BatchSize passes the wrapped link's batch size on.
func (l *Link) BatchSize() int { return link.BatchSize(l.Link) }

// Interface passes the wrapped link's interface facts on.
func (l *Link) Interface() link.Info {
	if i, ok := l.Link.(link.Interfacer); ok {
		return i.Interface()
	}
	return link.Info{Queue: -1}
}

// Drain drains the wrapped link.
func (l *Link) Drain() { link.Drain(l.Link) }

// Wake wakes the wrapped link.
func (l *Link) Wake() { link.Wake(l.Link) }

// Backlog passes the wrapped link's backlog on (0 when it cannot tell:
// the worker paces then, as for a link that keeps up).
func (l *Link) Backlog() int {
	if b, ok := l.Link.(link.Backlogger); ok {
		return b.Backlog()
	}
	return 0
}
