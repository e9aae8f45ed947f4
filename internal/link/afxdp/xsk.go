//go:build linux

package afxdp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// xsk is one AF_XDP socket bound to one receive queue, with its own UMEM:
// the first half of the frames feeds the fill ring (receive), the second
// half is the transmit pool. Every frame is always in exactly one place:
// the fill ring (or fillWait) or the kernel's receive path, a received
// batch, the free transmit list, the tx ring or the kernel's transmit path
// (then the completion ring). Fill and rx rings have as many entries as
// there are receive frames, tx and completion as many as transmit frames,
// so producing into them finds them full only while the kernel has not
// yet published a consumption it made (see refill).
type xsk struct {
	fd        int
	queue     int
	zeroCopy  bool
	umem      []byte
	frameSize uint64
	mmaps     [][]byte

	fill, comp, rx, tx   ring
	fillAddrs, compAddrs []uint64
	rxDescs, txDescs     []unix.XDPDesc

	txFree   []uint64 // free transmit frames
	fillWait []uint64 // received frames waiting for room in the fill ring (cap nrx)
	nrx      uint32   // receive frames (fill and rx ring entries)
	ntx      uint32   // transmit frames (tx and completion ring entries)
}

// Sizes of one socket's UMEM.
const (
	frameSize = 2048
	rxFrames  = 16384 // default: 32 MiB, as the AF_PACKET ring
	txFrames  = 4096
)

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func mmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	n := uint32(unsafe.Sizeof(off))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return off, e
	}
	return off, nil
}

func xdpStats(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return st, e
	}
	return st, nil
}

// openXSK creates a socket on queue of ifindex, zero-copy if zeroCopy
// (the caller falls back to copy mode on error). A bind that finds the
// queue still held by a socket closed an instant ago (EBUSY: the kernel
// releases it asynchronously) is retried for up to busyWait.
func openXSK(ifindex, queue int, zeroCopy bool, nrx int, busyWait time.Duration) (*xsk, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_XDP): %w", err)
	}
	x := &xsk{fd: fd, queue: queue, zeroCopy: zeroCopy, frameSize: frameSize, nrx: uint32(nrx), ntx: txFrames}
	if err := x.setup(ifindex, busyWait); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

func (x *xsk) setup(ifindex int, busyWait time.Duration) error {
	var err error
	rxFrames, txFrames := int(x.nrx), int(x.ntx)
	n := rxFrames + txFrames
	x.umem, err = unix.Mmap(-1, 0, n*frameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("UMEM mmap: %w", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))), Len: uint64(len(x.umem)), Size: frameSize}
	if err := setsockopt(x.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fmt.Errorf("XDP_UMEM_REG: %w", err)
	}
	for _, r := range []struct{ opt, n int }{
		{unix.XDP_UMEM_FILL_RING, rxFrames}, {unix.XDP_UMEM_COMPLETION_RING, txFrames},
		{unix.XDP_RX_RING, rxFrames}, {unix.XDP_TX_RING, txFrames},
	} {
		v := int32(r.n)
		if err := setsockopt(x.fd, r.opt, unsafe.Pointer(&v), 4); err != nil {
			return fmt.Errorf("ring size (option %d): %w", r.opt, err)
		}
	}
	off, err := mmapOffsets(x.fd)
	if err != nil {
		return fmt.Errorf("XDP_MMAP_OFFSETS: %w", err)
	}
	mm := func(pgoff int64, o unix.XDPRingOffset, entries int, esize uintptr) ([]byte, error) {
		m, err := unix.Mmap(x.fd, pgoff, int(o.Desc)+entries*int(esize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("ring mmap: %w", err)
		}
		x.mmaps = append(x.mmaps, m)
		return m, nil
	}
	m, err := mm(unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, rxFrames, 8)
	if err != nil {
		return err
	}
	p, c, f, d := ringMem(m, off.Fr.Producer, off.Fr.Consumer, off.Fr.Flags, off.Fr.Desc)
	x.fill, x.fillAddrs = newProducer(p, c, f, x.nrx), unsafe.Slice((*uint64)(d), rxFrames)
	if m, err = mm(unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, txFrames, 8); err != nil {
		return err
	}
	p, c, f, d = ringMem(m, off.Cr.Producer, off.Cr.Consumer, off.Cr.Flags, off.Cr.Desc)
	x.comp, x.compAddrs = newConsumer(p, c, f, x.ntx), unsafe.Slice((*uint64)(d), txFrames)
	if m, err = mm(unix.XDP_PGOFF_RX_RING, off.Rx, rxFrames, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return err
	}
	p, c, f, d = ringMem(m, off.Rx.Producer, off.Rx.Consumer, off.Rx.Flags, off.Rx.Desc)
	x.rx, x.rxDescs = newConsumer(p, c, f, x.nrx), unsafe.Slice((*unix.XDPDesc)(d), rxFrames)
	if m, err = mm(unix.XDP_PGOFF_TX_RING, off.Tx, txFrames, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return err
	}
	p, c, f, d = ringMem(m, off.Tx.Producer, off.Tx.Consumer, off.Tx.Flags, off.Tx.Desc)
	x.tx, x.txDescs = newProducer(p, c, f, x.ntx), unsafe.Slice((*unix.XDPDesc)(d), txFrames)

	// every receive frame to the fill ring, every transmit frame free
	for i := range uint32(rxFrames) {
		x.fillAddrs[(x.fill.local+i)&x.fill.mask] = uint64(i) * frameSize
	}
	x.fill.produced(uint32(rxFrames))
	x.fill.publish()
	x.txFree = make([]uint64, 0, txFrames)
	x.fillWait = make([]uint64, 0, rxFrames)
	for i := txFrames - 1; i >= 0; i-- {
		x.txFree = append(x.txFree, uint64(rxFrames+i)*frameSize)
	}

	// Raise the copy-mode transmit budget per sendto (32 by default) where
	// the kernel knows the option.
	budget := int32(256)
	_ = setsockopt(x.fd, unix.XDP_MAX_TX_SKB_BUDGET, unsafe.Pointer(&budget), 4)

	flags := uint16(unix.XDP_COPY)
	if x.zeroCopy {
		flags = unix.XDP_ZEROCOPY | unix.XDP_USE_NEED_WAKEUP
	}
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(x.queue)}
	deadline := time.Now().Add(busyWait)
	for {
		err = unix.Bind(x.fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		mode := "copy"
		if x.zeroCopy {
			mode = "zero-copy"
		}
		return fmt.Errorf("bind to queue %d (%s mode): %w", x.queue, mode, err)
	}
	return nil
}

func (x *xsk) close() {
	if x.fd >= 0 {
		_ = unix.Close(x.fd)
		x.fd = -1
	}
	for _, m := range x.mmaps {
		_ = unix.Munmap(m)
	}
	x.mmaps = nil
	if x.umem != nil {
		_ = unix.Munmap(x.umem)
		x.umem = nil
	}
}

// recv moves up to len(out) descriptors from the rx ring to out and
// gives the ring slots back; the frames stay ours until refill.
func (x *xsk) recv(out []unix.XDPDesc) int {
	n := x.rx.avail(uint32(len(out)))
	for i := range n {
		out[i] = x.rxDescs[(x.rx.local+i)&x.rx.mask]
	}
	if n > 0 {
		x.rx.release(n)
	}
	return int(n)
}

// refill returns received frames to the fill ring (addresses are masked
// to their frame: copy mode hands out an offset inside it).
//
// The ring can lack room for a moment although it has as many entries as
// there are receive frames: the kernel publishes a receive batch on the
// rx ring before it publishes, on the fill ring, that it consumed those
// frames' addresses (xsk_flush), so a batch read in between, or with the
// kernel's CPU preempted there, comes back before its slots are free.
// So frames go through fillWait: what the ring has no room for stays
// there and goes back first at the next refill.
func (x *xsk) refill(ds []unix.XDPDesc) {
	for _, d := range ds {
		if len(x.fillWait) == cap(x.fillWait) {
			// only a frame handed out twice could get here (every
			// frame is in one place): dropping it keeps the bound
			continue
		}
		x.fillWait = append(x.fillWait, d.Addr&^(x.frameSize-1))
	}
	x.flushFill()
}

// flushFill moves waiting frames to the fill ring as far as it has room
// and reports whether some still wait.
func (x *xsk) flushFill() bool {
	w := uint32(len(x.fillWait))
	if w == 0 {
		return false
	}
	m := min(w, x.fill.free(w))
	if m == 0 {
		return true
	}
	for i := range m {
		x.fillAddrs[(x.fill.local+i)&x.fill.mask] = x.fillWait[i]
	}
	x.fill.produced(m)
	x.fillWait = x.fillWait[:copy(x.fillWait, x.fillWait[m:])]
	x.fill.publish()
	if x.zeroCopy && x.fill.needWakeup() {
		_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	return len(x.fillWait) > 0
}

// frame returns the bytes of a received descriptor.
func (x *xsk) frame(d unix.XDPDesc) []byte {
	end := d.Addr + uint64(d.Len)
	return x.umem[d.Addr:end:end]
}

// complete moves finished transmissions back to the free list.
func (x *xsk) complete() {
	n := x.comp.avail(x.ntx)
	for i := range n {
		x.txFree = append(x.txFree, x.compAddrs[(x.comp.local+i)&x.comp.mask]&^(x.frameSize-1))
	}
	if n > 0 {
		x.comp.release(n)
	}
}

// errTxFull: no transmit frame is free even after a kick (the kernel is
// behind); the frame is dropped rather than waited for.
var errTxFull = errors.New("transmit ring full")

// errTooBig: the frame does not fit in a UMEM frame.
var errTooBig = errors.New("frame larger than a UMEM frame")

// queueTx copies frame into a free transmit frame and produces its
// descriptor, unpublished until flush.
func (x *xsk) queueTx(frame []byte) error {
	if uint64(len(frame)) > x.frameSize {
		return errTooBig
	}
	if len(x.txFree) == 0 {
		x.complete()
		if len(x.txFree) == 0 {
			x.flush()
			x.complete()
			if len(x.txFree) == 0 {
				return errTxFull
			}
		}
	}
	addr := x.txFree[len(x.txFree)-1]
	x.txFree = x.txFree[:len(x.txFree)-1]
	copy(x.umem[addr:addr+x.frameSize], frame)
	// a free frame implies a free tx slot: at most txFrames in flight
	x.txDescs[x.tx.local&x.tx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(len(frame))}
	x.tx.produced(1)
	return nil
}

// flush publishes the produced transmit descriptors and makes the kernel
// send them: in copy mode sendto transmits up to a budget per call and
// says EAGAIN while more are left; in zero-copy mode it only wakes the
// driver, and only when the driver asked for it.
func (x *xsk) flush() {
	if x.tx.unpublished() {
		x.tx.publish()
	}
	if x.tx.outstanding() == 0 {
		return
	}
	if x.zeroCopy {
		if x.tx.needWakeup() {
			_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		}
		return
	}
	for range 64 {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if e != 0 && e != unix.EAGAIN && e != unix.EBUSY {
			return // ENOBUFS, ENETDOWN...: the next flush tries again
		}
		if x.tx.outstanding() == 0 {
			return
		}
	}
}

// MaxMTU is the largest interface MTU whose frames (with one VLAN tag)
// fit in a UMEM frame after the kernel's XDP headroom.
const MaxMTU = frameSize - unix.XDP_PACKET_HEADROOM - 18

// RxQueues returns the number of receive queues of iface: the ethtool
// channel counts, else the rx-N entries in sysfs, else 1.
func RxQueues(iface string) int {
	if n := ethtoolQueues(iface); n > 0 {
		return n
	}
	if m, _ := filepath.Glob(filepath.Join("/sys/class/net", iface, "queues", "rx-*")); len(m) > 0 {
		return len(m)
	}
	return 1
}

func ethtoolQueues(iface string) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	// struct ethtool_channels: cmd, max_rx, max_tx, max_other,
	// max_combined, rx_count, tx_count, other_count, combined_count
	ch := [9]uint32{unix.ETHTOOL_GCHANNELS}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], iface)
	ifr.data = unsafe.Pointer(&ch)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ch)
	if e != 0 {
		return 0
	}
	return int(ch[5] + ch[8])
}

// driver names the interface's driver (for the startup line).
func driver(iface string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		if d, err := unix.IoctlGetEthtoolDrvinfo(fd, iface); err == nil {
			return unix.ByteSliceToString(d.Driver[:])
		}
	}
	if t, err := os.Readlink(filepath.Join("/sys/class/net", iface, "device", "driver")); err == nil {
		return filepath.Base(t)
	}
	return strings.TrimSpace("unknown")
}
