package stack

import (
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
// no lock is needed. The entries live in a slab indexed by the map: a
// pending is larger than a map stores inline, and a map of such values
// would allocate on every new handshake.
type synQueue struct {
	m    map[connKey]int32 // index into slab
	slab []pending
	free []int32 // unused slab slots
	max  int
}

func newSynQueue(max int) synQueue {
	switch {
	case max == 0:
		max = DefaultMaxPending
	case max < 0:
		max = 0
	}
	c := min(max, 256) // the slab grows (amortized) to max at most
	return synQueue{m: make(map[connKey]int32, max), slab: make([]pending, 0, c), free: make([]int32, 0, c), max: max}
}

func (q *synQueue) add(k connKey, p pending) {
	if i, ok := q.m[k]; ok {
		q.slab[i] = p
		return
	}
	if len(q.m) >= q.max {
		return // full: a pure cookie, no retransmission
	}
	var i int32
	if n := len(q.free); n > 0 {
		i, q.free = q.free[n-1], q.free[:n-1]
		q.slab[i] = p
	} else {
		i = int32(len(q.slab))
		q.slab = append(q.slab, p)
	}
	q.m[k] = i
}

// release forgets k, whose entry is slot i.
func (q *synQueue) release(k connKey, i int32) {
	delete(q.m, k)
	q.slab[i] = pending{}
	q.free = append(q.free, i)
}

// isn is the ISN of key's pending handshake, if it has not expired.
func (q *synQueue) isn(k connKey, now time.Time) (uint32, bool) {
	if len(q.m) == 0 {
		return 0, false
	}
	i, ok := q.m[k]
	if !ok {
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
	if len(q.m) != 0 {
		if i, ok := q.m[k]; ok {
			p = q.slab[i]
			q.release(k, i)
		}
	}
	return p
}

func (q *synQueue) remove(k connKey) {
	if len(q.m) != 0 {
		if i, ok := q.m[k]; ok {
			q.release(k, i)
		}
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
	for k, i := range s.synq.m {
		p := &s.synq.slab[i]
		if now.Before(p.next) {
			continue
		}
		retries := p.peer.p.SYNACKRetries
		if int(p.tries) >= len(retries) || !now.Before(p.expires) {
			s.synq.release(k, i)
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
		case now.Sub(c.last) >= t.cfg.IdleTimeout:
			// A server closes a connection that stays silent (nginx's
			// client_header_timeout, sshd's LoginGraceTime): FIN.
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
