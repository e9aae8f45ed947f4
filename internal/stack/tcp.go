package stack

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/profile"
)

// tcpOpts is what a client's options say.
type tcpOpts struct {
	mss        uint16
	sackOK     bool
	ts         bool
	tsVal      uint32
	ws         bool
	wsShift    uint8
	malformed  bool
	hasOptions bool
}

// parseTCPOptions walks the options area like Linux's tcp_parse_options:
// it stops at EOL or at a malformed option (length < 2 or past the end).
func parseTCPOptions(o []byte) (t tcpOpts) {
	t.hasOptions = len(o) > 0
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 {
			return
		}
		if kind == 1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
			t.malformed = true
			return
		}
		l := int(o[1])
		switch {
		case kind == 2 && l == 4:
			t.mss = binary.BigEndian.Uint16(o[2:4])
		case kind == 3 && l == 3:
			t.ws, t.wsShift = true, o[2]
		case kind == 4 && l == 2:
			t.sackOK = true
		case kind == 8 && l == 10:
			t.ts, t.tsVal = true, binary.BigEndian.Uint32(o[2:6])
		}
		o = o[l:]
	}
	return
}

func (s *Stack) tcp(p []byte, tx *Tx) {
	f, ev := &s.f, s.f.ev
	ev.Layer = "tcp"
	if len(p) < 20 {
		ev.Drop("tcp", event.ReasonTruncated)
		return
	}
	ev.SrcPort = binary.BigEndian.Uint16(p[0:2])
	ev.DstPort = binary.BigEndian.Uint16(p[2:4])
	seq := binary.BigEndian.Uint32(p[4:8])
	ack := binary.BigEndian.Uint32(p[8:12])
	doff := int(p[12]>>4) * 4
	flags := p[13]
	ev.Seq, ev.Ack, ev.TCPFlags = seq, ack, flags
	if doff < 20 || doff > len(p) {
		ev.Drop("tcp", event.ReasonBadHeader)
		return
	}
	payload := p[doff:]
	ev.PayloadLen = len(payload)
	if !s.verifyL4(6, p) {
		ev.Drop("tcp", event.ReasonBadChecksum)
		return
	}
	client := netip.AddrPortFrom(f.src, ev.SrcPort)
	server := netip.AddrPortFrom(f.dst, ev.DstPort)
	key := connKey{client, server}
	opts := parseTCPOptions(p[20:doff])
	if flags&(personality.SYN|personality.ACK) == personality.SYN {
		fingerprintSYN(&ev.TCPFP, f.ipPkt, f.v6, p)
	}

	if f.host != nil && !f.host.TCPOpen(ev.DstPort) {
		// A closed port of a profiled host: Linux's tcp_v4_send_reset.
		s.closedPort(client, server, seq, ack, flags, len(payload), tx)
		return
	}
	switch {
	case flags&personality.SYN != 0:
		if !s.p.OpensConn[flags] {
			ev.Drop("tcp", event.ReasonTCPFlags)
			return
		}
		// a SYN starts a new connection on this 4-tuple
		s.replace(key)
		s.synAck(client, server, seq, flags, &opts, tx)
		return
	case flags&personality.RST != 0:
		s.reset(key)
		ev.Drop("tcp", event.ReasonTCPRST)
		return
	case flags&personality.ACK == 0:
		ev.Drop("tcp", event.ReasonTCPFlags)
		return
	}
	s.segmentIn(key, seq, ack, flags, payload, &opts, tx)
}

// closedPort answers any segment but a reset to a closed port with a
// reset, as a kernel with no socket there does (RFC 9293 3.10.7.1): to a
// segment with ACK, RST with its acknowledgment number as sequence
// number; otherwise RST+ACK acknowledging everything it occupied.
func (s *Stack) closedPort(client, server netip.AddrPort, seq, ack uint32, flags uint8, n int, tx *Tx) {
	ev := s.f.ev
	ev.Reason = event.ReasonClosedPort
	if flags&personality.RST != 0 {
		return
	}
	if flags&personality.ACK != 0 {
		s.rst(client, server, ack, 0, personality.RST, tx)
		return
	}
	l := uint32(n)
	if flags&personality.SYN != 0 {
		l++
	}
	if flags&personality.FIN != 0 {
		l++
	}
	s.rst(client, server, 0, seq+l, personality.RST|personality.ACK, tx)
}

// rst appends a reset (flags RST or RST|ACK) to the client; resets count
// against the SYN-ACK budget (a spoofed segment must not make us a
// reflector of resets either).
func (s *Stack) rst(client, server netip.AddrPort, seq, ack uint32, flags uint8, tx *Tx) {
	ev := s.f.ev
	if !s.allow(BudgetSYNACK, 1) {
		ev.Suppressed = "rst"
		ev.Reason = event.ReasonRateLimited
		return
	}
	off := s.replyIP(tx, 6, s.p.RST)
	if s.p.EchoCopyTOS {
		// Linux reflects the segment's DS field, ECN bits cleared
		// (tcp_v4_send_reset: arg.tos, ip_send_unicast_reply;
		// tcp_v6_send_reset: ipv6_get_dsfield, ip6_xmit).
		tos := s.f.tos &^ 3
		ip := tx.buf[off:]
		if s.f.v6 {
			ip[0] |= tos >> 4
			ip[1] |= tos << 4
		} else {
			ip[1] = tos
		}
	}
	h := tx.grow(20)
	binary.BigEndian.PutUint16(h[0:], server.Port())
	binary.BigEndian.PutUint16(h[2:], client.Port())
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	s.endIP(tx, off, 16)
	if flags&personality.ACK != 0 {
		ev.Reply = "rst-ack"
	} else {
		ev.Reply = "rst"
	}
}

// replace ends a connection still open on key: the client starts a new
// one on the same 4-tuple.
func (s *Stack) replace(key connKey) {
	t := s.cfg.Conns
	if t.entries.Load() == 0 {
		return // a pure SYN scan never takes a lock here
	}
	sh := &t.shards[t.shardIndex(&key)]
	sh.mu.Lock()
	if c := sh.m[key]; c != nil {
		sh.remove(c, event.EndReplaced, &s.ends, t.reg, s.f.meta.Time)
		t.entries.Add(-1)
	}
	sh.mu.Unlock()
}

// reset handles the client's RST: the connection (or the pending
// handshake) ends.
func (s *Stack) reset(key connKey) {
	s.synq.remove(key)
	t := s.cfg.Conns
	if t.entries.Load() == 0 {
		return
	}
	sh := &t.shards[t.shardIndex(&key)]
	sh.mu.Lock()
	if c := sh.m[key]; c != nil {
		c.fromClient(personality.RST, 0)
		s.f.ev.UID = c.uid
		sh.remove(c, event.EndRST, &s.ends, t.reg, s.f.meta.Time)
		t.entries.Add(-1)
	}
	sh.mu.Unlock()
}

// freshISN returns the ISN a segment acknowledging ack opens a connection
// with: a pending handshake's, or a valid cookie's (current or previous
// slot, the MSS index taken from ack).
func (s *Stack) freshISN(key connKey, ack uint32) (uint32, bool) {
	if isn, ok := s.synq.isn(key, s.f.meta.Time); ok && isn == ack-1 {
		return isn, true
	}
	slot := uint32(s.f.meta.Time.Unix() / CookiePeriod)
	idx := (ack - 1) & 3
	for _, sl := range [2]uint32{slot, slot - 1} {
		if isn := s.isn(key.client, key.server, sl, idx); isn == ack-1 {
			return isn, true
		}
	}
	return 0, false
}

// segmentIn handles a segment with ACK (and no SYN or RST): the
// handshake's last ACK, data, FIN, or a pure ACK.
func (s *Stack) segmentIn(key connKey, seq, ack uint32, flags uint8, payload []byte, opts *tcpOpts, tx *Tx) {
	f, ev := &s.f, s.f.ev
	t := s.cfg.Conns
	now := f.meta.Time
	sh := &t.shards[t.shardIndex(&key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.m[key]
	var isn uint32
	fresh := false
	if c == nil || !ackInRange(ack, c.isn, c.sent) {
		isn, fresh = s.freshISN(key, ack)
	}
	if c != nil && !ackInRange(ack, c.isn, c.sent) {
		if !fresh {
			ev.Drop("tcp", event.ReasonBadCookie)
			return
		}
		// The 4-tuple was reused by a new connection (it acknowledges a
		// fresh cookie, not the old connection's data): start over.
		sh.remove(c, event.EndReplaced, &s.ends, t.reg, now)
		t.entries.Add(-1)
		c = nil
	}
	if c == nil {
		if !fresh {
			ev.Drop("tcp", event.ReasonBadCookie)
			if f.host != nil {
				// a listener answers an unexpected ACK with a reset
				s.rst(key.client, key.server, ack, 0, personality.RST, tx)
			}
			return
		}
		pend := s.synq.take(key)
		c = sh.newConn()
		c.fp = pend.fp
		c.key, c.isn, c.nextSeq = key, isn, seq
		c.uid = t.newUID(sh)
		// the handshake so far: the client's SYN, our SYN-ACK(s)
		c.pktsIn, c.pktsOut = 1, 1+uint64(pend.tries)
		c.hist.Add('S')
		c.hist.Add('h')
		c.fromClient(flags, len(payload))
		c.opened, c.last = now, now
		c.peer = s.peerOf(opts)
		c.stream.Reset(app.Conn{Transport: app.TCP, Client: key.client, Server: key.server,
			Personality: s.p.Name, Rand: s.randFn, Now: now})
		c.stream.Ready = t.readyFn // Emit: see appEmit
		if f.host != nil {
			c.stream.Conn.Service = f.host.Service(key.server.Port())
			c.stream.Conn.Banners = f.host.Banners
			c.stream.Conn.HostID = s.hostID(f.host)
		}
		sh.insert(c, &s.ends, t.reg, now)
		t.entries.Add(1)
		ev.UID = c.uid
		s.opened(sh, c, opts, tx)
		if c.ended {
			return
		}
	} else {
		sh.touch(c)
		c.last = now
		if opts.ts {
			c.peer.tsEcho = opts.tsVal
		}
		c.fromClient(flags, len(payload))
		ev.UID = c.uid
	}
	if c.fp.Set {
		ev.TCPFP = c.fp // the connection's SYN, on each of its segments
	}
	if c.finSent && ack == c.isn+1+c.sent {
		c.finAcked = true
	}
	fin := flags&personality.FIN != 0
	if len(payload) == 0 && !fin {
		// The handshake's final ACK, a window update or keep-alive.
		if flags&personality.PSH != 0 && s.p.AckEmptyPush {
			s.segment(key.client, key.server, c.isn+1+c.sent, c.nextSeq, personality.ACK, nil, opts, tx)
			c.toClient(personality.ACK, 0)
		}
		s.closeIfDone(c, now)
		return
	}
	// Trim what we already have; refuse gaps and retransmissions.
	p := payload
	if d := int32(seq - c.nextSeq); d != 0 {
		if d > 0 || int(-d) >= len(p) {
			if d < 0 && len(p) > 0 {
				c.retransmitted()
			}
			ev.Reason = event.ReasonTCPOutOfWindow
			s.segment(key.client, key.server, c.isn+1+c.sent, c.nextSeq, personality.ACK, nil, opts, tx)
			c.toClient(personality.ACK, 0)
			return
		}
		p = p[-d:]
	}
	if c.finRcvd {
		// data after the client's FIN: nothing more is expected
		ev.Reason = event.ReasonTCPOutOfWindow
		s.segment(key.client, key.server, c.isn+1+c.sent, c.nextSeq, personality.ACK, nil, opts, tx)
		c.toClient(personality.ACK, 0)
		return
	}
	c.nextSeq += uint32(len(p))
	c.in += uint64(len(p))
	c.greetAt = time.Time{}
	var reply []byte
	var closing bool
	if len(p) > 0 && !c.finSent {
		before := c.stream.Buffered()
		c.stream.Conn.Now = now
		s.appEmit(c)
		var a *event.App
		reply, a, closing = c.stream.Feed(t.reg, p, t.cfg.MaxBuffer)
		ev.App = a
		sh.account(before, c)
		sh.shrink(c, &s.ends, t.reg, now)
	}
	sendFIN := closing
	if fin {
		// The FIN takes one sequence number: acknowledge it and close our
		// side too, unless we already did.
		c.finRcvd = true
		c.nextSeq++
		sendFIN = true
		before := c.stream.Buffered()
		c.stream.Drop()
		sh.account(before, c)
	}
	s.sendData(c, reply, sendFIN, opts, tx)
	switch {
	case len(reply) > 0:
		ev.Reply = "data"
	case sendFIN && ev.Reply == "":
		ev.Reply = "fin-ack"
	case ev.Reply == "":
		ev.Reply = "ack"
	}
	s.closeIfDone(c, now)
}

// wellKnownService is the service usually found on port.
func wellKnownService(port uint16) string { return greeterOf(profile.WellKnown[port]) }

// greeterOf is the greeter that speaks for a profile service: a service
// is its own greeter but for mail submission, which is SMTP.
func greeterOf(service string) string {
	if service == "submission" {
		return "smtp"
	}
	return service
}

// peerOf is what a connection keeps of the current frame to send later.
func (s *Stack) peerOf(o *tcpOpts) peer {
	f := &s.f
	return peer{mac: f.srcMAC, vlan: f.vlan, tagged: f.tagged, v6: f.v6, tos: f.tos,
		ts: o.ts, tsEcho: o.tsVal, p: s.p}
}

// opened is the connection's first moment: a service that speaks first on
// this port (by the host profile) greets now; on a port whose well-known
// service speaks first, a greeting is scheduled for a silent client.
func (s *Stack) opened(sh *connShard, c *conn, opts *tcpOpts, tx *Tx) {
	t := s.cfg.Conns
	if svc := greeterOf(c.stream.Conn.Service); svc != "" && t.reg.Greeter(svc) >= 0 {
		s.greet(sh, c, svc, opts, tx)
		return
	}
	// A profile's service for the port is the last word; otherwise the
	// port's well-known service may greet a silent client.
	if t.cfg.GreetAfter > 0 && c.stream.Conn.Service == "" {
		if svc := wellKnownService(c.key.server.Port()); svc != "" && t.reg.Greeter(svc) >= 0 {
			c.greetAt = c.opened.Add(t.cfg.GreetAfter)
		}
	}
}

// greet sends the greeting of service's handler on c.
func (s *Stack) greet(sh *connShard, c *conn, service string, opts *tcpOpts, tx *Tx) {
	t := s.cfg.Conns
	c.greetAt = time.Time{}
	s.appEmit(c)
	reply, a, closing, ok := c.stream.Greet(t.reg, service)
	if !ok {
		return
	}
	c.greeted = true
	if s.f.ev.App == nil {
		s.f.ev.App = a
	}
	s.sendData(c, reply, closing, opts, tx)
	if len(reply) > 0 {
		s.f.ev.Reply = "greeting"
	}
}

// sendData sends data (segmented for the client's MSS) and our FIN if fin
// and not sent yet, acknowledging everything received.
func (s *Stack) sendData(c *conn, data []byte, fin bool, opts *tcpOpts, tx *Tx) {
	if c.finSent {
		fin = false
		data = nil
	}
	ourSeq := c.isn + 1 + c.sent
	from := c.key.server
	if rp := c.stream.Conn.ReplyPort; rp != 0 {
		from = netip.AddrPortFrom(from.Addr(), rp)
	}
	mss := s.segmentSize(c.isn, opts)
	c.sent += uint32(len(data))
	c.out += uint64(len(data))
	for len(data) > mss {
		s.segment(c.key.client, from, ourSeq, c.nextSeq, personality.ACK, data[:mss], opts, tx)
		c.toClient(personality.ACK, mss)
		ourSeq += uint32(mss)
		data = data[mss:]
	}
	fl := uint8(personality.ACK)
	if len(data) > 0 {
		fl |= personality.PSH
	}
	if fin {
		fl |= personality.FIN
		c.finSent = true
		c.sent++
		if !c.finRcvd {
			c.why = event.EndClose // we close first
		}
	}
	s.segment(c.key.client, from, ourSeq, c.nextSeq, fl, data, opts, tx)
	c.toClient(fl, len(data))
}

// appEmit gives c's stream the Emit a library serving it records its
// events with: the stack's, the events tagged with c's uid. It is made
// when the stream first gets bytes or a greeting (a handshake alone
// allocates nothing) and before a library can start.
func (s *Stack) appEmit(c *conn) {
	if c.stream.Emit != nil || s.cfg.Emit == nil {
		return
	}
	uid, emit := c.uid, s.cfg.Emit
	c.stream.Emit = func(e *event.Event) {
		e.UID = uid
		emit(e)
	}
}

// closeIfDone ends a connection whose FINs were both exchanged. It
// lingers (a retransmitted FIN is acknowledged, not reset) until Tick
// removes it.
func (s *Stack) closeIfDone(c *conn, now time.Time) {
	if c.finRcvd && c.finSent && !c.ended {
		why := event.EndFIN
		if c.why == event.EndClose {
			why = event.EndClose
		}
		end(c, why, &s.ends, s.cfg.Conns.reg, now)
	}
}

// synAck answers a connection request with a cookie ISN, and remembers
// the handshake to retransmit the SYN-ACK when the personality does.
func (s *Stack) synAck(client, server netip.AddrPort, seq uint32, flags uint8, o *tcpOpts, tx *Tx) {
	f, ev := &s.f, s.f.ev
	if !s.allow(BudgetSYNACK, 1) {
		ev.Suppressed = "syn-ack"
		ev.Reason = event.ReasonRateLimited
		return
	}
	slot := uint32(f.meta.Time.Unix() / CookiePeriod)
	isn := s.isn(client, server, slot, mssIndex(o.mss))
	s.writeSynAck(client, server, isn, seq, flags, o, tx)
	ev.Reply = "syn-ack"
	if len(s.p.SYNACKRetries) > 0 {
		s.synq.add(connKey{client, server}, pending{isn: isn, seq: seq, flags: flags, opts: *o,
			peer: s.peerOf(o), fp: ev.TCPFP, next: f.meta.Time.Add(s.p.SYNACKRetries[0]),
			expires: f.meta.Time.Add(synLifetime(s.p.SYNACKRetries))})
	}
}

// writeSynAck appends a SYN-ACK with our ISN isn to the client's SYN seq.
func (s *Stack) writeSynAck(client, server netip.AddrPort, isn, seq uint32, flags uint8, o *tcpOpts, tx *Tx) {
	off := s.replyIP(tx, 6, s.p.SYNACK)
	optLen := 0
	var offer personality.Offer
	if s.p.SYNACKOptions {
		if o.ws {
			offer |= personality.OfferWS
		}
		if o.sackOK {
			offer |= personality.OfferSACK
		}
		if o.ts {
			offer |= personality.OfferTS
		}
		for _, e := range s.p.SYNACKLayout {
			if e.Applies(offer) {
				optLen += e.Kind.Len()
			}
		}
	}
	h := tx.grow(20 + optLen)
	binary.BigEndian.PutUint16(h[0:], server.Port())
	binary.BigEndian.PutUint16(h[2:], client.Port())
	binary.BigEndian.PutUint32(h[4:], isn)
	binary.BigEndian.PutUint32(h[8:], seq+1)
	h[12] = byte((20+optLen)/4) << 4
	h[13] = personality.SYN | personality.ACK
	if s.p.EchoECN && flags&(personality.ECE|personality.CWR) == personality.ECE|personality.CWR {
		h[13] |= personality.ECE
	}
	win := s.window(o.ts, false)
	binary.BigEndian.PutUint16(h[14:], win)
	if s.p.SYNACKOptions {
		s.synAckOptions(h[20:], offer, client, server, o)
	}
	s.endIP(tx, off, 16)
}

// synAckOptions writes the SYN-ACK options of the personality's layout
// for a client offer into w (sized by the same layout).
func (s *Stack) synAckOptions(w []byte, offer personality.Offer, client, server netip.AddrPort, o *tcpOpts) {
	for _, e := range s.p.SYNACKLayout {
		n := e.Kind.Len()
		if n == 0 || !e.Applies(offer) {
			continue
		}
		w[0] = byte(e.Kind)
		switch e.Kind {
		case personality.OptMSS:
			mss := s.p.MSS4
			if s.f.v6 {
				mss = s.p.MSS6
			}
			w[1] = 4
			binary.BigEndian.PutUint16(w[2:], mss)
		case personality.OptWS:
			w[1], w[2] = 3, s.p.WScale
		case personality.OptSACKOK:
			w[1] = 2
		case personality.OptTS:
			w[1] = 10
			binary.BigEndian.PutUint32(w[2:], s.tsVal(client, server))
			binary.BigEndian.PutUint32(w[6:], o.tsVal)
		}
		w = w[n:]
	}
}

// segmentSize is the most data in one segment: the client's MSS (from the
// cookie) capped by ours (or by 1460/1440 when we advertise none), minus
// the timestamp option when the segments carry one.
func (s *Stack) segmentSize(isn uint32, o *tcpOpts) int {
	ours := int(s.p.MSS4)
	if s.f.v6 {
		ours = int(s.p.MSS6)
	}
	if ours == 0 {
		ours = 1460
		if s.f.v6 {
			ours = 1440
		}
	}
	mss := min(int(mssTable[isn&3]), ours)
	if o.ts && s.p.SYNACKOptions {
		mss -= 12
	}
	return mss
}

// window is the receive window we advertise: on the SYN-ACK (unscaled)
// or on later segments (scaled when the client uses timestamps).
func (s *Stack) window(ts, scaled bool) uint16 {
	if !s.p.WindowFromMSS {
		return s.p.Window
	}
	mss := int(s.p.MSS4)
	if s.f.v6 {
		mss = int(s.p.MSS6)
	}
	if ts {
		mss -= 12
	}
	w := 65535 / mss * mss
	if scaled && ts {
		w >>= s.p.WScale
	}
	return uint16(w)
}

// tsVal is our TCP timestamp for a connection: a millisecond clock plus a
// per-connection offset.
func (s *Stack) tsVal(client, server netip.AddrPort) uint32 {
	return uint32(s.f.meta.Time.UnixMilli()) + s.tsOffset(client, server)
}

// segment appends one TCP segment (ACK, data, FIN) to the client.
func (s *Stack) segment(client, from netip.AddrPort, seq, ack uint32, flags uint8, data []byte, o *tcpOpts, tx *Tx) {
	off := s.replyIP(tx, 6, s.p.Data)
	optLen := 0
	if o.ts && s.p.SYNACKOptions {
		optLen = 12
	}
	h := tx.grow(20 + optLen + len(data))
	binary.BigEndian.PutUint16(h[0:], from.Port())
	binary.BigEndian.PutUint16(h[2:], client.Port())
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = byte((20+optLen)/4) << 4
	h[13] = flags
	win := s.window(o.ts, true)
	binary.BigEndian.PutUint16(h[14:], win)
	if optLen > 0 {
		w := h[20:]
		w[0], w[1], w[2], w[3] = 1, 1, 8, 10
		binary.BigEndian.PutUint32(w[4:], s.tsVal(client, netip.AddrPortFrom(from.Addr(), s.f.ev.DstPort)))
		binary.BigEndian.PutUint32(w[8:], o.tsVal)
	}
	copy(h[20+optLen:], data)
	s.endIP(tx, off, 16)
}
