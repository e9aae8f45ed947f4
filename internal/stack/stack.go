// Package stack is masscanned's userland network stack: a pure function of
// (configuration, frame) to (reply frames, event). It reads no clock and
// opens no socket; time comes with each frame and randomness from a seeded
// generator, so every path is a unit test on raw bytes.
package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/profile"
)

// BudgetClass is what a rate budget counts.
type BudgetClass uint8

const (
	BudgetUDPBytes BudgetClass = iota // bytes of UDP replies
	BudgetICMP                        // ICMP/ICMPv6 echo replies
	BudgetSYNACK                      // SYN-ACKs
)

// Budget decides whether a reply toward src may be sent (anti-reflection).
type Budget interface {
	Allow(src netip.Addr, class BudgetClass, n int, now time.Time) bool
}

// Config is everything the stack needs. It is read-only once passed to New.
type Config struct {
	MAC [6]byte
	// Self is the set of addresses answered for; nil answers for every
	// address (the veth + DNAT deployment). SetLists replaces it later.
	Self *addrset.Set
	// Deny is the set of remote addresses ignored at every layer.
	Deny        *addrset.Set
	Personality *personality.Personality
	// CookieKey keys the SYN cookies.
	CookieKey [16]byte
	// Apps dispatches application payloads (nil: no applications); Conns
	// holds the TCP connections, shared by every Stack of the process
	// (nil: New makes one with the default bounds, dispatching to Apps).
	Apps  *app.Registry
	Conns *ConnTable
	// Profile gives per-address host profiles (nil: every address has
	// the default behaviour). SetProfile replaces it later.
	Profile *profile.Profile
	// Emit receives the events that no frame carries: connection ends
	// and timer actions (retransmitted SYN-ACKs, greetings, idle closes).
	// It is called from Handle and Tick and must not block.
	Emit func(*event.Event)
	// Worker and Workers: this Stack ticks the connections of the
	// table's shards i with i % Workers == Worker.
	Worker, Workers int
	// MaxPending bounds the handshakes whose SYN-ACK is retransmitted
	// (0: DefaultMaxPending; negative: none is).
	MaxPending int
	// Budget rate-limits replies; nil allows everything.
	Budget Budget
	// UDPMaxRatio caps a UDP reply at this multiple of its request's
	// payload size; 0 lifts the cap.
	UDPMaxRatio int
	// Seed seeds the generator for IP IDs and application randomness.
	Seed [32]byte
}

// Meta is what the link knows about a frame.
type Meta struct {
	Time time.Time
	// ChecksumNotReady: the L4 checksum was not filled in by the sender's
	// kernel (offload); it is not verified.
	ChecksumNotReady bool
}

// Stack handles frames. A Stack is not safe for concurrent use: give each
// worker its own (they may share Config.Table and Config.Budget).
type Stack struct {
	cfg     Config
	p       *personality.Personality
	k0, k1  uint64
	rng     *rand.ChaCha8
	filt    atomic.Pointer[filters]
	prof    atomic.Pointer[profState]
	randFn  func([]byte)
	synq    synQueue
	icmpLim icmpLimiter
	idents  [identBuckets]ident // IDPerDest counters
	ipID    uint16              // IDIncrement counter

	// per-frame scratch, reused
	f      frame
	ends   []event.Event // connection ends to emit
	tickEv event.Event
	// timers last run (Tick), library-ready connections being drained
	lastTimers time.Time
	readyBuf   []connKey
}

// profState is a host profile and the personality of each of its hosts.
type profState struct {
	prof     *profile.Profile
	personas map[*profile.Host]*personality.Personality
	ids      map[*profile.Host]string // app.Conn.HostID
}

// frame is the parsing context of the frame being handled.
type frame struct {
	filt     *filters
	meta     Meta
	ev       *event.Event
	srcMAC   [6]byte
	vlan     uint16 // TCI
	tagged   bool
	etype    uint16
	src      netip.Addr
	dst      netip.Addr
	v6       bool
	proto    uint8
	tos      uint8 // IPv4 TOS or IPv6 traffic class of the request
	dstMcast bool
	host     *profile.Host // the destination's host profile, nil: default
	ipPkt    []byte        // the whole IP packet (quoted by ICMP errors)
	nhOff    uint32        // IPv6: offset of the next header field naming proto
}

var (
	broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodesMAC  = [6]byte{0x33, 0x33, 0, 0, 0, 1}
)

// New validates cfg and builds a Stack.
func New(cfg Config) (*Stack, error) {
	if cfg.Personality == nil {
		return nil, errors.New("stack: no personality")
	}
	if cfg.MAC[0]&1 != 0 {
		return nil, errors.New("stack: the MAC address must be unicast")
	}
	if cfg.Apps == nil {
		cfg.Apps = &app.Registry{}
	}
	if cfg.Conns == nil {
		cfg.Conns = NewConnTable(cfg.Apps, ConnConfig{})
	}
	s := &Stack{cfg: cfg, p: cfg.Personality, synq: newSynQueue(cfg.MaxPending, cfg.CookieKey)}
	s.k0 = binary.LittleEndian.Uint64(cfg.CookieKey[0:8])
	s.k1 = binary.LittleEndian.Uint64(cfg.CookieKey[8:16])
	s.rng = rand.NewChaCha8(cfg.Seed)
	s.ipID = uint16(s.rng.Uint64())
	s.randFn = s.fill
	s.SetLists(cfg.Self, cfg.Deny)
	if err := s.SetProfile(cfg.Profile); err != nil {
		return nil, err
	}
	return s, nil
}

// SetProfile replaces the host profile (nil: none). It is safe to call
// while another goroutine runs Handle.
func (s *Stack) SetProfile(p *profile.Profile) error {
	st := &profState{prof: p, personas: map[*profile.Host]*personality.Personality{}, ids: map[*profile.Host]string{}}
	if p != nil {
		for _, h := range p.Hosts {
			per, err := personality.ByName(h.Personality)
			if err != nil {
				return fmt.Errorf("%s:%d: %v", p.Path, h.Line, err)
			}
			st.personas[h] = per
			st.ids[h] = HostID(h)
		}
	}
	s.prof.Store(st)
	return nil
}

// hostID is the identifier of a profile host (app.Conn.HostID).
func (s *Stack) hostID(h *profile.Host) string { return s.prof.Load().ids[h] }

// HostID is the identifier the connections to a profile host carry
// (app.Conn.HostID): its name, else the line of its [[host]] header.
func HostID(h *profile.Host) string {
	if h.Name != "" {
		return h.Name
	}
	return fmt.Sprintf("host-line-%d", h.Line)
}

// lookupHost finds the host profile of our address a and switches to its
// personality.
func (s *Stack) lookupHost(a netip.Addr) {
	st := s.prof.Load()
	if st.prof == nil {
		return
	}
	if h := st.prof.Lookup(a); h != nil {
		s.f.host = h
		s.p = st.personas[h]
	}
}

// filters are the address lists and what derives from them; they can be
// replaced while frames are handled (SIGHUP reload).
type filters struct {
	self, deny *addrset.Set
	macs       map[[6]byte]struct{} // accepted destination MACs
	anyND      bool                 // accept every solicited-node multicast MAC
}

// SetLists replaces the self and deny lists (nil self: answer for every
// address). It is safe to call while another goroutine runs Handle.
func (s *Stack) SetLists(self, deny *addrset.Set) {
	ft := &filters{self: self, deny: deny, macs: make(map[[6]byte]struct{})}
	ft.macs[s.cfg.MAC] = struct{}{}
	ft.macs[broadcastMAC] = struct{}{}
	ft.macs[allNodesMAC] = struct{}{}
	if self == nil {
		ft.anyND = true
	} else {
		for _, a := range self.Addrs() {
			if a.Is4() {
				b := a.As4()
				ft.macs[[6]byte{0x01, 0x00, 0x5e, b[1] & 0x7f, b[2], b[3]}] = struct{}{}
			} else {
				b := a.As16()
				ft.macs[[6]byte{0x33, 0x33, 0xff, b[13], b[14], b[15]}] = struct{}{}
			}
		}
		for _, p := range self.Prefixes() {
			if p.Addr().Is6() {
				ft.anyND = true
			}
		}
	}
	s.filt.Store(ft)
}

func (s *Stack) fill(p []byte) { _, _ = s.rng.Read(p) }

// isSelf reports whether we answer for a.
func (s *Stack) isSelf(a netip.Addr) bool {
	return s.f.filt.self == nil || s.f.filt.self.Contains(a)
}

func (s *Stack) denied(a netip.Addr) bool { return s.f.filt.deny.Contains(a) }

// Handle processes one Ethernet frame: replies are appended to tx and ev
// is filled (it should be Reset by the caller when reused).
func (s *Stack) Handle(b []byte, m Meta, tx *Tx, ev *event.Event) {
	f := &s.f
	*f = frame{meta: m, ev: ev, filt: s.filt.Load()}
	s.p = s.cfg.Personality
	ev.Time = m.Time
	ev.Layer = "eth"
	n0 := tx.Len()
	s.ethernet(b, tx)
	if tx.Len() > n0 && ev.Verdict != event.Dropped {
		ev.Verdict = event.Answered
		for i := n0; i < tx.Len(); i++ {
			ev.ReplyLen += len(tx.Frame(i))
		}
	}
	s.flushEnds()
}

func (s *Stack) ethernet(b []byte, tx *Tx) {
	f, ev := &s.f, s.f.ev
	if len(b) < 14 {
		ev.Drop("eth", event.ReasonTruncated)
		return
	}
	copy(ev.DstMAC[:], b[0:6])
	copy(ev.SrcMAC[:], b[6:12])
	f.srcMAC = ev.SrcMAC
	et := binary.BigEndian.Uint16(b[12:14])
	off := 14
	if et == 0x8100 {
		if len(b) < 18 {
			ev.Drop("eth", event.ReasonTruncated)
			return
		}
		f.tagged = true
		f.vlan = binary.BigEndian.Uint16(b[14:16])
		ev.VLAN = f.vlan&0x0fff + 1
		et = binary.BigEndian.Uint16(b[16:18])
		off = 18
		if et == 0x8100 || et == 0x88a8 {
			ev.EtherType = et
			ev.Drop("eth", event.ReasonVLANStacked)
			return
		}
	} else if et == 0x88a8 || et == 0x9100 {
		ev.EtherType = et
		ev.Drop("eth", event.ReasonVLANStacked)
		return
	}
	ev.EtherType = et
	f.etype = et
	if !s.acceptMAC(ev.DstMAC) {
		ev.Drop("eth", event.ReasonNotOurMAC)
		return
	}
	if f.srcMAC[0]&1 != 0 {
		ev.Drop("eth", event.ReasonBadSource)
		return
	}
	p := b[off:]
	switch et {
	case 0x0806:
		s.arp(p, tx)
	case 0x0800:
		s.ipv4(p, tx)
	case 0x86dd:
		s.ipv6(p, tx)
	default:
		ev.Drop("eth", event.ReasonEtherType)
	}
}

func (s *Stack) acceptMAC(d [6]byte) bool {
	ft := s.f.filt
	if _, ok := ft.macs[d]; ok {
		return true
	}
	return ft.anyND && d[0] == 0x33 && d[1] == 0x33 && d[2] == 0xff
}

// ethHeader starts a reply frame toward dst with the request's VLAN tag
// and the given EtherType.
func (s *Stack) ethHeader(tx *Tx, dst [6]byte, etype uint16) {
	f := &s.f
	n := 14
	if f.tagged {
		n = 18
	}
	h := tx.grow(n)
	copy(h[0:6], dst[:])
	copy(h[6:12], s.cfg.MAC[:])
	if f.tagged {
		binary.BigEndian.PutUint16(h[12:], 0x8100)
		binary.BigEndian.PutUint16(h[14:], f.vlan)
		binary.BigEndian.PutUint16(h[16:], etype)
	} else {
		binary.BigEndian.PutUint16(h[12:], etype)
	}
}
