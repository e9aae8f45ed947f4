package afxdp

import (
	"sync/atomic"
	"unsafe"
)

// ring is the index half of an AF_XDP ring (fill, completion, rx or tx):
// a producer and a consumer index shared with the kernel, free-running
// uint32 counters (wrap-around is part of the arithmetic), and a
// power-of-two number of entries. The side we own is kept in local and
// published with an atomic store; the kernel's side is cached in cached
// and re-read with an atomic load only when the cache says the ring is
// full (producer rings) or empty (consumer rings).
type ring struct {
	prod, cons *uint32
	flags      *uint32
	size, mask uint32
	local      uint32 // producer ring: our producer; consumer ring: our consumer
	cached     uint32 // producer ring: the kernel's consumer; consumer ring: the kernel's producer
}

// Producer side (fill, tx).

func newProducer(prod, cons, flags *uint32, size uint32) ring {
	r := ring{prod: prod, cons: cons, flags: flags, size: size, mask: size - 1}
	r.local = atomic.LoadUint32(prod)
	r.cached = atomic.LoadUint32(cons)
	return r
}

// free returns how many entries can be produced, reading the kernel's
// consumer only if fewer than want are known to be free.
func (r *ring) free(want uint32) uint32 {
	f := r.size - (r.local - r.cached)
	if f >= want {
		return f
	}
	r.cached = atomic.LoadUint32(r.cons)
	return r.size - (r.local - r.cached)
}

// produced advances our producer by n entries already written, without
// publishing them.
func (r *ring) produced(n uint32) { r.local += n }

// publish makes the produced entries visible to the kernel.
func (r *ring) publish() { atomic.StoreUint32(r.prod, r.local) }

// unpublished reports whether produced entries are not yet published.
func (r *ring) unpublished() bool { return r.pending() != 0 }

// pending is the number of produced entries not yet published.
func (r *ring) pending() uint32 { return r.local - atomic.LoadUint32(r.prod) }

// outstanding is the number of published entries the kernel has not
// consumed yet.
func (r *ring) outstanding() uint32 { return r.local - atomic.LoadUint32(r.cons) }

// Consumer side (rx, completion).

func newConsumer(prod, cons, flags *uint32, size uint32) ring {
	r := ring{prod: prod, cons: cons, flags: flags, size: size, mask: size - 1}
	r.local = atomic.LoadUint32(cons)
	r.cached = atomic.LoadUint32(prod)
	return r
}

// avail returns how many entries (at most want) can be consumed, reading
// the kernel's producer only when none are known.
func (r *ring) avail(want uint32) uint32 {
	a := r.cached - r.local
	if a == 0 {
		r.cached = atomic.LoadUint32(r.prod)
		a = r.cached - r.local
	}
	return min(a, want)
}

// ready is the number of entries the kernel has produced and we have not
// consumed (one atomic load).
func (r *ring) ready() uint32 { return atomic.LoadUint32(r.prod) - r.local }

// release gives n consumed entries back to the kernel.
func (r *ring) release(n uint32) {
	r.local += n
	atomic.StoreUint32(r.cons, r.local)
}

// needWakeup reports the kernel's XDP_RING_NEED_WAKEUP flag.
func (r *ring) needWakeup() bool {
	return r.flags != nil && atomic.LoadUint32(r.flags)&xdpRingNeedWakeup != 0
}

const xdpRingNeedWakeup = 1

// ringMem locates a ring's indexes and entries in its mapping, from the
// offsets XDP_MMAP_OFFSETS gave.
func ringMem(m []byte, prodOff, consOff, flagsOff, descOff uint64) (prod, cons, flags *uint32, desc unsafe.Pointer) {
	prod = (*uint32)(unsafe.Pointer(&m[prodOff]))
	cons = (*uint32)(unsafe.Pointer(&m[consOff]))
	flags = (*uint32)(unsafe.Pointer(&m[flagsOff]))
	desc = unsafe.Pointer(&m[descOff])
	return
}
