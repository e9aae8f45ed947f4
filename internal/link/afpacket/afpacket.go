//go:build linux

// Package afpacket is the live link backend: an AF_PACKET socket with a
// TPACKET_V3 memory-mapped receive ring and write() for transmission.
//
// It is written directly on golang.org/x/sys/unix because the stack needs
// what gopacket/afpacket does not expose: the per-packet tp_status
// (TP_STATUS_CSUMNOTREADY) and the socket itself (PACKET_IGNORE_OUTGOING).
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/link"
)

// Options tune the receive ring.
type Options struct {
	// BlockSize is the size of one ring block in bytes, a multiple of the
	// page size (default 1 MiB).
	BlockSize int
	// BlockCount is the number of blocks (default 32: a 32 MiB ring).
	BlockCount int
	// BlockTimeout is how long, in milliseconds, the kernel keeps a
	// partly filled block before handing it over (default 1).
	BlockTimeout int
	// Promisc puts the interface in promiscuous mode while the link is
	// open.
	Promisc bool
	// FanoutGroup, when non-zero, joins the socket to a PACKET_FANOUT
	// group of that id (hash mode), so several links on one interface
	// share the traffic by flow.
	FanoutGroup uint16
}

const (
	defaultBlockSize  = 1 << 20
	defaultBlockCount = 32
	defaultTimeout    = 1

	// pollTimeout bounds a blocked Recv when no eventfd wake-up arrives.
	pollTimeout = 100 // ms

	// Offsets in struct tpacket_block_desc (version, offset_to_priv,
	// then struct tpacket_hdr_v1).
	bdBlockStatus = 8
	bdNumPkts     = 12
	bdFirstPkt    = 16

	// struct sockaddr_ll follows the tpacket3_hdr at
	// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)); sll_pkttype is at
	// offset 10 in it.
	sllPktType = 48 + 10

	ethPAll = 0x0003
)

var hdrSize = int(unsafe.Sizeof(unix.Tpacket3Hdr{}))

// AFPacket is a link.Link on one interface. Recv must be called from one
// goroutine at a time; Send may be called concurrently with Recv.
type AFPacket struct {
	iface   string
	fd      int
	efd     int // eventfd that wakes a blocked Recv at Close
	ring    []byte
	bsize   int
	nblocks int

	// Receive state, owned by the Recv goroutine.
	rmu       sync.Mutex
	block     int  // current block index
	inBlock   bool // block is ours (TP_STATUS_USER) and being walked
	remaining uint32
	off       int
	held      bool   // a frame returned by Recv may still be in use
	vbuf      []byte // frame with its 802.1Q tag put back
	unmapped  bool

	fdmu   sync.RWMutex // guards fd against Close while Send runs
	closed atomic.Bool

	draining    atomic.Bool // Drain called: no more waiting for frames
	drainWaited bool        // the one short wait of a drain was done
	timeout     int         // block timeout, ms
	deadline    time.Time   // RecvTimeout's (zero: none); guarded by rmu

	received   atomic.Uint64
	sent       atomic.Uint64
	sendErrors atomic.Uint64
	smu        sync.Mutex
	drops      uint64
}

var _ link.Link = (*AFPacket)(nil)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// permError is the message for a missing capability.
func permError(iface string) error {
	return fmt.Errorf("opening a packet socket on %s needs CAP_NET_RAW (run as root or grant the capability)", iface)
}

// lookup returns the interface, or a one-line error when it does not
// exist or is down.
func lookup(iface string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q not found", iface)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface %q is down", iface)
	}
	return ifi, nil
}

// CheckInterface reports whether iface exists and is up.
func CheckInterface(iface string) error {
	_, err := lookup(iface)
	return err
}

// HardwareAddr returns the MAC address of iface.
func HardwareAddr(iface string) (net.HardwareAddr, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q not found", iface)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %q has no Ethernet address", iface)
	}
	return ifi.HardwareAddr, nil
}

// Open opens a packet socket with a receive ring on iface.
func Open(iface string, opts Options) (*AFPacket, error) {
	if opts.BlockSize == 0 {
		opts.BlockSize = defaultBlockSize
	}
	if opts.BlockCount == 0 {
		opts.BlockCount = defaultBlockCount
	}
	if opts.BlockTimeout == 0 {
		opts.BlockTimeout = defaultTimeout
	}
	page := unix.Getpagesize()
	if opts.BlockSize < page || opts.BlockSize%page != 0 {
		return nil, fmt.Errorf("afpacket: block size %d is not a multiple of the page size %d", opts.BlockSize, page)
	}
	if opts.BlockCount < 1 || opts.BlockTimeout < 0 {
		return nil, fmt.Errorf("afpacket: bad ring options %+v", opts)
	}
	ifi, err := lookup(iface)
	if err != nil {
		return nil, err
	}

	// Protocol 0: receive nothing until bind, so no frame of another
	// interface lands in the ring.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, permError(iface)
		}
		return nil, fmt.Errorf("afpacket: socket: %w", err)
	}
	a := &AFPacket{iface: iface, fd: fd, efd: -1, bsize: opts.BlockSize, nblocks: opts.BlockCount, timeout: opts.BlockTimeout}
	fail := func(what string, err error) (*AFPacket, error) {
		a.release()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, permError(iface)
		}
		return nil, fmt.Errorf("afpacket: %s on %s: %w", what, iface, err)
	}

	// A large socket buffer for the transmit side and the fallback path;
	// SO_RCVBUFFORCE needs CAP_NET_ADMIN, so fall back quietly.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("PACKET_VERSION", err)
	}
	const frameSize = 1 << 11 // only validated by the kernel for V3
	req := unix.TpacketReq3{
		Block_size:     uint32(opts.BlockSize),
		Block_nr:       uint32(opts.BlockCount),
		Frame_size:     frameSize,
		Frame_nr:       uint32(opts.BlockSize / frameSize * opts.BlockCount),
		Retire_blk_tov: uint32(opts.BlockTimeout),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("PACKET_RX_RING", err)
	}
	a.ring, err = unix.Mmap(fd, 0, opts.BlockSize*opts.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail("mmap", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil &&
		!errors.Is(err, unix.ENOPROTOOPT) {
		// Older kernels lack it; Recv also skips PACKET_OUTGOING frames.
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	if opts.Promisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	if opts.FanoutGroup != 0 {
		v := int(opts.FanoutGroup) | unix.PACKET_FANOUT_HASH<<16
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, v); err != nil {
			return fail("PACKET_FANOUT", err)
		}
	}
	if a.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fail("eventfd", err)
	}
	a.vbuf = make([]byte, 0, opts.BlockSize+8)
	return a, nil
}

// release frees everything Open acquired. The ring is unmapped only if
// no frame handed out by Recv can still be in use.
func (a *AFPacket) release() {
	a.fdmu.Lock()
	if a.fd >= 0 {
		_ = unix.Close(a.fd)
		a.fd = -1
	}
	if a.efd >= 0 {
		_ = unix.Close(a.efd)
		a.efd = -1
	}
	a.fdmu.Unlock()
	a.unmap()
}

func (a *AFPacket) unmap() {
	if a.ring != nil && !a.held && !a.unmapped {
		_ = unix.Munmap(a.ring)
		a.unmapped = true
	}
}

func (a *AFPacket) blockStatus(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.ring[b*a.bsize+bdBlockStatus]))
}

// Recv returns the next frame from the ring. Frame.Data is valid until
// the next Recv (or, for a tagged frame, until the next Recv as well).
func (a *AFPacket) Recv(f *link.Frame) error {
	return a.RecvTimeout(f, 0)
}

// RecvTimeout is Recv giving up with link.ErrTimeout after d (0: never).
func (a *AFPacket) RecvTimeout(f *link.Frame, d time.Duration) error {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	a.deadline = time.Time{}
	if d > 0 {
		a.deadline = time.Now().Add(d)
	}
	a.held = false
	if a.closed.Load() {
		a.unmap()
		return link.ErrClosed
	}
	for {
		if a.inBlock && a.remaining == 0 {
			// Every frame of the block was consumed: give it back.
			atomic.StoreUint32(a.blockStatus(a.block), unix.TP_STATUS_KERNEL)
			a.inBlock = false
			a.block = (a.block + 1) % a.nblocks
		}
		if !a.inBlock {
			if err := a.nextBlock(); err != nil {
				return err
			}
			continue
		}
		base := a.block * a.bsize
		p := base + a.off
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&a.ring[p]))
		a.remaining--
		a.off += int(h.Next_offset)
		if a.ring[p+sllPktType] == unix.PACKET_OUTGOING {
			continue // kernels without PACKET_IGNORE_OUTGOING
		}
		start := p + int(h.Mac)
		end := start + int(h.Snaplen)
		if end > base+a.bsize || int(h.Mac) < hdrSize {
			continue // cannot happen with a sane kernel
		}
		data := a.ring[start:end:end]
		status := h.Status
		if status&unix.TP_STATUS_VLAN_VALID != 0 || h.Hv1.Vlan_tci != 0 {
			tpid := uint16(0x8100)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Hv1.Vlan_tpid != 0 {
				tpid = h.Hv1.Vlan_tpid
			}
			data = a.insertVLAN(data, tpid, uint16(h.Hv1.Vlan_tci))
		}
		f.Data = data
		f.Time = time.Unix(int64(h.Sec), int64(h.Nsec))
		f.ChecksumNotReady = status&unix.TP_STATUS_CSUMNOTREADY != 0
		a.held = true
		a.received.Add(1)
		return nil
	}
}

// insertVLAN copies data into the link's buffer with the 802.1Q tag
// (tpid, tci) put back after the MAC addresses.
func (a *AFPacket) insertVLAN(data []byte, tpid, tci uint16) []byte {
	if len(data) < 12 {
		return data
	}
	b := a.vbuf[:0]
	b = append(b, data[:12]...)
	b = binary.BigEndian.AppendUint16(b, tpid)
	b = binary.BigEndian.AppendUint16(b, tci)
	b = append(b, data[12:]...)
	a.vbuf = b
	return b
}

// nextBlock waits until the current block belongs to user space and
// starts walking it.
func (a *AFPacket) nextBlock() error {
	for {
		if a.closed.Load() {
			a.unmap()
			return link.ErrClosed
		}
		if atomic.LoadUint32(a.blockStatus(a.block))&unix.TP_STATUS_USER != 0 {
			b := a.ring[a.block*a.bsize:]
			a.remaining = binary.NativeEndian.Uint32(b[bdNumPkts:])
			a.off = int(binary.NativeEndian.Uint32(b[bdFirstPkt:]))
			a.inBlock = true
			return nil
		}
		a.fdmu.RLock()
		fd, efd := a.fd, a.efd
		a.fdmu.RUnlock()
		if fd < 0 {
			return link.ErrClosed
		}
		if a.draining.Load() {
			// Wait once for the kernel to retire a partly filled block
			// (it does after the block timeout), then stop.
			if a.drainWaited {
				return link.ErrClosed
			}
			a.drainWaited = true
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR}}
			_, _ = unix.Poll(pfd, 2*a.timeout+10)
			continue
		}
		wait := pollTimeout
		if !a.deadline.IsZero() {
			left := time.Until(a.deadline)
			if left <= 0 {
				return link.ErrTimeout
			}
			wait = min(wait, int(left/time.Millisecond)+1)
		}
		pfd := []unix.PollFd{
			{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR},
			{Fd: int32(efd), Events: unix.POLLIN},
		}
		if _, err := unix.Poll(pfd, wait); err != nil && !errors.Is(err, unix.EINTR) {
			if a.closed.Load() {
				continue
			}
			return fmt.Errorf("afpacket: poll on %s: %w", a.iface, err)
		}
		if pfd[1].Revents&unix.POLLIN != 0 && !a.draining.Load() && !a.closed.Load() {
			// Wake: consume it and let the caller run its timers.
			var v [8]byte
			_, _ = unix.Read(efd, v[:])
			if !a.deadline.IsZero() {
				return link.ErrTimeout
			}
		}
	}
}

// Send writes one frame on the interface.
func (a *AFPacket) Send(frame []byte) error {
	a.fdmu.RLock()
	fd := a.fd
	if fd < 0 {
		a.fdmu.RUnlock()
		return link.ErrClosed
	}
	_, err := unix.Write(fd, frame)
	a.fdmu.RUnlock()
	if err != nil {
		a.sendErrors.Add(1)
		return fmt.Errorf("afpacket: send on %s: %w", a.iface, err)
	}
	a.sent.Add(1)
	return nil
}

// Stats returns the counters; KernelDrops includes the frames the kernel
// could not put in the ring (PACKET_STATISTICS) up to this call.
func (a *AFPacket) Stats() link.Stats {
	a.smu.Lock()
	a.fdmu.RLock()
	if a.fd >= 0 {
		if st, err := unix.GetsockoptTpacketStatsV3(a.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			a.drops += uint64(st.Drops) // reading resets the kernel counters
		}
	}
	a.fdmu.RUnlock()
	drops := a.drops
	a.smu.Unlock()
	return link.Stats{
		Received:    a.received.Load(),
		Sent:        a.sent.Load(),
		SendErrors:  a.sendErrors.Load(),
		KernelDrops: drops,
	}
}

// Drain makes Recv return the frames already in the ring (and those the
// kernel hands over within twice the block timeout), then ErrClosed,
// instead of waiting for more. It wakes a blocked Recv.
func (a *AFPacket) Drain() {
	a.draining.Store(true)
	a.Wake()
}

// Wake makes a blocked RecvTimeout return link.ErrTimeout (a plain Recv
// goes on waiting; Drain and Close use it to wake a blocked Recv).
func (a *AFPacket) Wake() {
	a.fdmu.RLock()
	if a.efd >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(a.efd, one[:])
	}
	a.fdmu.RUnlock()
}

// Close closes the socket and wakes a blocked Recv, which returns
// ErrClosed. The ring is unmapped once no frame returned by Recv can be
// in use: at Close if the receiving goroutine is idle, otherwise at its
// next Recv.
func (a *AFPacket) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	a.Stats() // collect the last kernel drops
	a.Wake()
	a.rmu.Lock() // a blocked Recv returns promptly
	defer a.rmu.Unlock()
	a.release()
	return nil
}
