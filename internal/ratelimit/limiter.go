// Package ratelimit keeps masscanned from being used as a reflector: every
// reply the stack is about to send is charged to token buckets of its
// destination (the packet's source) host, of its network and to a global
// bucket, per reply class, and is sent only if all of them allow it.
//
// The buckets are GCRA token buckets (one int64 "theoretical arrival time"
// per bucket), kept in fixed-size, set-associative tables with LRU eviction
// per set, so memory is bounded whatever the number of sources. Allow does
// no heap allocation, reads the time only from its argument, and is safe
// for concurrent use: each table is split into shards with their own
// mutex, and the global buckets are lock-free (compare-and-swap).
//
// A nil *Limiter allows everything (--no-rate-limit).
package ratelimit

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Class is the kind of reply being charged.
type Class uint8

const (
	// UDPBytes is any UDP reply; it is charged its size in bytes.
	UDPBytes Class = iota
	// ICMP is any ICMP or ICMPv6 reply; it is charged one per packet.
	ICMP
	// SYNACK is a SYN-ACK; it is charged one per packet.
	SYNACK

	numClasses
)

// String returns the class name used in logs and flags.
func (c Class) String() string {
	switch c {
	case UDPBytes:
		return "udp-bytes"
	case ICMP:
		return "icmp"
	case SYNACK:
		return "synack"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Scope says which bucket refused a reply.
type Scope uint8

const (
	// Allowed means no bucket refused: the reply may be sent.
	Allowed Scope = iota
	// ScopeHost is the per-host bucket (IPv4 /32, IPv6 /64).
	ScopeHost
	// ScopeNet is the per-network bucket (IPv4 /24, IPv6 /48).
	ScopeNet
	// ScopeGlobal is the global bucket of the class.
	ScopeGlobal
)

// String returns the scope name used in events.
func (s Scope) String() string {
	switch s {
	case Allowed:
		return "allowed"
	case ScopeHost:
		return "host"
	case ScopeNet:
		return "net"
	case ScopeGlobal:
		return "global"
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// bucket is the immutable configuration of one GCRA bucket.
type bucket struct {
	enabled  bool
	interval float64 // nanoseconds per unit (1e9 / rate)
	burstNs  int64   // burst expressed in nanoseconds: burst * interval
}

func newBucket(r Rate) bucket {
	if r.PerSecond <= 0 {
		return bucket{}
	}
	burst := r.Burst
	if burst <= 0 {
		burst = r.PerSecond
	}
	iv := 1e9 / r.PerSecond
	b := burst * iv
	if b > math.MaxInt64/4 {
		b = math.MaxInt64 / 4
	}
	return bucket{enabled: true, interval: iv, burstNs: int64(b)}
}

// cost converts n units into nanoseconds of bucket time. ok is false if n
// units can never fit in the bucket.
func (b *bucket) cost(n int) (c int64, ok bool) {
	f := float64(n) * b.interval
	if f > float64(b.burstNs) {
		return 0, false
	}
	return int64(f), true
}

// take returns the new theoretical arrival time if cost fits in the bucket
// whose state is tat at time now.
func (b *bucket) take(tat, now, cost int64) (int64, bool) {
	if tat < now {
		tat = now // the bucket is full
	}
	nt := tat + cost
	if nt-now > b.burstNs {
		return 0, false
	}
	return nt, true
}

// clamp returns the state to store if the clock went backwards: a state
// more than a burst ahead of now can only come from a later clock reading,
// and is treated as an empty bucket (which refills within one burst time)
// rather than refusing for as long as the clock jumped back.
func (b *bucket) clamp(tat, now int64) int64 {
	if tat-now > b.burstNs {
		return now + b.burstNs
	}
	return tat
}

// classState is the per-class configuration and global state.
type classState struct {
	v4host, v4net, v6host, v6net, global bucket

	globalTAT       atomic.Int64
	suppressed      atomic.Uint64
	suppressedUnits atomic.Uint64
	_               [64]byte // keep classes on separate cache lines
}

// Limiter enforces the budgets of a Config. Create it with New.
type Limiter struct {
	cfg     Config
	classes [numClasses]classState
	v4host  table // keyed by the IPv4 address
	v4net   table // keyed by the IPv4 /24
	v6host  table // keyed by the upper 64 bits
	v6net   table // keyed by the upper 48 bits
}

// New returns a Limiter for cfg; zero TableSize means the default. The
// tables are allocated here, once.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TableSize == 0 {
		cfg.TableSize = DefaultConfig().TableSize
	}
	size := 64
	for size < cfg.TableSize {
		size <<= 1
	}
	cfg.TableSize = size
	l := &Limiter{cfg: cfg}
	for c := Class(0); c < numClasses; c++ {
		lim := cfg.Limits(c)
		cs := &l.classes[c]
		cs.v4host = newBucket(lim.PerIPv4Host)
		cs.v4net = newBucket(lim.PerIPv4Net)
		cs.v6host = newBucket(lim.PerIPv6Host)
		cs.v6net = newBucket(lim.PerIPv6Net)
		cs.global = newBucket(lim.Global)
	}
	l.v4host.init(size)
	l.v4net.init(size)
	l.v6host.init(size)
	l.v6net.init(size)
	return l, nil
}

// Config returns the configuration in effect (TableSize rounded up).
func (l *Limiter) Config() Config { return l.cfg }

// Allow reports whether a reply of class to src may be sent at time now,
// and if so charges it to every applicable bucket: replyBytes bytes for
// UDPBytes, one packet for ICMP and SYNACK (replyBytes is then ignored).
// A refused reply charges nothing and is counted in Stats.
//
// A nil Limiter allows everything.
func (l *Limiter) Allow(src netip.Addr, class Class, replyBytes int, now time.Time) bool {
	return l.Check(src, class, replyBytes, now) == Allowed
}

// Check is Allow, but says which bucket refused the reply (for events).
func (l *Limiter) Check(src netip.Addr, class Class, replyBytes int, now time.Time) Scope {
	if l == nil {
		return Allowed
	}
	if class >= numClasses {
		// A programming error; refusing is the safe answer for an
		// anti-reflection limiter.
		return ScopeGlobal
	}
	cs := &l.classes[class]
	units := 1
	if class == UDPBytes && replyBytes > 1 {
		units = replyBytes
	}
	ts := now.UnixNano()

	var (
		hostT, netT *table
		hostB, netB *bucket
		hostK, netK uint64
	)
	src = src.Unmap()
	switch {
	case src.Is4():
		a := src.As4()
		hostK = uint64(binary.BigEndian.Uint32(a[:]))
		netK = hostK &^ 0xff
		hostT, netT = &l.v4host, &l.v4net
		hostB, netB = &cs.v4host, &cs.v4net
	case src.Is6():
		a := src.As16()
		hostK = binary.BigEndian.Uint64(a[:8])
		netK = hostK &^ 0xffff
		hostT, netT = &l.v6host, &l.v6net
		hostB, netB = &cs.v6host, &cs.v6net
	default:
		// The zero Addr: only the global bucket applies.
	}

	// Per-prefix buckets: take the host shard lock, then the net shard
	// lock (always in this order, each in a different table, so no
	// deadlock), decide, and write the new states only once every bucket,
	// the global one included, has said yes.
	var (
		hostS, netS     *shard
		hostE, netE     *entry
		hostTAT, netTAT int64
	)
	refused := Allowed
	if hostB != nil && hostB.enabled {
		c, ok := hostB.cost(units)
		hostS, hostE = hostT.lookup(hostK, ts)
		hostE.tat[class] = hostB.clamp(hostE.tat[class], ts)
		if ok {
			hostTAT, ok = hostB.take(hostE.tat[class], ts, c)
		}
		if !ok {
			refused = ScopeHost
		}
	}
	if refused == Allowed && netB != nil && netB.enabled {
		c, ok := netB.cost(units)
		netS, netE = netT.lookup(netK, ts)
		netE.tat[class] = netB.clamp(netE.tat[class], ts)
		if ok {
			netTAT, ok = netB.take(netE.tat[class], ts, c)
		}
		if !ok {
			refused = ScopeNet
		}
	}
	if refused == Allowed && cs.global.enabled && !cs.takeGlobal(units, ts) {
		refused = ScopeGlobal
	}
	if refused == Allowed {
		if hostE != nil {
			hostE.tat[class] = hostTAT
		}
		if netE != nil {
			netE.tat[class] = netTAT
		}
	}
	if netS != nil {
		netS.mu.Unlock()
	}
	if hostS != nil {
		hostS.mu.Unlock()
	}
	if refused != Allowed {
		cs.suppressed.Add(1)
		cs.suppressedUnits.Add(uint64(units))
	}
	return refused
}

// takeGlobal charges units to the global bucket of the class, lock-free.
func (cs *classState) takeGlobal(units int, now int64) bool {
	c, ok := cs.global.cost(units)
	if !ok {
		return false
	}
	for {
		old := cs.globalTAT.Load()
		if cl := cs.global.clamp(old, now); cl != old {
			cs.globalTAT.CompareAndSwap(old, cl)
			continue
		}
		nt, ok := cs.global.take(old, now, c)
		if !ok {
			return false
		}
		if cs.globalTAT.CompareAndSwap(old, nt) {
			return true
		}
	}
}

// ClassStats counts what one class suppressed.
type ClassStats struct {
	Suppressed      uint64 // replies refused
	SuppressedUnits uint64 // their packets (ICMP, SYNACK) or bytes (UDPBytes)
}

// Stats is a snapshot of the Limiter's counters.
type Stats struct {
	UDPBytes ClassStats
	ICMP     ClassStats
	SYNACK   ClassStats
	// Evictions counts prefix-table entries evicted to make room for a
	// new prefix (the evicted prefix comes back with full buckets).
	Evictions uint64
	// Entries is the fixed capacity of each of the four prefix tables.
	Entries int
}

// Class returns the counters of class c.
func (s Stats) Class(c Class) ClassStats {
	switch c {
	case UDPBytes:
		return s.UDPBytes
	case ICMP:
		return s.ICMP
	case SYNACK:
		return s.SYNACK
	}
	return ClassStats{}
}

// Total returns the number of replies suppressed in all classes.
func (s Stats) Total() uint64 {
	return s.UDPBytes.Suppressed + s.ICMP.Suppressed + s.SYNACK.Suppressed
}

// Stats returns the counters. It is safe to call concurrently with Allow.
// A nil Limiter returns zero Stats.
func (l *Limiter) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	get := func(c Class) ClassStats {
		cs := &l.classes[c]
		return ClassStats{Suppressed: cs.suppressed.Load(), SuppressedUnits: cs.suppressedUnits.Load()}
	}
	return Stats{
		UDPBytes:  get(UDPBytes),
		ICMP:      get(ICMP),
		SYNACK:    get(SYNACK),
		Evictions: l.v4host.evictions() + l.v4net.evictions() + l.v6host.evictions() + l.v6net.evictions(),
		Entries:   l.cfg.TableSize,
	}
}

// ways is the associativity of the prefix tables.
const ways = 8

// maxShards bounds the number of mutexes per table.
const maxShards = 256

// entry holds the buckets of every class for one prefix.
type entry struct {
	key  uint64
	last int64 // time of last use in ns; 0 means the slot is empty
	tat  [numClasses]int64
}

type shard struct {
	mu        sync.Mutex
	evictions atomic.Uint64
	_         [48]byte // one cache line per shard
}

// table is a fixed-size set-associative map from prefix to entry. A set
// belongs to exactly one shard, whose mutex guards it.
type table struct {
	seed      maphash.Seed
	entries   []entry
	setMask   uint64
	shardMask uint64
	shards    []shard
}

func (t *table) init(size int) {
	sets := size / ways
	nshards := maxShards
	if sets < nshards {
		nshards = sets
	}
	t.seed = maphash.MakeSeed()
	t.entries = make([]entry, size)
	t.setMask = uint64(sets - 1)
	t.shardMask = uint64(nshards - 1)
	t.shards = make([]shard, nshards)
}

// lookup locks the shard of key and returns it with key's entry, inserting
// a fresh entry (full buckets) in place of the least recently used one of
// its set if key is absent. The caller unlocks the shard.
func (t *table) lookup(key uint64, now int64) (*shard, *entry) {
	set := maphash.Comparable(t.seed, key) & t.setMask
	s := &t.shards[set&t.shardMask]
	s.mu.Lock()
	if now == 0 {
		now = 1 // 0 marks an empty slot
	}
	ents := t.entries[set*ways : set*ways+ways : set*ways+ways]
	victim := &ents[0]
	for i := range ents {
		e := &ents[i]
		if e.last == 0 {
			if victim.last != 0 {
				victim = e
			}
			continue
		}
		if e.key == key {
			e.last = now
			return s, e
		}
		if victim.last != 0 && e.last < victim.last {
			victim = e
		}
	}
	if victim.last != 0 {
		s.evictions.Add(1)
	}
	*victim = entry{key: key, last: now}
	return s, victim
}

func (t *table) evictions() uint64 {
	var n uint64
	for i := range t.shards {
		n += t.shards[i].evictions.Load()
	}
	return n
}
