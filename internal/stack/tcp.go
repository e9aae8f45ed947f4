package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
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
	opts := parseTCPOptions(p[20:doff])

	switch {
	case flags&personality.SYN != 0:
		if !s.p.OpensConn[flags] {
			ev.Drop("tcp", event.ReasonTCPFlags)
			return
		}
		// a SYN starts a new connection on this 4-tuple
		s.cfg.Table.Forget(app.Key{Client: client, Server: server})
		s.synAck(client, server, seq, flags, &opts, tx)
		return
	case flags&personality.RST != 0:
		ev.Drop("tcp", event.ReasonTCPRST)
		return
	case flags&personality.ACK == 0:
		ev.Drop("tcp", event.ReasonTCPFlags)
		return
	}

	slot := uint32(f.meta.Time.Unix() / CookiePeriod)
	seg := app.Segment{
		Key:         app.Key{Client: client, Server: server},
		Seq:         seq,
		Ack:         ack,
		Payload:     payload,
		FIN:         flags&personality.FIN != 0,
		Personality: s.p.Name,
		Now:         f.meta.Time,
		Rand:        s.randFn,
	}
	// the cookie's low bits carry the client's MSS index
	idx := (ack - 1) & 3
	seg.Cookies[0] = s.isn(client, server, slot, idx)
	seg.Cookies[1] = s.isn(client, server, slot-1, idx)
	push := flags&personality.PSH != 0

	if len(payload) == 0 && !seg.FIN {
		// The handshake's final ACK, a window update or keep-alive: checked
		// against the cookie, answered only when upstream would.
		if !s.cfg.Table.Stateless(&seg) {
			ev.Drop("tcp", event.ReasonBadCookie)
			return
		}
		if push && s.p.AckEmptyPush {
			s.segment(client, server, ack, seq, personality.ACK, nil, &opts, tx)
		}
		return
	}

	res := s.cfg.Table.Segment(&seg)
	switch res.Status {
	case app.BadCookie:
		ev.Drop("tcp", event.ReasonBadCookie)
		return
	case app.Duplicate:
		ev.Reason = event.ReasonTCPOutOfWindow
		s.segment(client, server, res.Seq, res.Ack, personality.ACK, nil, &opts, tx)
		return
	}
	ev.App = res.App
	from := server
	if res.ReplyPort != 0 {
		from = netip.AddrPortFrom(server.Addr(), res.ReplyPort)
	}
	ourSeq, ackNo := res.Seq, res.Ack
	data := res.Reply
	mss := s.segmentSize(res.ISN, &opts)
	for len(data) > mss {
		s.segment(client, from, ourSeq, ackNo, personality.ACK, data[:mss], &opts, tx)
		ourSeq += uint32(mss)
		data = data[mss:]
	}
	fl := uint8(personality.ACK)
	if len(data) > 0 {
		fl |= personality.PSH
	}
	if res.FIN {
		fl |= personality.FIN
	}
	s.segment(client, from, ourSeq, ackNo, fl, data, &opts, tx)
	switch {
	case len(res.Reply) > 0:
		ev.Reply = "data"
	case res.FIN:
		ev.Reply = "fin-ack"
	default:
		ev.Reply = "ack"
	}
}

// synAck answers a connection request with a cookie ISN.
func (s *Stack) synAck(client, server netip.AddrPort, seq uint32, flags uint8, o *tcpOpts, tx *Tx) {
	f, ev := &s.f, s.f.ev
	if !s.allow(BudgetSYNACK, 1) {
		ev.Suppressed = "syn-ack"
		ev.Reason = event.ReasonRateLimited
		return
	}
	slot := uint32(f.meta.Time.Unix() / CookiePeriod)
	isn := s.isn(client, server, slot, mssIndex(o.mss))
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
	ev.Reply = "syn-ack"
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
