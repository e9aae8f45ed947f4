package stack

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// DefaultMaxPending bounds the handshakes a Stack remembers to retransmit
// their SYN-ACK (Linux's SYN backlog plays this role): beyond it, SYNs are
// answered by pure cookies with no retransmission, as Linux under a SYN
// flood.
const DefaultMaxPending = 4096

// pending is a handshake whose SYN-ACK may be retransmitted.
type pending struct {
	key      connKey
	hash     uint32 // of key (synQueue.hash)
	used     bool
	isn, seq uint32 // our ISN, the client's
	flags    uint8  // of the SYN (ECN setup)
	tries    uint8  // retransmissions sent
	opts     tcpOpts
	peer     peer
	next     time.Time // next retransmission
	expires  time.Time // the handshake is forgotten (no ACK accepted) after
	fp       event.TCPFingerprint
}

// synQueue is a Stack's pending handshakes. The link spreads flows over
// workers by 4-tuple, so a handshake's SYN and ACK reach the same Stack:
// no lock is needed.
//
// Every SYN of a flood looks its 4-tuple up here, so this is a table of
// its own rather than a Go map (whose generic hashing of the 64-byte key
// was 8 % of a worker's time under a flood): open addressing with linear
// probing and deletion by backward shift (no tombstones) over an index of
// slab slots, at least twice as many slots as entries, so every probe
// sequence ends at an empty slot. The entries live in a slab (a pending is
// larger than an index slot) that grows to max at most, so that a new
// handshake allocates nothing. The hash is keyed from the cookie key:
// clients cannot aim their 4-tuples at one probe sequence without it.
type synQueue struct {
	idx    []uint32 // slab index + 1; 0: empty
	mask   uint32
	slab   []pending
	free   []int32 // unused slab slots
	n, max int
	k0, k1 uint64
}

func newSynQueue(max int, key [16]byte) synQueue {
	switch {
	case max == 0:
		max = DefaultMaxPending
	case max < 0:
		max = 0
	}
	q := synQueue{max: max}
	if max == 0 {
		return q
	}
	size := 8
	for size < 2*max {
		size *= 2
	}
	q.idx = make([]uint32, size)
	q.mask = uint32(size - 1)
	c := min(max, 256) // the slab grows (amortized) to max at most
	q.slab = make([]pending, 0, c)
	q.free = make([]int32, 0, c)
	// not the cookie's key itself: a key of the table's own
	q.k0 = binary.LittleEndian.Uint64(key[0:8])*0x9e3779b97f4a7c15 ^ 0xa0761d6478bd642f
	q.k1 = binary.LittleEndian.Uint64(key[8:16])*0xc2b2ae3d27d4eb4f ^ 0xe7037ed1a0b428db
	return q
}

// hash mixes the 4-tuple with the table's key (multiply-fold rounds in
// the manner of wyhash).
func (q *synQueue) hash(k *connKey) uint32 {
	c, s := k.client.Addr().As16(), k.server.Addr().As16()
	ports := uint64(k.client.Port())<<16 | uint64(k.server.Port())
	a := fold(binary.LittleEndian.Uint64(c[0:8])^q.k0, binary.LittleEndian.Uint64(c[8:16])^q.k1)
	b := fold(binary.LittleEndian.Uint64(s[0:8])^q.k1, binary.LittleEndian.Uint64(s[8:16])^ports^q.k0)
	h := fold(a^q.k1, b^0x8ebc6af09c88c6e3)
	return uint32(h ^ h>>32)
}

// fold is the 128-bit product of a and b, high half xor low half.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// find returns k's index slot and slab index, or the empty slot where
// it would go and -1.
func (q *synQueue) find(k *connKey, h uint32) (uint32, int32) {
	pos := h & q.mask
	for {
		v := q.idx[pos]
		if v == 0 {
			return pos, -1
		}
		if p := &q.slab[v-1]; p.hash == h && p.key == *k {
			return pos, int32(v - 1)
		}
		pos = (pos + 1) & q.mask
	}
}

func (q *synQueue) len() int { return q.n }

func (q *synQueue) add(k connKey, p pending) {
	if q.max == 0 {
		return
	}
	h := q.hash(&k)
	pos, i := q.find(&k, h)
	p.key, p.hash, p.used = k, h, true
	if i >= 0 {
		q.slab[i] = p
		return
	}
	if q.n >= q.max {
		return // full: a pure cookie, no retransmission
	}
	if n := len(q.free); n > 0 {
		i, q.free = q.free[n-1], q.free[:n-1]
		q.slab[i] = p
	} else {
		i = int32(len(q.slab))
		q.slab = append(q.slab, p)
	}
	q.idx[pos] = uint32(i) + 1
	q.n++
}

// lookup returns k's slab index, or -1.
func (q *synQueue) lookup(k *connKey) int32 {
	if q.n == 0 {
		return -1
	}
	_, i := q.find(k, q.hash(k))
	return i
}

// release forgets slab slot i.
func (q *synQueue) release(i int32) {
	p := &q.slab[i]
	pos, _ := q.find(&p.key, p.hash)
	q.unlink(pos)
	*p = pending{}
	q.free = append(q.free, i)
	q.n--
}

// unlink empties index slot pos and shifts back the entries after it
// that probed past it, so that no probe sequence has a hole.
func (q *synQueue) unlink(pos uint32) {
	for {
		q.idx[pos] = 0
		next := pos
		for {
			next = (next + 1) & q.mask
			v := q.idx[next]
			if v == 0 {
				return
			}
			home := q.slab[v-1].hash & q.mask
			// the entry at next may fill pos unless its home lies
			// cyclically in (pos, next]
			if (next-home)&q.mask >= (next-pos)&q.mask {
				q.idx[pos] = v
				pos = next
				break
			}
		}
	}
}

// isn is the ISN of key's pending handshake, if it has not expired.
func (q *synQueue) isn(k connKey, now time.Time) (uint32, bool) {
	i := q.lookup(&k)
	if i < 0 {
		return 0, false
	}
	p := &q.slab[i]
	return p.isn, now.Before(p.expires)
}

// synLifetime is how long a handshake waits for its ACK: through every
// retransmission, then twice the last delay (Linux: 1+2+4+8+16+32 s).
func synLifetime(retries []time.Duration) time.Duration {
	var d time.Duration
	for _, r := range retries {
		d += r
	}
	if n := len(retries); n > 0 {
		d += 2 * retries[n-1]
	}
	return d
}

// take removes k's pending handshake and returns it (the zero pending
// when there was none).
func (q *synQueue) take(k connKey) (p pending) {
	if i := q.lookup(&k); i >= 0 {
		p = q.slab[i]
		q.release(i)
	}
	return p
}

func (q *synQueue) remove(k connKey) {
	if i := q.lookup(&k); i >= 0 {
		q.release(i)
	}
}

// TickInterval is how often the run loop should call Tick: timers fire
// within this of their time.
const TickInterval = 100 * time.Millisecond

// Tick runs the timers due at now: SYN-ACK retransmissions, greetings of
// silent clients, connections idle for too long, ended connections done
// lingering. Replies are appended to tx; every action is one event given
// to Config.Emit, as are connection ends. Time enters the stack only
// through Handle's Meta and Tick.
func (s *Stack) Tick(now time.Time, tx *Tx) {
	s.drainReady(now, tx)
	if now.Sub(s.lastTimers) >= TickInterval || now.Before(s.lastTimers) {
		s.lastTimers = now
		s.tickSynq(now, tx)
		t := s.cfg.Conns
		step := max(1, s.cfg.Workers)
		if t.entries.Load() != 0 {
			for i := s.cfg.Worker % step; i < numShards; i += step {
				s.tickShard(&t.shards[i], now, tx)
			}
		}
	}
	s.flushEnds()
}

// Ready reports whether Tick has work before the next TickInterval: a
// library wrote to one of its connections.
func (s *Stack) Ready() bool { return s.cfg.Conns.HasReady() }

// libraryGrace is how much longer than the idle timeout a connection
// waits for its library while the library works.
const libraryGrace = time.Minute

// libraryOut is the most library output sent per connection per pump.
const libraryOut = 32 << 10

// drainReady sends what libraries wrote on their connections.
func (s *Stack) drainReady(now time.Time, tx *Tx) {
	t := s.cfg.Conns
	s.readyBuf = t.takeReady(s.readyBuf)
	for _, k := range s.readyBuf {
		sh := &t.shards[t.shardIndex(&k)]
		sh.mu.Lock()
		if c := sh.m[k]; c != nil && !c.ended && c.stream.HasLibrary() {
			s.pump(c, now, tx)
		}
		sh.mu.Unlock()
	}
}

// pump sends the output of c's library, and our FIN when it closed.
func (s *Stack) pump(c *conn, now time.Time, tx *Tx) {
	b, done := c.stream.Pull(libraryOut)
	if len(b) == 0 && (!done || c.finSent) {
		return
	}
	s.fromPeer(c.key, &c.peer, now)
	s.tickEv.UID = c.uid
	n0 := tx.Len()
	o := tcpOpts{ts: c.peer.ts, tsVal: c.peer.tsEcho}
	s.sendData(c, b, done, &o, tx)
	switch {
	case len(b) > 0:
		s.tickEv.Reply = "data"
	default:
		s.tickEv.Reply = "fin-ack"
	}
	s.emitTick(tx, n0)
	s.closeIfDone(c, now)
}

// fromPeer sets up the frame context to send to key's client without a
// frame from it.
func (s *Stack) fromPeer(k connKey, pe *peer, now time.Time) {
	s.f = frame{meta: Meta{Time: now}, ev: &s.tickEv, filt: s.filt.Load(),
		srcMAC: pe.mac, vlan: pe.vlan, tagged: pe.tagged, v6: pe.v6, tos: pe.tos,
		src: k.client.Addr(), dst: k.server.Addr(), proto: 6}
	s.p = pe.p
	ev := &s.tickEv
	ev.Reset()
	ev.Time, ev.Layer, ev.Kind = now, "tcp", event.KindTimer
	ev.SrcIP, ev.DstIP, ev.IPProto = k.client.Addr(), k.server.Addr(), 6
	ev.SrcPort, ev.DstPort = k.client.Port(), k.server.Port()
}

// emitTick emits the timer action's event if it sent something.
func (s *Stack) emitTick(tx *Tx, n0 int) {
	ev := &s.tickEv
	if tx.Len() > n0 {
		ev.Verdict = event.Answered
		for i := n0; i < tx.Len(); i++ {
			ev.ReplyLen += len(tx.Frame(i))
		}
	}
	if s.cfg.Emit != nil && (ev.Reply != "" || ev.Suppressed != "") {
		s.cfg.Emit(ev)
	}
}

func (s *Stack) tickSynq(now time.Time, tx *Tx) {
	if s.synq.n == 0 {
		return
	}
	for i := range s.synq.slab {
		p := &s.synq.slab[i]
		if !p.used || now.Before(p.next) {
			continue
		}
		k := p.key
		retries := p.peer.p.SYNACKRetries
		if int(p.tries) >= len(retries) || !now.Before(p.expires) {
			s.synq.release(int32(i))
			continue
		}
		s.fromPeer(k, &p.peer, now)
		n0 := tx.Len()
		if s.allow(BudgetSYNACK, 1) {
			s.writeSynAck(k.client, k.server, p.isn, p.seq, p.flags, &p.opts, tx)
			s.tickEv.Reply = "syn-ack"
		} else {
			s.tickEv.Suppressed = "syn-ack"
			s.tickEv.Reason = event.ReasonRateLimited
		}
		if s.tickEv.Reason == "" {
			s.tickEv.Reason = event.ReasonRetransmit
		}
		s.emitTick(tx, n0)
		p.tries++
		if int(p.tries) < len(retries) {
			p.next = now.Add(retries[p.tries])
		} else {
			p.next = p.expires // no more SYN-ACKs; the ACK is awaited until then
		}
	}
}

func (s *Stack) tickShard(sh *connShard, now time.Time, tx *Tx) {
	t := s.cfg.Conns
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for c := sh.tail; c != nil; {
		prev := c.prev
		switch {
		case c.ended:
			if !now.Before(c.until) {
				sh.remove(c, c.why, &s.ends, t.reg, now)
				t.entries.Add(-1)
			}
		case now.Sub(c.last) >= t.cfg.IdleTimeout && !(c.stream.LibraryBusy() && now.Sub(c.last) < t.cfg.IdleTimeout+libraryGrace):
			// A server closes a connection that stays silent (nginx's
			// client_header_timeout, sshd's LoginGraceTime): FIN. Not
			// while its library works (an RSA host key being generated
			// on a host's first contact): then the client waits for us.
			s.fromPeer(c.key, &c.peer, now)
			s.tickEv.UID = c.uid
			n0 := tx.Len()
			why := event.EndIdle
			if c.why == event.EndClose {
				why = event.EndClose // we had closed; the client never did
			}
			if !c.finSent {
				o := tcpOpts{ts: c.peer.ts, tsVal: c.peer.tsEcho}
				s.sendData(c, nil, true, &o, tx)
				s.tickEv.Reply = "fin-ack"
			}
			s.tickEv.Reason = event.ReasonIdle
			s.emitTick(tx, n0)
			end(c, why, &s.ends, t.reg, now)
		case c.stream.HasLibrary():
			s.pump(c, now, tx) // output the ready queue missed, if any
		case !c.greetAt.IsZero() && !now.Before(c.greetAt) && c.in == 0:
			s.fromPeer(c.key, &c.peer, now)
			s.tickEv.UID = c.uid
			n0 := tx.Len()
			o := tcpOpts{ts: c.peer.ts, tsVal: c.peer.tsEcho}
			svc := wellKnownService(c.key.server.Port())
			s.greet(sh, c, svc, &o, tx)
			s.emitTick(tx, n0)
			s.closeIfDone(c, now)
		}
		c = prev
	}
}

// flushEnds emits the connection-end events collected.
func (s *Stack) flushEnds() {
	if len(s.ends) == 0 {
		return
	}
	if s.cfg.Emit != nil {
		for i := range s.ends {
			s.cfg.Emit(&s.ends[i])
		}
	}
	clear(s.ends)
	s.ends = s.ends[:0]
}
