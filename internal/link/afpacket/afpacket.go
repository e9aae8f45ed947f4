//go:build linux

// Package afpacket is the live link backend: an AF_PACKET socket with a
// TPACKET_V3 memory-mapped receive ring (a batch of frames per Recv: the
// ready part of one ring block) and a memory-mapped transmit ring (a batch
// of frames per Send, handed to the kernel by one send() system call);
// sendmmsg and one write() per frame are the fallbacks.
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
	// TX is how Send transmits: TXRing (default), TXSendmmsg or TXWrite.
	TX TXMode
	// TXFrames is the number of slots of the transmit ring (default 256).
	TXFrames int
	// Batch is the largest batch Recv returns (BatchSize; default 64).
	Batch int
}

// TXMode is a way of transmitting a batch.
type TXMode string

// The transmit modes.
const (
	// TXRing: a PACKET_TX_RING; a batch is copied into its slots and
	// handed over with one send(). Falls back to TXSendmmsg if the kernel
	// refuses the ring.
	TXRing TXMode = "ring"
	// TXSendmmsg: one sendmmsg() system call per batch.
	TXSendmmsg TXMode = "sendmmsg"
	// TXWrite: one write() per frame (the pre-batching path).
	TXWrite TXMode = "write"
)

// ParseTXMode parses a TXMode name ("" is TXRing).
func ParseTXMode(s string) (TXMode, error) {
	switch m := TXMode(s); m {
	case "":
		return TXRing, nil
	case TXRing, TXSendmmsg, TXWrite:
		return m, nil
	}
	return "", fmt.Errorf("afpacket: unknown transmit mode %q (ring, sendmmsg, write)", s)
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

	defaultBatch    = 64
	defaultTXFrames = 256
	// txFrameSize is one transmit slot: the tpacket3_hdr (48 bytes, the
	// data follow it) and a frame of up to txFrameSize-48 bytes; larger
	// frames go out with write().
	txFrameSize = 1 << 11
	txDataOff   = 48
	// tpacket3_hdr offsets: tp_len, tp_status
	txLenOff    = 16
	txStatusOff = 20
)

var hdrSize = int(unsafe.Sizeof(unix.Tpacket3Hdr{}))

// AFPacket is a link.Link on one interface. Recv must be called from one
// goroutine at a time; Send may be called concurrently with Recv.
type AFPacket struct {
	iface   string
	info    link.Info
	fd      int
	efd     int    // eventfd that wakes a blocked Recv at Close
	mem     []byte // the mapping: the receive ring, then the transmit ring
	ring    []byte // receive ring
	bsize   int
	nblocks int
	batch   int

	// Transmit state, guarded by txmu.
	txmu   sync.Mutex
	txMode TXMode
	txRing []byte // nil: no transmit ring
	txN    int    // slots
	txHead int    // next slot to fill
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec

	// Receive state, owned by the Recv goroutine.
	rmu       sync.Mutex
	block     int  // current block index
	inBlock   bool // block is ours (TP_STATUS_USER) and being walked
	remaining uint32
	off       int
	held      bool   // a frame returned by Recv may still be in use
	vbuf      []byte // frames of the batch with their 802.1Q tag put back
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
	if opts.Batch <= 0 {
		opts.Batch = defaultBatch
	}
	if opts.TXFrames <= 0 {
		opts.TXFrames = defaultTXFrames
	}
	txMode, err := ParseTXMode(string(opts.TX))
	if err != nil {
		return nil, err
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
	a := &AFPacket{iface: iface, fd: fd, efd: -1, bsize: opts.BlockSize, nblocks: opts.BlockCount, timeout: opts.BlockTimeout,
		batch: opts.Batch, txMode: txMode,
		info: link.Info{Name: iface, Index: ifi.Index, MAC: ifi.HardwareAddr, MTU: ifi.MTU, Queue: -1}}
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
	// A full transmit queue makes Send wait at most this long.
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("PACKET_VERSION", err)
	}
	if txMode == TXRing {
		// A malformed frame in the transmit ring is skipped instead of
		// stopping the ring (to be set before any ring).
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1)
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
	rxSize := opts.BlockSize * opts.BlockCount
	txSize := 0
	if txMode == TXRing {
		if txSize, err = a.setTXRing(opts.TXFrames); err != nil {
			a.txMode = TXSendmmsg // an old kernel: no TPACKET_V3 transmit ring
		}
	}
	a.mem, err = unix.Mmap(fd, 0, rxSize+txSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail("mmap", err)
	}
	a.ring = a.mem[:rxSize:rxSize]
	if txSize > 0 {
		a.txRing = a.mem[rxSize:]
	}
	a.info.Backend = "afpacket tpacket-v3 rx ring, tx " + string(a.txMode)
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
	a.vbuf = make([]byte, 0, 64<<10)
	if a.txMode == TXSendmmsg {
		a.msgs = make([]unix.Mmsghdr, opts.Batch)
		a.iovs = make([]unix.Iovec, opts.Batch)
	}
	return a, nil
}

// setTXRing asks for a transmit ring of n slots and returns its size.
func (a *AFPacket) setTXRing(n int) (int, error) {
	const block = 64 << 10
	per := block / txFrameSize
	blocks := (n + per - 1) / per
	req := unix.TpacketReq3{Block_size: block, Block_nr: uint32(blocks), Frame_size: txFrameSize, Frame_nr: uint32(blocks * per)}
	if err := unix.SetsockoptTpacketReq3(a.fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return 0, err
	}
	a.txN = blocks * per
	return blocks * block, nil
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
	if a.mem != nil && !a.held && !a.unmapped {
		a.txmu.Lock() // no Send is writing into the transmit ring
		_ = unix.Munmap(a.mem)
		a.unmapped = true
		a.txRing = nil
		a.txmu.Unlock()
	}
}

// BatchSize is the largest batch Recv returns.
func (a *AFPacket) BatchSize() int { return a.batch }

// Interface describes the interface.
func (a *AFPacket) Interface() link.Info { return a.info }

func (a *AFPacket) blockStatus(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.ring[b*a.bsize+bdBlockStatus]))
}

// Recv returns a batch of frames from the ring: those ready in the
// current block, up to len(frames). Their Data stay valid until the next
// Recv, which gives the block back to the kernel. It waits at most d for
// a block (0: no limit) and then returns link.ErrTimeout.
func (a *AFPacket) Recv(frames []link.Frame, d time.Duration) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	a.rmu.Lock()
	defer a.rmu.Unlock()
	a.deadline = time.Time{}
	if d > 0 {
		a.deadline = time.Now().Add(d)
	}
	a.held = false
	a.vbuf = a.vbuf[:0]
	if a.closed.Load() {
		a.unmap()
		return 0, link.ErrClosed
	}
	n := 0
	for {
		if a.inBlock && a.remaining == 0 {
			// Every frame of the block was consumed (and the previous
			// batch is done with): give it back.
			atomic.StoreUint32(a.blockStatus(a.block), unix.TP_STATUS_KERNEL)
			a.inBlock = false
			a.block = (a.block + 1) % a.nblocks
		}
		if !a.inBlock {
			if err := a.nextBlock(); err != nil {
				return 0, err
			}
			continue
		}
		base := a.block * a.bsize
		for a.remaining > 0 && n < len(frames) {
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
			f := &frames[n]
			f.Data = data
			f.Time = time.Unix(int64(h.Sec), int64(h.Nsec))
			f.ChecksumNotReady = status&unix.TP_STATUS_CSUMNOTREADY != 0
			n++
		}
		if n > 0 {
			// A batch never spans two blocks: the block goes back to the
			// kernel only when the batch's frames are no longer used.
			a.held = true
			a.received.Add(uint64(n))
			return n, nil
		}
	}
}

// Backlog implements link.Backlogger: the frames left in the current
// block plus those of the blocks after it that the kernel has handed
// over.
func (a *AFPacket) Backlog() int {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	if a.ring == nil || a.unmapped || a.closed.Load() {
		return 0
	}
	n := 0
	b := a.block
	if a.inBlock {
		n = int(a.remaining)
		b = (b + 1) % a.nblocks
	}
	for range a.nblocks {
		if b == a.block && a.inBlock {
			break
		}
		if atomic.LoadUint32(a.blockStatus(b))&unix.TP_STATUS_USER == 0 {
			break
		}
		n += int(binary.NativeEndian.Uint32(a.ring[b*a.bsize+bdNumPkts:]))
		b = (b + 1) % a.nblocks
	}
	return n
}

var _ link.Backlogger = (*AFPacket)(nil)

// insertVLAN copies data, with the 802.1Q tag (tpid, tci) put back after
// the MAC addresses, to the end of the batch's buffer. (When the buffer
// grows, the earlier frames of the batch keep the old array.)
func (a *AFPacket) insertVLAN(data []byte, tpid, tci uint16) []byte {
	if len(data) < 12 {
		return data
	}
	b := a.vbuf
	start := len(b)
	b = append(b, data[:12]...)
	b = binary.BigEndian.AppendUint16(b, tpid)
	b = binary.BigEndian.AppendUint16(b, tci)
	b = append(b, data[12:]...)
	a.vbuf = b
	return b[start:len(b):len(b)]
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

// Send transmits frames: copied into the transmit ring and handed to the
// kernel with one send(), or with one sendmmsg(), or one write() each,
// as the link was opened.
func (a *AFPacket) Send(frames [][]byte) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	a.fdmu.RLock()
	defer a.fdmu.RUnlock()
	if a.fd < 0 {
		return 0, link.ErrClosed
	}
	a.txmu.Lock()
	defer a.txmu.Unlock()
	var n int
	var err error
	switch {
	case a.txRing != nil:
		n, err = a.sendRing(frames)
	case a.txMode == TXSendmmsg:
		n, err = a.sendmmsg(frames)
	default:
		n, err = a.sendWrite(frames)
	}
	a.sent.Add(uint64(n))
	if err != nil {
		a.sendErrors.Add(uint64(len(frames) - n))
		return n, fmt.Errorf("afpacket: send on %s: %w", a.iface, err)
	}
	return n, nil
}

func (a *AFPacket) txStatus(slot int) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.txRing[slot*txFrameSize+txStatusOff]))
}

// kick asks the kernel to transmit the slots marked for sending; with
// wait it returns when they are sent.
func (a *AFPacket) kick(wait bool) error {
	flags := unix.MSG_DONTWAIT
	if wait {
		flags = 0
	}
	for {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(a.fd), 0, 0, uintptr(flags), 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.ENOBUFS:
			// ENOBUFS/EAGAIN: the device queue is full; the slots stay
			// marked and go with the next kick
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// sendRing copies frames into free slots of the transmit ring, marks them
// for sending and kicks the kernel once. A frame too large for a slot is
// written directly (after the ones before it are sent, to keep the order).
func (a *AFPacket) sendRing(frames [][]byte) (int, error) {
	n, marked := 0, 0
	for _, f := range frames {
		if len(f) > txFrameSize-txDataOff {
			if marked > 0 {
				if err := a.kick(true); err != nil {
					return n - marked, err
				}
				marked = 0
			}
			if _, err := unix.Write(a.fd, f); err != nil {
				return n, err
			}
			n++
			continue
		}
		st := a.txStatus(a.txHead)
		if s := atomic.LoadUint32(st); s&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_SENDING) != 0 {
			// the ring is full: let the kernel send what is marked and
			// wait for it
			if err := a.kick(true); err != nil {
				return n - marked, err
			}
			marked = 0
			if s = atomic.LoadUint32(st); s&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_SENDING) != 0 {
				return n, unix.ENOBUFS
			}
		}
		slot := a.txRing[a.txHead*txFrameSize : (a.txHead+1)*txFrameSize]
		copy(slot[txDataOff:], f)
		binary.NativeEndian.PutUint32(slot[txLenOff:], uint32(len(f)))
		binary.NativeEndian.PutUint32(slot[0:], 0) // tp_next_offset must be 0
		atomic.StoreUint32(st, unix.TP_STATUS_SEND_REQUEST)
		a.txHead++
		if a.txHead == a.txN {
			a.txHead = 0
		}
		marked++
		n++
	}
	if marked > 0 {
		if err := a.kick(false); err != nil {
			return n - marked, err
		}
	}
	return n, nil
}

// sendmmsg sends frames with sendmmsg(), len(a.msgs) at a time.
func (a *AFPacket) sendmmsg(frames [][]byte) (int, error) {
	n := 0
	for n < len(frames) {
		k := min(len(frames)-n, len(a.msgs))
		for i := range k {
			f := frames[n+i]
			a.iovs[i] = unix.Iovec{Base: unsafe.SliceData(f)}
			a.iovs[i].SetLen(len(f))
			a.msgs[i] = unix.Mmsghdr{}
			a.msgs[i].Hdr.Iov = &a.iovs[i]
			a.msgs[i].Hdr.SetIovlen(1)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(a.fd), uintptr(unsafe.Pointer(&a.msgs[0])), uintptr(k), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return n, e
		}
		if r == 0 {
			return n, unix.EIO
		}
		n += int(r)
	}
	return n, nil
}

// sendWrite writes the frames one by one.
func (a *AFPacket) sendWrite(frames [][]byte) (int, error) {
	for i, f := range frames {
		if _, err := unix.Write(a.fd, f); err != nil {
			return i, err
		}
	}
	return len(frames), nil
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

// Wake makes a blocked Recv with a timeout return link.ErrTimeout (one
// without goes on waiting; Drain and Close use it to wake a blocked Recv).
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
