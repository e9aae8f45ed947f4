//go:build linux

package afxdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Index arithmetic near the uint32 wrap-around, with the kernel's side
// played by the test.
func TestRingWrap(t *testing.T) {
	for _, start := range []uint32{0, 5, math.MaxUint32 - 3, math.MaxUint32} {
		var prod, cons uint32 = start, start
		p := newProducer(&prod, &cons, nil, 8)
		if f := p.free(1); f != 8 {
			t.Fatalf("start %d: free %d on an empty ring", start, f)
		}
		p.produced(6)
		if prod != start {
			t.Fatal("produced published")
		}
		if p.pending() != 6 || !p.unpublished() {
			t.Fatalf("pending %d", p.pending())
		}
		p.publish()
		if prod != start+6 || p.unpublished() {
			t.Fatalf("start %d: producer %d after publish", start, prod)
		}
		if f := p.free(3); f != 2 {
			t.Fatalf("start %d: free %d, want 2", start, f)
		}
		if p.outstanding() != 6 {
			t.Fatalf("outstanding %d", p.outstanding())
		}
		// the kernel consumes 4: free grows only when asked for more than known
		cons += 4
		if f := p.free(2); f != 2 {
			t.Fatalf("start %d: free %d from the cache, want 2", start, f)
		}
		if f := p.free(5); f != 6 {
			t.Fatalf("start %d: free %d after reload, want 6", start, f)
		}

		// consumer side over the same indexes: the kernel produced 6
		var kprod, ucons uint32 = start + 6, start
		c := newConsumer(&kprod, &ucons, nil, 8)
		if a := c.avail(4); a != 4 {
			t.Fatalf("start %d: avail %d, want 4", start, a)
		}
		c.release(4)
		if ucons != start+4 {
			t.Fatalf("consumer %d", ucons)
		}
		if a := c.avail(8); a != 2 {
			t.Fatalf("start %d: avail %d, want 2", start, a)
		}
		c.release(2)
		if a := c.avail(8); a != 0 {
			t.Fatalf("avail %d on an empty ring", a)
		}
		kprod += 3
		if a := c.avail(8); a != 3 {
			t.Fatalf("start %d: avail %d after the kernel produced 3", start, a)
		}
	}
}

func TestNeedWakeup(t *testing.T) {
	var prod, cons, flags uint32
	r := newProducer(&prod, &cons, &flags, 4)
	if r.needWakeup() {
		t.Fatal("flag not set")
	}
	flags = xdpRingNeedWakeup
	if !r.needWakeup() {
		t.Fatal("flag set")
	}
	r2 := newProducer(&prod, &cons, nil, 4)
	if r2.needWakeup() {
		t.Fatal("no flags word")
	}
}

// fakeKernel holds ring memory allocated by the test, as a kernel would
// map it, for one socket with small rings.
type fakeKernel struct {
	fillP, fillC, compP, compC, rxP, rxC, txP, txC uint32
	fill, comp                                     []uint64
	rx, tx                                         []unix.XDPDesc
}

const fakeFrames = 8

func fakeXSK() (*xsk, *fakeKernel) {
	k := &fakeKernel{
		fill: make([]uint64, fakeFrames), comp: make([]uint64, fakeFrames),
		rx: make([]unix.XDPDesc, fakeFrames), tx: make([]unix.XDPDesc, fakeFrames),
	}
	x := &xsk{fd: -1, frameSize: frameSize, umem: make([]byte, 2*fakeFrames*frameSize), nrx: fakeFrames, ntx: fakeFrames,
		fillWait: make([]uint64, 0, fakeFrames)}
	x.fill, x.fillAddrs = newProducer(&k.fillP, &k.fillC, nil, fakeFrames), k.fill
	x.comp, x.compAddrs = newConsumer(&k.compP, &k.compC, nil, fakeFrames), k.comp
	x.rx, x.rxDescs = newConsumer(&k.rxP, &k.rxC, nil, fakeFrames), k.rx
	x.tx, x.txDescs = newProducer(&k.txP, &k.txC, nil, fakeFrames), k.tx
	for i := range fakeFrames {
		x.txFree = append(x.txFree, uint64(fakeFrames+i)*frameSize)
	}
	return x, k
}

// fillAll gives every receive frame to the fill ring, as setup does.
func fillAll(x *xsk) {
	ds := make([]unix.XDPDesc, fakeFrames)
	for i := range ds {
		ds[i].Addr = uint64(i) * frameSize
	}
	x.refill(ds)
}

// The kernel receives a frame into fill-ring frame addr at offset off.
func (k *fakeKernel) receive(x *xsk, off uint64, data []byte) {
	addr := k.fill[k.fillC%fakeFrames]
	k.fillC++
	copy(x.umem[addr+off:], data)
	k.rx[k.rxP%fakeFrames] = unix.XDPDesc{Addr: addr + off, Len: uint32(len(data))}
	k.rxP++
}

// The kernel transmits everything on the tx ring, returning the frames
// on the completion ring, and returns what it sent.
func (k *fakeKernel) transmit(x *xsk) [][]byte {
	var out [][]byte
	for k.txC != k.txP {
		d := k.tx[k.txC%fakeFrames]
		k.txC++
		out = append(out, append([]byte(nil), x.umem[d.Addr:d.Addr+uint64(d.Len)]...))
		k.comp[k.compP%fakeFrames] = d.Addr
		k.compP++
	}
	return out
}

func TestDescriptorsFakeUMEM(t *testing.T) {
	x, k := fakeXSK()
	// every receive frame to the fill ring
	fillAll(x)
	if k.fillP != fakeFrames {
		t.Fatalf("fill producer %d", k.fillP)
	}
	// copy mode hands out frames at an offset (headroom)
	k.receive(x, 256, []byte("first"))
	k.receive(x, 256, []byte("second!"))
	var batch [4]unix.XDPDesc
	n := x.recv(batch[:])
	if n != 2 || k.rxC != 2 {
		t.Fatalf("recv %d, rx consumer %d", n, k.rxC)
	}
	if got := x.frame(batch[0]); string(got) != "first" || cap(got) != len(got) {
		t.Errorf("frame 0 %q cap %d", got, cap(got))
	}
	if got := x.frame(batch[1]); string(got) != "second!" {
		t.Errorf("frame 1 %q", got)
	}
	// back to the fill ring, masked to the frame start
	x.refill(batch[:n])
	if k.fillP != fakeFrames+2 || k.fill[(fakeFrames)%fakeFrames] != 0 || k.fill[(fakeFrames+1)%fakeFrames] != frameSize {
		t.Errorf("refilled %v (producer %d)", k.fill, k.fillP)
	}

	// transmit: frames are copied, published at flush, recycled through
	// the completion ring
	for i := range fakeFrames {
		if err := x.queueTx([]byte{'r', byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if k.txP != 0 {
		t.Fatal("published before flush")
	}
	if err := x.queueTx([]byte("one too many")); !errors.Is(err, errTxFull) {
		t.Fatalf("queueTx with every frame in flight: %v", err)
	}
	x.flush() // fd -1: the kick fails, the descriptors are published
	if k.txP != fakeFrames {
		t.Fatalf("tx producer %d after flush", k.txP)
	}
	sent := k.transmit(x)
	if len(sent) != fakeFrames || !bytes.Equal(sent[0], []byte("r0")) || !bytes.Equal(sent[7], []byte("r7")) {
		t.Fatalf("sent %q", sent)
	}
	if err := x.queueTx([]byte("after completion")); err != nil {
		t.Fatalf("queueTx after the kernel completed: %v", err)
	}
	if len(x.txFree) != fakeFrames-1 {
		t.Errorf("free list %d, want %d", len(x.txFree), fakeFrames-1)
	}
	if err := x.queueTx(make([]byte, frameSize+1)); !errors.Is(err, errTooBig) {
		t.Errorf("oversized frame: %v", err)
	}
	// the transmit frames never overlap the receive frames
	for _, a := range x.txFree {
		if a < fakeFrames*frameSize {
			t.Errorf("transmit frame %d in the receive half", a)
		}
	}
}

func TestRingLayout(t *testing.T) {
	m := make([]byte, 4096)
	p, c, f, d := ringMem(m, 0, 64, 128, 192)
	*p, *c, *f = 1, 2, 3
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != 1 || ne.Uint32(m[64:]) != 2 || ne.Uint32(m[128:]) != 3 || uintptr(d) != uintptr(unsafe.Pointer(&m[192])) {
		t.Fatal("layout")
	}
}

// The packet path does not allocate: receive a batch, queue replies,
// refill, complete.
func TestNoAllocs(t *testing.T) {
	x, k := fakeXSK()
	fillAll(x)
	frame := make([]byte, 60)
	var batch [4]unix.XDPDesc
	allocs := testing.AllocsPerRun(100, func() {
		k.receive(x, 256, frame)
		n := x.recv(batch[:])
		_ = x.queueTx(x.frame(batch[0]))
		x.refill(batch[:n])
		x.tx.publish()
		k.txC, k.compP = k.txC+1, k.compP+1
		k.comp[(k.compP-1)%fakeFrames] = k.tx[(k.txC-1)%fakeFrames].Addr
		x.complete()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

// The kernel publishes a receive batch before it publishes that it took
// those frames from the fill ring: a batch read in between comes back
// while the ring looks full. It waits, nothing is lost or duplicated, and
// it goes back first once the kernel's consumer moves.
func TestRefillKernelLag(t *testing.T) {
	x, k := fakeXSK()
	fillAll(x)
	// three frames received, the fill consumer not yet published
	taken := k.fillC
	for range 3 {
		addr := k.fill[taken%fakeFrames]
		taken++
		k.rx[k.rxP%fakeFrames] = unix.XDPDesc{Addr: addr + 256, Len: 60}
		k.rxP++
	}
	var batch [4]unix.XDPDesc
	n := x.recv(batch[:])
	if n != 3 {
		t.Fatalf("recv %d", n)
	}
	x.refill(batch[:n]) // used to panic: fill ring overflow
	if len(x.fillWait) != 3 || k.fillP != fakeFrames {
		t.Fatalf("waiting %d, fill producer %d", len(x.fillWait), k.fillP)
	}
	if !x.flushFill() {
		t.Fatal("flushFill with the consumer still behind")
	}
	// the kernel publishes two of them, then the third
	k.fillC += 2
	if !x.flushFill() || len(x.fillWait) != 1 || k.fillP != fakeFrames+2 {
		t.Fatalf("after 2: waiting %d, producer %d", len(x.fillWait), k.fillP)
	}
	k.fillC = taken
	// a new batch while one frame waits: the waiting one goes first
	k.receive(x, 256, []byte("x"))
	n = x.recv(batch[:])
	x.refill(batch[:n])
	if len(x.fillWait) != 0 || k.fillP != fakeFrames+4 {
		t.Fatalf("after refill: waiting %d, producer %d", len(x.fillWait), k.fillP)
	}
	// every receive frame exactly once in the ring
	seen := map[uint64]int{}
	for i := k.fillC; i != k.fillP; i++ {
		seen[k.fill[i%fakeFrames]]++
	}
	if len(seen) != fakeFrames {
		t.Fatalf("fill ring holds %d distinct frames: %v", len(seen), seen)
	}
	for a, c := range seen {
		if c != 1 || a%frameSize != 0 || a >= fakeFrames*frameSize {
			t.Errorf("frame %d: %d times", a, c)
		}
	}
}
