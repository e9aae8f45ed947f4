package stack

import (
	"net/netip"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// ICMP errors for closed ports and unknown protocols of a profiled host,
// shaped and rate-limited like Linux's icmp_send / icmp6_send.

const (
	// icmp_msgs_per_sec and icmp_msgs_burst: all ICMP errors together.
	icmpGlobalInterval = time.Second / 1000
	icmpGlobalBurst    = 50
	// icmp_ratelimit (1000 ms) per destination, with inet_peer's burst
	// factor (XRLIM_BURST_FACTOR, 6). IPv6 divides the interval by
	// 2^((128-prefix length)/32) for the route to the peer: 250 ms on an
	// on-link /64.
	icmpPeerInterval4 = time.Second
	icmpPeerInterval6 = time.Second / 4
	icmpPeerBurst     = 6
	icmpPeerSlots     = 4096 // peers remembered (hashed; a collision resets)
	// The most of the offending packet quoted: the reply fits in 576
	// bytes (IPv4, RFC 1812 4.3.2.3) or the IPv6 minimum MTU, 1280.
	quoteMax4 = 576 - 20 - 8
	quoteMax6 = 1280 - 40 - 8
)

// bucket is a token bucket holding credit in nanoseconds.
type bucket struct {
	last   time.Time
	credit time.Duration
}

func (b *bucket) take(now time.Time, interval time.Duration, burst int) bool {
	full := interval * time.Duration(burst)
	if b.last.IsZero() {
		b.credit = full
	} else if d := now.Sub(b.last); d > 0 {
		b.credit = min(b.credit+d, full)
	}
	b.last = now
	if b.credit < interval {
		return false
	}
	b.credit -= interval
	return true
}

type peerBucket struct {
	addr netip.Addr
	bucket
}

// icmpLimiter is a Stack's ICMP error rate limiter (one per worker, as the
// kernel's per-CPU credit).
type icmpLimiter struct {
	global bucket
	peers  []peerBucket
}

func (l *icmpLimiter) allow(s *Stack, peer netip.Addr, now time.Time) bool {
	if l.peers == nil {
		l.peers = make([]peerBucket, icmpPeerSlots)
	}
	i := s.cookie(netip.AddrPortFrom(peer, 0), netip.AddrPort{}, 0xfffffffd) % icmpPeerSlots
	pb := &l.peers[i]
	if pb.addr != peer {
		*pb = peerBucket{addr: peer}
	}
	interval := icmpPeerInterval4
	if !peer.Is4() {
		interval = icmpPeerInterval6
	}
	if !pb.take(now, interval, icmpPeerBurst) {
		return false
	}
	return l.global.take(now, icmpGlobalInterval, icmpGlobalBurst)
}

// ICMP error types and codes.
const (
	icmp4Unreach       = 3
	icmp4PortUnreach   = 3
	icmp4ProtoUnreach  = 2
	icmp6Unreach       = 1
	icmp6PortUnreach   = 4
	icmp6ParamProblem  = 4
	icmp6UnknownNextHd = 1
)

// unreachable answers the current packet with an ICMP error quoting it:
// port unreachable (port true) or protocol unreachable (IPv6: parameter
// problem, unrecognised next header, pointing at the offending field).
func (s *Stack) unreachable(port bool, tx *Tx) {
	f, ev := &s.f, s.f.ev
	what := "port-unreachable"
	if !port {
		what = "protocol-unreachable"
	}
	if !s.icmpLim.allow(s, f.src, f.meta.Time) || !s.allow(BudgetICMP, 1) {
		ev.Suppressed = what
		if ev.Reason == "" || ev.Reason == event.ReasonClosedPort || ev.Reason == event.ReasonProtoUnreach {
			ev.Reason = event.ReasonRateLimited
		}
		return
	}
	quote := f.ipPkt
	proto := uint8(1)
	if f.v6 {
		proto = 58
		quote = quote[:min(len(quote), quoteMax6)]
	} else {
		quote = quote[:min(len(quote), quoteMax4)]
	}
	off := s.replyIP(tx, proto, s.p.Unreach)
	if !f.v6 {
		// icmp_send: RT_TOS of the offending packet, precedence
		// "internetwork control"
		tx.buf[off+1] = f.tos&0x1e | 0xc0
	}
	h := tx.grow(8 + len(quote))
	switch {
	case !f.v6 && port:
		h[0], h[1] = icmp4Unreach, icmp4PortUnreach
	case !f.v6:
		h[0], h[1] = icmp4Unreach, icmp4ProtoUnreach
	case port:
		h[0], h[1] = icmp6Unreach, icmp6PortUnreach
	default:
		h[0], h[1] = icmp6ParamProblem, icmp6UnknownNextHd
		h[4], h[5], h[6], h[7] = byte(f.nhOff>>24), byte(f.nhOff>>16), byte(f.nhOff>>8), byte(f.nhOff)
	}
	copy(h[8:], quote)
	s.endIP(tx, off, 2)
	ev.Reply = what
}
