package stack

import (
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

// Default bounds and timers of the connection table (flags override them).
const (
	DefaultMaxConns     = 65536
	DefaultMaxConnBytes = 64 << 20 // all buffered bytes, whole table
	DefaultMaxBuffer    = 64 << 10 // buffered bytes per connection
	DefaultIdleTimeout  = 60 * time.Second
	// DefaultGreetAfter: a silent client on a port whose well-known
	// service speaks first is greeted after this long. nmap's NULL probe
	// waits 6 s (totalwaitms in nmap-service-probes), masscan's banner
	// check a few seconds; 2 s fits inside both.
	DefaultGreetAfter = 2 * time.Second
	// lingerTime is how long an ended connection stays to finish the
	// closing handshake (the client's last ACK or FIN) quietly.
	lingerTime = 10 * time.Second
	numShards  = 64
)

// ConnConfig bounds the connection table and sets its timers.
type ConnConfig struct {
	MaxConns    int           // entries, whole table
	MaxBytes    int           // buffered bytes, whole table
	MaxBuffer   int           // buffered bytes per connection
	IdleTimeout time.Duration // a connection that receives nothing this long ends (idle)
	// GreetAfter: greet a silent client after this long on a port whose
	// well-known service speaks first; negative: never.
	GreetAfter time.Duration
}

// connKey is a connection's 4-tuple.
type connKey struct {
	client, server netip.AddrPort
}

// peer is what is needed to send to a connection's client without a frame
// from it (timers: greetings, idle close, SYN-ACK retransmission).
type peer struct {
	mac    [6]byte
	vlan   uint16
	tagged bool
	v6     bool
	tos    uint8
	ts     bool   // the client uses timestamps
	tsEcho uint32 // the client's last TSval
	p      *personality.Personality
}

// conn is one TCP connection: all of its TCP state lives here; its
// application side is the Stream.
type conn struct {
	key      connKey
	isn      uint32 // our initial sequence number
	nextSeq  uint32 // next client sequence number expected
	sent     uint32 // sequence space we used: data bytes and our FIN
	finRcvd  bool   // the client sent its FIN
	finSent  bool   // we sent our FIN
	finAcked bool   // the client acknowledged our FIN
	ended    bool   // the end event was emitted; lingering to close quietly
	greeted  bool
	why      string // end reason once ended
	opened   time.Time
	last     time.Time // last segment received
	greetAt  time.Time // zero: no greeting pending
	until    time.Time // lingering: removed after this
	in, out  uint64    // payload bytes received / sent
	uid      uint64    // event.Event.UID of the connection's events
	pktsIn   uint64    // segments received, the SYN included
	pktsOut  uint64    // segments sent, the SYN-ACKs included
	retrans  uint64    // segments of already received payload
	hist     event.History
	peer     peer
	fp       event.TCPFingerprint // of the SYN, when its handshake was tracked
	stream   app.Stream

	prev, next *conn // LRU list, head = most recently active
}

// ConnTable holds the TCP connections of every worker of a process. It is
// sharded by 4-tuple so that workers rarely contend, and bounded in
// connections and buffered bytes: when full, the least recently active
// connection of the shard ends (evicted).
type ConnTable struct {
	reg     *app.Registry
	cfg     ConnConfig
	seed    maphash.Seed
	uidKey  uint64 // random: uids differ between runs
	shards  [numShards]connShard
	entries atomic.Int64

	// connections whose library has output waiting (app.Stream.Ready)
	readyMu sync.Mutex
	ready   []connKey
	readyN  atomic.Int32
	wake    atomic.Pointer[func()]
	readyFn func(client, server netip.AddrPort)
}

// SetWake sets what to call when a library has output for a connection:
// the run loop wakes its links so that Tick runs soon. Safe to call any
// time.
func (t *ConnTable) SetWake(f func()) { t.wake.Store(&f) }

// markReady queues a connection whose library wrote or closed (called
// from the library's goroutine).
func (t *ConnTable) markReady(client, server netip.AddrPort) {
	t.readyMu.Lock()
	if len(t.ready) < 1<<16 { // beyond, Tick's periodic scan finds it
		t.ready = append(t.ready, connKey{client, server})
	}
	t.readyN.Store(int32(len(t.ready)))
	t.readyMu.Unlock()
	if w := t.wake.Load(); w != nil {
		(*w)()
	}
}

// takeReady returns the queued connections and empties the queue.
func (t *ConnTable) takeReady(buf []connKey) []connKey {
	if t.readyN.Load() == 0 {
		return buf[:0]
	}
	t.readyMu.Lock()
	buf = append(buf[:0], t.ready...)
	t.ready = t.ready[:0]
	t.readyN.Store(0)
	t.readyMu.Unlock()
	return buf
}

// HasReady reports whether a library has output waiting for Tick.
func (t *ConnTable) HasReady() bool { return t.readyN.Load() != 0 }

type connShard struct {
	mu         sync.Mutex
	m          map[connKey]*conn
	head, tail *conn
	free       *conn // recycled entries (linked by next)
	bytes      int
	maxConns   int
	maxBytes   int
	evicted    uint64
	id         uint64 // index in the table
	uidNext    uint64 // connections numbered so far
}

// NewConnTable makes a table dispatching application bytes to reg.
func NewConnTable(reg *app.Registry, cfg ConnConfig) *ConnTable {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxConnBytes
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = DefaultMaxBuffer
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.GreetAfter == 0 {
		cfg.GreetAfter = DefaultGreetAfter
	}
	if reg == nil {
		reg = &app.Registry{}
	}
	t := &ConnTable{reg: reg, cfg: cfg, seed: maphash.MakeSeed(), uidKey: rand.Uint64()}
	t.readyFn = t.markReady
	pc := (cfg.MaxConns + numShards - 1) / numShards
	pb := (cfg.MaxBytes + numShards - 1) / numShards
	for i := range t.shards {
		t.shards[i].m = make(map[connKey]*conn)
		t.shards[i].maxConns = pc
		t.shards[i].maxBytes = pb
		t.shards[i].id = uint64(i)
	}
	return t
}

func (t *ConnTable) shardIndex(k *connKey) int {
	var h maphash.Hash
	h.SetSeed(t.seed)
	a := k.client.Addr().As16()
	b := k.server.Addr().As16()
	h.Write(a[:])
	h.Write(b[:])
	p := [4]byte{byte(k.client.Port() >> 8), byte(k.client.Port()), byte(k.server.Port() >> 8), byte(k.server.Port())}
	h.Write(p[:])
	return int(h.Sum64() % numShards)
}

// ConnStats is a snapshot of the table's size.
type ConnStats struct {
	Conns   int
	Bytes   int
	Evicted uint64
}

// Stats sums the shards.
func (t *ConnTable) Stats() ConnStats {
	var s ConnStats
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

// newConn takes a recycled entry or allocates one.
func (sh *connShard) newConn() *conn {
	c := sh.free
	if c == nil {
		return &conn{}
	}
	sh.free = c.next
	*c = conn{}
	return c
}

func (sh *connShard) insert(c *conn, ends *[]event.Event, reg *app.Registry, now time.Time) {
	for len(sh.m) >= sh.maxConns && sh.tail != nil {
		sh.evict(sh.tail, ends, reg, now)
	}
	sh.m[c.key] = c
	sh.pushFront(c)
}

// pushFront makes c the most recently active entry.
func (sh *connShard) pushFront(c *conn) {
	c.prev = nil
	c.next = sh.head
	if sh.head != nil {
		sh.head.prev = c
	}
	sh.head = c
	if sh.tail == nil {
		sh.tail = c
	}
}

func (sh *connShard) unlink(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		sh.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		sh.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (sh *connShard) touch(c *conn) {
	if sh.head == c {
		return
	}
	sh.unlink(c)
	sh.pushFront(c)
}

// remove takes c out of the table, ending it first (with its event) if
// it has not ended yet.
func (sh *connShard) remove(c *conn, why string, ends *[]event.Event, reg *app.Registry, now time.Time) {
	if !c.ended {
		end(c, why, ends, reg, now)
	}
	sh.unlink(c)
	delete(sh.m, c.key)
	sh.bytes -= c.stream.Buffered()
	c.stream = app.Stream{}
	c.next = sh.free
	sh.free = c
}

func (sh *connShard) evict(c *conn, ends *[]event.Event, reg *app.Registry, now time.Time) {
	if !c.ended {
		sh.evicted++
	}
	sh.remove(c, event.EndEvicted, ends, reg, now)
}

// shrink ends least recently active connections other than keep until
// the shard's buffered bytes fit its budget.
func (sh *connShard) shrink(keep *conn, ends *[]event.Event, reg *app.Registry, now time.Time) {
	for sh.bytes > sh.maxBytes && sh.tail != nil && sh.tail != keep {
		sh.evict(sh.tail, ends, reg, now)
	}
}

// end records c's end (one event) and tells its handler; c stays in the
// table until removed.
func end(c *conn, why string, ends *[]event.Event, reg *app.Registry, now time.Time) {
	if c.ended {
		return
	}
	c.ended = true
	c.why = why
	c.until = now.Add(lingerTime)
	c.greetAt = time.Time{}
	proto := c.stream.Proto(reg)
	c.stream.Close(reg, why)
	*ends = append(*ends, event.Event{
		Time:    now,
		Kind:    event.KindConnEnd,
		UID:     c.uid,
		Verdict: event.Received,
		Layer:   "tcp",
		SrcIP:   c.key.client.Addr(),
		DstIP:   c.key.server.Addr(),
		IPProto: 6,
		SrcPort: c.key.client.Port(),
		DstPort: c.key.server.Port(),
		TCPFP:   c.fp,
		Conn: event.ConnEnd{
			End:      why,
			Duration: now.Sub(c.opened),
			BytesIn:  c.in,
			BytesOut: c.out,
			Proto:    proto,
			Greeted:  c.greeted,
			PktsIn:   c.pktsIn,
			PktsOut:  c.pktsOut,
			History:  c.hist,
		},
	})
}

// account accounts for a change of c's buffered bytes (before: what
// the stream held before the change).
func (sh *connShard) account(before int, c *conn) {
	sh.bytes += c.stream.Buffered() - before
}

// ackInRange: ack acknowledges something between our SYN and everything
// we sent (isn+1 .. isn+1+sent, sent counting our FIN).
func ackInRange(ack, isn, sent uint32) bool {
	return ack-(isn+1) <= sent
}

// newUID numbers a new connection of the shard: distinct for every
// connection of the table (a bijective mix of the shard's counter and
// index, keyed per table), never 0.
func (t *ConnTable) newUID(sh *connShard) uint64 {
	for {
		sh.uidNext++
		if u := mix64(sh.uidNext*numShards + sh.id + t.uidKey); u != 0 {
			return u
		}
	}
}

// mix64 is splitmix64's finalizer, a bijection of uint64.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}

// fromClient accounts for a segment of the client (no SYN: those come
// before the connection exists) in c's packets and history: as zeek, a
// FIN or RST gives that letter only, else payload is D, else A.
func (c *conn) fromClient(flags uint8, payload int) {
	c.pktsIn++
	switch {
	case flags&personality.RST != 0:
		c.hist.Once('R')
	case flags&personality.FIN != 0:
		c.hist.Once('F')
	case payload > 0:
		c.hist.Once('D')
	case flags&personality.ACK != 0:
		c.hist.Once('A')
	}
}

// toClient accounts for a segment we sent on c (never a SYN or RST).
func (c *conn) toClient(flags uint8, payload int) {
	c.pktsOut++
	switch {
	case flags&personality.FIN != 0:
		c.hist.Once('f')
	case payload > 0:
		c.hist.Once('d')
	default:
		c.hist.Once('a')
	}
}

// retransmitted accounts for a segment carrying only payload already
// received: T the first time, then after 10, 100, ... of them (zeek's
// logarithmic letters).
func (c *conn) retransmitted() {
	c.retrans++
	for n := c.retrans; ; n /= 10 {
		if n == 1 {
			c.hist.Add('T')
			return
		}
		if n%10 != 0 {
			return
		}
	}
}
