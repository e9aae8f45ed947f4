//go:build linux

// Package afxdp is the AF_XDP link backend: an XDP program (written with
// cilium/ebpf's asm package: no C compiler, no cgo) redirects the frames
// masscanned answers (ARP and neighbour solicitations for its addresses,
// IPv4 and IPv6 to its addresses) to one AF_XDP socket per receive queue
// and passes every other frame to the kernel, so the host keeps working.
// Sockets, UMEM and the four rings (fill, completion, rx, tx) are driven
// with golang.org/x/sys/unix.
//
// The program is attached with a bpf_link and never pinned: when the
// process exits, however it exits, the kernel closes the link's file
// descriptor and the program is detached.
//
// Zero-copy is used where the driver supports it, else copy mode (veth,
// and every driver in generic XDP mode).
package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/link"
)

// Options configure Open.
type Options struct {
	// Workers is the number of links to return (0: one per CPU); each
	// serves one or more receive queues, and there are never more links
	// than queues.
	Workers int
	// Self is the list of addresses whose frames go to masscanned (nil:
	// every address).
	Self *addrset.Set
	// Copy forces copy mode (no zero-copy attempt).
	Copy bool
	// Generic forces generic (SKB) XDP instead of the driver's.
	Generic bool
	// Promisc puts the interface in promiscuous mode while open (through a
	// packet socket's membership, released with it).
	Promisc bool
	// RingMB is the size of each socket's receive UMEM in MiB (rounded
	// down to a power of two of frames; default 32). Each socket also has
	// 8 MiB for transmission.
	RingMB int
	// OwnMAC, when set, is masscanned's own MAC address (-m, differing
	// from the interface's): every frame sent to it is masscanned's,
	// whatever it holds (malformed frames included).
	OwnMAC *[6]byte
	// BusyWait is how long a bind finding its queue still held by a
	// socket closed an instant ago is retried (default 3 s).
	BusyWait time.Duration
}

// XDP is the program attached to one interface and its sockets, shared
// among the links of the workers.
type XDP struct {
	iface    string
	prog     *Program
	attach   bpflink.Link
	socks    []*xsk
	links    []*Link
	promisc  int
	native   bool
	zeroCopy bool
	drv      string

	mu   sync.Mutex
	open int // links not closed yet
}

// Open loads and attaches the program on iface and opens one socket per
// receive queue. Errors are one line, naming what the kernel refused.
func Open(iface string, opts Options) (*XDP, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q not found", iface)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface %q is down", iface)
	}
	queues := RxQueues(iface)
	if ifi.MTU > MaxMTU {
		return nil, fmt.Errorf("afxdp: the MTU of %s (%d) is larger than an AF_XDP frame takes (%d)", iface, ifi.MTU, MaxMTU)
	}
	nrx := rxFrames
	if opts.RingMB > 0 {
		nrx = 64
		for nrx*2*frameSize <= opts.RingMB<<20 {
			nrx *= 2
		}
	}
	x := &XDP{iface: iface, promisc: -1, drv: driver(iface)}
	fail := func(err error) (*XDP, error) {
		x.release()
		return nil, err
	}
	// A socket first: a kernel without AF_XDP says so here, before any
	// program is loaded.
	if fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("afxdp: an AF_XDP socket needs CAP_NET_RAW (run as root)")
		}
		return nil, fmt.Errorf("afxdp: this kernel has no AF_XDP sockets: %w", err)
	} else {
		unix.Close(fd)
	}
	if x.prog, err = LoadProgram(queues, opts.Self, opts.OwnMAC, xdpPass); err != nil {
		return fail(err)
	}
	if !opts.Generic {
		x.attach, err = bpflink.AttachXDP(bpflink.XDPOptions{Program: x.prog.Prog, Interface: ifi.Index, Flags: bpflink.XDPDriverMode})
		x.native = err == nil
	}
	if x.attach == nil {
		x.attach, err = bpflink.AttachXDP(bpflink.XDPOptions{Program: x.prog.Prog, Interface: ifi.Index, Flags: bpflink.XDPGenericMode})
	}
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return fail(fmt.Errorf("afxdp: %s already has an XDP program: %v", iface, err))
		}
		return fail(bpfErr("attaching the XDP program to "+iface, err))
	}
	busy := opts.BusyWait
	if busy == 0 {
		busy = 3 * time.Second
	}
	zc := x.native && !opts.Copy
	for q := range queues {
		var s *xsk
		if zc {
			if s, err = openXSK(ifi.Index, q, true, nrx, busy); err != nil {
				zc = false // the driver has no zero-copy: copy mode for all
			}
		}
		if s == nil {
			if s, err = openXSK(ifi.Index, q, false, nrx, busy); err != nil {
				return fail(fmt.Errorf("afxdp: %s: %v", iface, err))
			}
		}
		x.socks = append(x.socks, s)
		if err := x.prog.XSKs.Put(uint32(q), uint32(s.fd)); err != nil {
			return fail(bpfErr("adding the socket of queue "+fmt.Sprint(q)+" to the XSK map", err))
		}
	}
	x.zeroCopy = zc
	for _, s := range x.socks {
		x.zeroCopy = x.zeroCopy && s.zeroCopy
	}
	n := opts.Workers
	if n <= 0 {
		n = runtime.NumCPU()
	}
	n = min(n, len(x.socks))
	for i := range n {
		l := &Link{x: x, efd: -1}
		for q := i; q < len(x.socks); q += n {
			l.socks = append(l.socks, x.socks[q])
		}
		if l.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			return fail(fmt.Errorf("afxdp: eventfd: %w", err))
		}
		l.pfd = make([]unix.PollFd, 0, len(l.socks)+1)
		x.links = append(x.links, l)
	}
	x.open = len(x.links)
	if opts.Promisc {
		// Last: a packet socket in the process also says "link open".
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			x.promisc = fd
			mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
			err = unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq)
		}
		if err != nil {
			return fail(fmt.Errorf("afxdp: promiscuous mode on %s: %w", iface, err))
		}
	}
	return x, nil
}

// Links returns the workers' links.
func (x *XDP) Links() []*Link { return x.links }

// Queues is the number of receive queues (one socket each).
func (x *XDP) Queues() int { return len(x.socks) }

// ZeroCopy reports whether every socket is in zero-copy mode.
func (x *XDP) ZeroCopy() bool { return x.zeroCopy }

// Native reports whether the program runs in the driver (else generic
// XDP).
func (x *XDP) Native() bool { return x.native }

// Driver names the interface's driver.
func (x *XDP) Driver() string { return x.drv }

// Describe is a one-line summary for the startup log.
func (x *XDP) Describe() string {
	mode, xdp := "copy", "generic"
	if x.zeroCopy {
		mode = "zero-copy"
	}
	if x.native {
		xdp = "native"
	}
	return fmt.Sprintf("AF_XDP on %s (driver %s, %s XDP, %s mode, %d queue(s), %d worker(s))",
		x.iface, x.drv, xdp, mode, len(x.socks), len(x.links))
}

// SetSelf replaces the addresses whose frames come to masscanned (nil:
// all), as SIGHUP reloads them.
func (x *XDP) SetSelf(self *addrset.Set) error { return x.prog.SetSelf(self) }

// release detaches the program first (frames go to the kernel again),
// then frees the sockets and maps.
func (x *XDP) release() {
	if x.attach != nil {
		_ = x.attach.Close()
		x.attach = nil
	}
	if x.prog != nil {
		_ = x.prog.Close()
		x.prog = nil
	}
	// with every link's transmit lock held: Send, Flush, Stats and Wake
	// see the closed sockets, never half-closed ones
	for _, l := range x.links {
		l.tmu.Lock()
	}
	for _, l := range x.links {
		if l.efd >= 0 {
			_ = unix.Close(l.efd)
			l.efd = -1
		}
	}
	for _, s := range x.socks {
		s.close()
	}
	for _, l := range x.links {
		l.tmu.Unlock()
	}
	if x.promisc >= 0 {
		_ = unix.Close(x.promisc)
		x.promisc = -1
	}
}

// Close closes every link and releases everything.
func (x *XDP) Close() error {
	for _, l := range x.links {
		l.Close()
	}
	return nil
}

// batchSize is the most descriptors taken from the rx rings at once.
const batchSize = 64

// Link is one worker's share of the sockets: it implements link.Link.
// Recv is meant for one goroutine (the worker's); Send may be called from
// another one too. Replies go out on the link's first socket. Replies queued by Send go out at the latest when
// the next Recv finds no frame left in its batch, or at Flush.
type Link struct {
	x     *XDP
	socks []*xsk
	efd   int
	pfd   []unix.PollFd

	rmu      sync.Mutex
	batch    [batchSize]unix.XDPDesc
	bn, bi   int
	bsock    *xsk // socket of the current batch
	rr       int  // next socket to look at
	btime    time.Time
	deadline time.Time

	tmu sync.Mutex // the tx and completion rings, the free list, efd

	closed      atomic.Bool
	draining    atomic.Bool
	drainWaited bool

	received   atomic.Uint64
	sent       atomic.Uint64
	sendErrors atomic.Uint64
	lastDrops  atomic.Uint64
}

var _ link.Link = (*Link)(nil)
var _ link.Drainer = (*Link)(nil)
var _ link.Waker = (*Link)(nil)
var _ link.Backlogger = (*Link)(nil)

// pollTimeout bounds one wait when no wake-up comes (ms).
const pollTimeout = 100

// Recv implements link.Link: it fills fs with up to len(fs) frames (at
// least one), waiting at most d (0: forever). The frames are the UMEM's,
// valid until the next Recv (which gives them back to the fill ring).
func (l *Link) Recv(fs []link.Frame, d time.Duration) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.deadline = time.Time{}
	if d > 0 {
		l.deadline = time.Now().Add(d)
	}
	for l.bi >= l.bn {
		if err := l.next(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(fs) && l.bi < l.bn {
		desc := l.batch[l.bi]
		l.bi++
		data := l.bsock.frame(desc)
		fs[n] = link.Frame{Data: data, Time: l.btime, ChecksumNotReady: partialChecksum(data)}
		n++
	}
	l.received.Add(uint64(n))
	return n, nil
}

// Backlog implements link.Backlogger: the frames of the current batch not
// returned yet, plus those waiting in the sockets' rx rings.
func (l *Link) Backlog() int {
	l.rmu.Lock()
	n := l.bn - l.bi
	for _, s := range l.socks {
		if s.fd >= 0 {
			n += int(s.rx.ready())
		}
	}
	l.rmu.Unlock()
	return n
}

// next gives the finished batch back, sends what was queued, and waits
// for the next batch.
func (l *Link) next() error {
	if l.bn > 0 {
		l.bsock.refill(l.batch[:l.bn])
		l.bn, l.bi = 0, 0
	}
	l.Flush()
	for {
		if l.closed.Load() {
			return link.ErrClosed
		}
		for range l.socks {
			s := l.socks[l.rr]
			l.rr++
			if l.rr == len(l.socks) {
				l.rr = 0
			}
			if n := s.recv(l.batch[:]); n > 0 {
				l.bn, l.bi, l.bsock = n, 0, s
				l.btime = time.Now()
				return nil
			}
		}
		if err := l.wait(); err != nil {
			return err
		}
	}
}

// fillWaiting gives frames waiting for the fill ring another chance and
// reports whether some still wait.
func (l *Link) fillWaiting() bool {
	waiting := false
	for _, s := range l.socks {
		if s.fd >= 0 && s.flushFill() {
			waiting = true
		}
	}
	return waiting
}

// wait polls the sockets and the wake-up eventfd.
func (l *Link) wait() error {
	if l.draining.Load() {
		// one short wait for frames already on their way, then stop
		if l.drainWaited {
			return link.ErrClosed
		}
		l.drainWaited = true
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	wait := pollTimeout
	if l.fillWaiting() {
		wait = 1 // the kernel publishes the room it made at its next flush
	}
	if !l.deadline.IsZero() {
		left := time.Until(l.deadline)
		if left <= 0 {
			return link.ErrTimeout
		}
		wait = min(wait, int(left/time.Millisecond)+1)
	}
	l.pfd = l.pfd[:0]
	for _, s := range l.socks {
		l.pfd = append(l.pfd, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN})
	}
	l.pfd = append(l.pfd, unix.PollFd{Fd: int32(l.efd), Events: unix.POLLIN})
	if _, err := unix.Poll(l.pfd, wait); err != nil && !errors.Is(err, unix.EINTR) {
		if l.closed.Load() {
			return link.ErrClosed
		}
		return fmt.Errorf("afxdp: poll on %s: %w", l.x.iface, err)
	}
	if l.pfd[len(l.pfd)-1].Revents&unix.POLLIN != 0 {
		var v [8]byte
		_, _ = unix.Read(l.efd, v[:])
		if !l.deadline.IsZero() && !l.closed.Load() && !l.draining.Load() {
			return link.ErrTimeout
		}
	}
	return nil
}

// sendOne queues one frame for transmission (the caller may reuse frame
// at once); it never waits for the kernel: with no transmit frame free it
// fails.
func (l *Link) sendOne(frame []byte) error {
	l.tmu.Lock()
	s := l.socks[0]
	if s.fd < 0 {
		l.tmu.Unlock()
		return link.ErrClosed
	}
	err := s.queueTx(frame)
	if err == nil && s.tx.pending() >= batchSize {
		s.flush()
	}
	l.tmu.Unlock()
	if err != nil {
		l.sendErrors.Add(1)
		return fmt.Errorf("afxdp: send on %s: %w", l.x.iface, err)
	}
	l.sent.Add(1)
	return nil
}

// Send implements link.Link: it queues every frame (copied into the
// UMEM) and flushes with one kick; it returns how many were queued.
func (l *Link) Send(frames [][]byte) (int, error) {
	for i, f := range frames {
		if err := l.sendOne(f); err != nil {
			l.Flush()
			return i, err
		}
	}
	l.Flush()
	return len(frames), nil
}

// Flush sends every queued frame now and collects finished
// transmissions.
func (l *Link) Flush() {
	l.tmu.Lock()
	for _, s := range l.socks {
		if s.fd < 0 {
			break
		}
		s.flush()
		s.complete()
	}
	l.tmu.Unlock()
}

// Stats returns the counters; KernelDrops are the frames the kernel could
// not put in an rx ring (XDP_STATISTICS rx_dropped + rx_ring_full).
func (l *Link) Stats() link.Stats {
	drops := l.lastDrops.Load()
	if !l.closed.Load() {
		drops = l.statsDrops()
		l.lastDrops.Store(drops)
	}
	return link.Stats{Received: l.received.Load(), Sent: l.sent.Load(), SendErrors: l.sendErrors.Load(), KernelDrops: drops}
}

// Drain makes Recv return the frames already received, then ErrClosed.
func (l *Link) Drain() {
	l.draining.Store(true)
	l.Wake()
}

// Wake makes a blocked RecvTimeout return link.ErrTimeout.
func (l *Link) Wake() {
	l.tmu.Lock()
	if l.efd >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(l.efd, one[:])
	}
	l.tmu.Unlock()
}

// Close stops the link; when the last link of the interface closes, the
// program is detached and the sockets and maps are freed.
func (l *Link) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.lastDrops.Store(l.statsDrops())
	l.Wake()
	l.rmu.Lock() // a blocked Recv returns promptly
	l.bn, l.bi = 0, 0
	l.rmu.Unlock()
	l.x.mu.Lock()
	defer l.x.mu.Unlock()
	l.x.open--
	if l.x.open == 0 {
		l.x.release()
	}
	return nil
}

func (l *Link) statsDrops() uint64 {
	var drops uint64
	l.tmu.Lock()
	defer l.tmu.Unlock()
	for _, s := range l.socks {
		if s.fd < 0 {
			continue
		}
		if st, err := xdpStats(s.fd); err == nil {
			drops += st.Rx_dropped + st.Rx_ring_full
		}
	}
	return drops
}
