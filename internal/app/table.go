package app

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Default bounds of the connection table (flags override them).
const (
	DefaultMaxConns     = 65536
	DefaultMaxConnBytes = 64 << 20 // all buffered bytes, whole table
	DefaultMaxBuffer    = 64 << 10 // buffered bytes per connection
	numShards           = 64
)

// Key identifies a TCP connection: its 4-tuple and the ISN we chose (the
// SYN cookie), so that two connections reusing a 4-tuple across cookie
// periods never share state.
type Key struct {
	Client, Server netip.AddrPort
}

// TableConfig bounds a Table.
type TableConfig struct {
	MaxConns  int // entries, whole table
	MaxBytes  int // buffered bytes, whole table
	MaxBuffer int // buffered bytes per connection
}

// Table holds per-connection state for TCP streams. It is sharded by key
// hash so that workers never contend on one lock, and bounded in entries
// and buffered bytes: when full, the least recently used entry of the
// shard is evicted.
type Table struct {
	reg     *Registry
	cfg     TableConfig
	seed    maphash.Seed
	shards  [numShards]shard
	entries atomic.Int64 // connections held, all shards
}

type shard struct {
	mu         sync.Mutex
	m          map[Key]*entry
	head, tail *entry // LRU list: head = most recent
	bytes      int
	maxConns   int
	maxBytes   int
	evicted    uint64
	count      *atomic.Int64 // the table's entry count
}

type entry struct {
	key        Key
	isn        uint32 // our initial sequence number (the cookie)
	nextSeq    uint32 // next client sequence number expected
	sent       uint32 // sequence space we have used: data bytes and our FIN
	finRcvd    bool   // the peer sent its FIN
	finSent    bool   // we sent our FIN
	handler    int    // -1 unknown, -2 dead (unclassifiable), else registry index
	buf        []byte
	conn       Conn
	prev, next *entry
}

const (
	hUnknown = -1
	hDead    = -2
)

// NewTable makes a table dispatching to reg.
func NewTable(reg *Registry, cfg TableConfig) *Table {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxConnBytes
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = DefaultMaxBuffer
	}
	t := &Table{reg: reg, cfg: cfg, seed: maphash.MakeSeed()}
	pc := (cfg.MaxConns + numShards - 1) / numShards
	pb := (cfg.MaxBytes + numShards - 1) / numShards
	for i := range t.shards {
		t.shards[i].m = make(map[Key]*entry)
		t.shards[i].maxConns = pc
		t.shards[i].maxBytes = pb
		t.shards[i].count = &t.entries
	}
	return t
}

func (t *Table) shardOf(k *Key) *shard {
	var h maphash.Hash
	h.SetSeed(t.seed)
	a := k.Client.Addr().As16()
	b := k.Server.Addr().As16()
	h.Write(a[:])
	h.Write(b[:])
	p := [4]byte{byte(k.Client.Port() >> 8), byte(k.Client.Port()), byte(k.Server.Port() >> 8), byte(k.Server.Port())}
	h.Write(p[:])
	return &t.shards[h.Sum64()%numShards]
}

// Segment is one TCP segment handed to the table.
type Segment struct {
	Key     Key
	Seq     uint32 // client's sequence number
	Ack     uint32 // client's acknowledgement number
	Payload []byte
	FIN     bool
	// Cookies are the ISNs the client may legitimately acknowledge for a
	// new connection (current and previous cookie period).
	Cookies [2]uint32
	// Template fills Conn for new connections.
	Personality string
	Now         time.Time
	Rand        func([]byte)
}

// Status is the outcome of Segment.
type Status uint8

const (
	// Accepted: the segment was taken in order.
	Accepted Status = iota
	// BadCookie: no connection and the ACK does not match a cookie.
	BadCookie
	// Duplicate: retransmission or out-of-order data; answer with a
	// duplicate ACK, nothing handed to the application.
	Duplicate
)

// SegmentResult is what to answer.
type SegmentResult struct {
	Status    Status
	Seq       uint32 // sequence number of our reply
	Ack       uint32 // acknowledgement number of our reply
	Reply     []byte // application bytes to send (may be empty)
	ReplyPort uint16 // non-zero: send from this port
	FIN       bool   // answer with FIN (the peer closed; so do we)
	ISN       uint32 // our initial sequence number for the connection
	App       *event.App
}

// Stateless validates a segment that carries no data and no FIN against
// the table without creating state. It reports whether the ACK is valid.
func (t *Table) Stateless(s *Segment) bool {
	sh := t.shardOf(&s.Key)
	sh.mu.Lock()
	e := sh.m[s.Key]
	ok := e != nil && ackInRange(s.Ack, e.isn, e.sent)
	sh.mu.Unlock()
	// a new connection on a reused 4-tuple acknowledges a fresh cookie
	return ok || s.Ack-1 == s.Cookies[0] || s.Ack-1 == s.Cookies[1]
}

// Forget drops the state of a connection, if any: a new SYN on its 4-tuple
// starts a new connection (whose cookie may be the same within a slot).
func (t *Table) Forget(k Key) {
	if t.entries.Load() == 0 {
		return // a pure SYN scan never takes a lock here
	}
	sh := t.shardOf(&k)
	sh.mu.Lock()
	if e := sh.m[k]; e != nil {
		sh.evict(e)
		sh.evicted--
	}
	sh.mu.Unlock()
}

func ackInRange(ack, isn, sent uint32) bool {
	// valid: isn+1 .. isn+1+sent (sent counts our FIN)
	d := ack - (isn + 1)
	return d <= sent
}

// Segment processes a data (or FIN) segment: cookie or state check,
// in-order reassembly, protocol detection and dispatch.
func (t *Table) Segment(s *Segment) SegmentResult {
	sh := t.shardOf(&s.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[s.Key]
	if e != nil && !ackInRange(s.Ack, e.isn, e.sent) && (s.Ack-1 == s.Cookies[0] || s.Ack-1 == s.Cookies[1]) {
		// The 4-tuple was reused by a new connection (it acknowledges a
		// fresh cookie, not the old connection's data): start over.
		sh.evict(e)
		sh.evicted--
		e = nil
	}
	if e == nil {
		var isn uint32
		switch s.Ack - 1 {
		case s.Cookies[0]:
			isn = s.Cookies[0]
		case s.Cookies[1]:
			isn = s.Cookies[1]
		default:
			return SegmentResult{Status: BadCookie}
		}
		e = &entry{key: s.Key, isn: isn, nextSeq: s.Seq, handler: hUnknown}
		e.conn = Conn{Transport: TCP, Client: s.Key.Client, Server: s.Key.Server,
			Personality: s.Personality, Rand: s.Rand}
		sh.insert(e)
	} else if !ackInRange(s.Ack, e.isn, e.sent) {
		return SegmentResult{Status: BadCookie}
	} else {
		sh.touch(e)
	}
	// Our sequence number is ours to track: the client may not have
	// acknowledged everything we sent yet.
	res := SegmentResult{Seq: e.isn + 1 + e.sent, ISN: e.isn}
	p := s.Payload
	// Trim what we already have; refuse gaps and retransmissions.
	if d := int32(s.Seq - e.nextSeq); d != 0 {
		if d > 0 || int(-d) >= len(p) {
			res.Status = Duplicate
			res.Ack = e.nextSeq
			return res
		}
		p = p[-d:]
	}
	if e.finRcvd {
		// data after the peer's FIN: nothing more is expected
		res.Status = Duplicate
		res.Ack = e.nextSeq
		return res
	}
	e.nextSeq += uint32(len(p))
	res.Ack = e.nextSeq
	if e.handler != hDead && len(p) > 0 {
		if len(e.buf)+len(p) > t.cfg.MaxBuffer {
			// The peer sent more than we are willing to buffer without a
			// complete message: stop interpreting this stream.
			sh.setBuf(e, nil)
			e.handler = hDead
		} else {
			// exact-size buffers: what is accounted is what is held
			nb := make([]byte, len(e.buf)+len(p))
			copy(nb[copy(nb, e.buf):], p)
			sh.setBuf(e, nb)
			sh.shrink(e)
			e.conn.Now = s.Now
			var closing bool
			res.Reply, res.App, closing = t.dispatch(sh, e)
			res.ReplyPort = e.conn.ReplyPort
			e.sent += uint32(len(res.Reply))
			if closing && !e.finSent {
				// the application closes after its reply (HTTP
				// "Connection: close"): our FIN follows the data
				res.FIN = true
				e.finSent = true
				e.sent++
			}
		}
	}
	if s.FIN {
		// The FIN takes one sequence number: acknowledge it and close
		// our side too, unless we already did.
		e.finRcvd = true
		e.nextSeq++
		res.Ack = e.nextSeq
		if !e.finSent {
			res.FIN = true
			e.finSent = true
			e.sent++
		}
		sh.setBuf(e, nil)
	}
	return res
}

// dispatch feeds the entry's buffer to its handler; the shard lock is
// held. closing reports that the handler asked to close the connection.
func (t *Table) dispatch(sh *shard, e *entry) (reply []byte, a *event.App, closing bool) {
	if e.handler == hUnknown {
		idx, maybe := t.reg.detect(e.buf, TCP)
		switch {
		case idx >= 0:
			e.handler = idx
		case maybe:
			return nil, nil, false
		default:
			e.handler = hDead
			sh.setBuf(e, nil)
			return nil, nil, false
		}
	}
	h := t.reg.list[e.handler].h
	a = &event.App{Proto: h.Name(), Raw: capRaw(e.buf)}
	for len(e.buf) > 0 && e.handler >= 0 {
		res := h.Serve(&e.conn, e.buf)
		a.Fields = append(a.Fields, res.Fields...)
		if res.NeedMore {
			break
		}
		reply = append(reply, res.Reply...)
		n := res.Consumed
		if n <= 0 || n > len(e.buf) {
			n = len(e.buf)
		}
		if res.Close || (res.Consumed == 0 && len(res.Reply) == 0) {
			e.handler = hDead
			n = len(e.buf)
			closing = res.Close
		}
		rest := copy(e.buf, e.buf[n:])
		e.buf = e.buf[:rest]
	}
	// Keep only what is still unconsumed, in a buffer of its size.
	if len(e.buf) == 0 {
		sh.setBuf(e, nil)
	} else if cap(e.buf) != len(e.buf) {
		sh.setBuf(e, append(make([]byte, 0, len(e.buf)), e.buf...))
	}
	return reply, a, closing
}

// setBuf replaces e's buffer, accounting for its capacity: what the
// buffer really holds in memory.
func (sh *shard) setBuf(e *entry, b []byte) {
	sh.bytes += cap(b) - cap(e.buf)
	e.buf = b
}

func (sh *shard) insert(e *entry) {
	for len(sh.m) >= sh.maxConns && sh.tail != nil {
		sh.evict(sh.tail)
	}
	sh.m[e.key] = e
	sh.count.Add(1)
	sh.pushFront(e)
}

// pushFront makes e the most recently used entry.
func (sh *shard) pushFront(e *entry) {
	e.next = sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

func (sh *shard) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (sh *shard) touch(e *entry) {
	if sh.head == e {
		return
	}
	sh.unlink(e)
	sh.pushFront(e)
}

func (sh *shard) evict(e *entry) {
	sh.count.Add(-1)
	sh.unlink(e)
	delete(sh.m, e.key)
	sh.bytes -= cap(e.buf)
	sh.evicted++
}

// shrink evicts least recently used entries other than keep until the
// shard's buffered bytes fit its budget.
func (sh *shard) shrink(keep *entry) {
	for sh.bytes > sh.maxBytes && sh.tail != nil && sh.tail != keep {
		sh.evict(sh.tail)
	}
}

// Stats is a snapshot of the table's size.
type Stats struct {
	Conns   int
	Bytes   int
	Evicted uint64
}

// Stats sums the shards.
func (t *Table) Stats() Stats {
	var s Stats
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		s.Conns += len(sh.m)
		s.Bytes += sh.bytes
		s.Evicted += sh.evicted
		sh.mu.Unlock()
	}
	return s
}
