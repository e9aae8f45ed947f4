// Package metrics exposes masscanned's counters to Prometheus (--metrics).
//
// The packet path only increments plain atomic counters: each worker has
// its own Counters, filled from the event the stack wrote for every frame
// (Frame) and from the events the stack and the application libraries
// emit (Event). Label values are indexes into fixed tables built at start
// (unknown values count as "other"), so counting neither allocates nor
// blocks, and nothing depends on the event sink: counts are exact even
// when events are dropped. A Collector sums the workers' counters and
// reads the process's other counters (links, connection table, budgets,
// outputs) when Prometheus scrapes.
package metrics

import (
	"sync/atomic"

	"github.com/masscanned-go/masscanned/internal/event"
)

// other is the label value of anything outside a label's table.
const other = "other"

// labels is a fixed table of label values; the last one is "other".
type labels struct {
	names []string
	idx   map[string]int
	// fast, when set, is index as a switch (a few ns, where the map
	// hashes the string): for the labels of every frame
	fast func(string) int
}

func newLabels(names ...string) *labels {
	l := &labels{idx: make(map[string]int, len(names)+1)}
	for _, n := range names {
		if _, dup := l.idx[n]; dup || n == other {
			continue
		}
		l.idx[n] = len(l.names)
		l.names = append(l.names, n)
	}
	l.names = append(l.names, other)
	return l
}

// index is the index of s, or that of "other".
func (l *labels) index(s string) int {
	if l.fast != nil {
		return l.fast(s)
	}
	if i, ok := l.idx[s]; ok {
		return i
	}
	return len(l.names) - 1
}

func (l *labels) len() int { return len(l.names) }

// Known label values. They mirror the stack's stable identifiers
// (event.Reason*, event.End*, the Layer and Reply strings the stack
// writes); a test checks that every event.Reason* constant is here.
var (
	layerNames   = []string{"eth", "arp", "ipv4", "ipv6", "icmpv4", "icmpv6", "tcp", "udp"} // as layerIndex
	verdictNames = []string{event.Received.String(), event.Answered.String(), event.Dropped.String()}
	reasonNames  = []string{ // as reasonIndex
		event.ReasonTruncated, event.ReasonNotOurMAC, event.ReasonEtherType, event.ReasonVLANStacked,
		event.ReasonARPOp, event.ReasonARPFormat, event.ReasonNotOurIP, event.ReasonDenyList,
		event.ReasonBadVersion, event.ReasonBadHeader, event.ReasonBadLength, event.ReasonBadChecksum,
		event.ReasonFragment, event.ReasonBadSource, event.ReasonMulticastDst, event.ReasonProtoNotHandled,
		event.ReasonExtHeaders, event.ReasonICMPType, event.ReasonNDInvalid, event.ReasonBadCookie,
		event.ReasonTCPFlags, event.ReasonTCPRST, event.ReasonTCPOutOfWindow, event.ReasonNoApp,
		event.ReasonRateLimited, event.ReasonUDPRatio, event.ReasonClosedPort, event.ReasonRetransmit,
		event.ReasonIdle, event.ReasonProtoUnreach,
	}
	replyNames = []string{"arp-reply", "echo-reply", "na", "syn-ack", "ack", "fin-ack", "rst", "rst-ack",
		"data", "greeting", "port-unreachable", "protocol-unreachable", "udp-reply"} // as replyIndex
	endNames = []string{event.EndFIN, event.EndClose, event.EndRST, event.EndIdle, event.EndEvicted, event.EndReplaced}
)

// none is the service label of a connection no application served.
const none = "none"

// Set holds the label tables and every worker's Counters.
type Set struct {
	layers, verdicts, reasons, replies, ends, services *labels

	workers []*Counters
}

// NewSet makes the counters of workers workers; services are the
// application protocol names (app.Registry.Names).
func NewSet(workers int, services []string) *Set {
	s := &Set{
		layers:   newLabels(layerNames...),
		verdicts: newLabels(verdictNames...),
		reasons:  newLabels(reasonNames...),
		replies:  newLabels(replyNames...),
		ends:     newLabels(endNames...),
		services: newLabels(append(append([]string(nil), services...), none)...),
	}
	s.layers.fast, s.replies.fast, s.reasons.fast = layerIndex, replyIndex, reasonIndex
	for range max(workers, 1) {
		s.workers = append(s.workers, s.newCounters())
	}
	return s
}

// Worker returns worker i's counters (nil for a nil Set: counting is then
// a no-op).
func (s *Set) Worker(i int) *Counters {
	if s == nil {
		return nil
	}
	return s.workers[i]
}

// Counters are one worker's counters. Frame is called by the worker only;
// Event also from application libraries' goroutines: every counter is
// atomic. The methods of a nil *Counters do nothing.
type Counters struct {
	s          *Set
	frames     []atomic.Uint64 // layer x verdict
	drops      []atomic.Uint64 // reason
	unanswered []atomic.Uint64 // reason
	replies    []atomic.Uint64 // reply kind
	suppressed []atomic.Uint64 // reply kind x reason
	ends       []atomic.Uint64 // end x service
	hits       []atomic.Uint64 // service
	creds      []atomic.Uint64 // service x success
	commands   []atomic.Uint64 // service
}

func (s *Set) newCounters() *Counters {
	nv, nr, nk, ns := s.verdicts.len(), s.reasons.len(), s.replies.len(), s.services.len()
	return &Counters{
		s:          s,
		frames:     make([]atomic.Uint64, s.layers.len()*nv),
		drops:      make([]atomic.Uint64, nr),
		unanswered: make([]atomic.Uint64, nr),
		replies:    make([]atomic.Uint64, nk),
		suppressed: make([]atomic.Uint64, nk*nr),
		ends:       make([]atomic.Uint64, s.ends.len()*ns),
		hits:       make([]atomic.Uint64, ns),
		creds:      make([]atomic.Uint64, ns*2),
		commands:   make([]atomic.Uint64, ns),
	}
}

// Frame counts the event the stack wrote for one received frame.
func (c *Counters) Frame(e *event.Event) {
	if c == nil {
		return
	}
	s := c.s
	v := int(e.Verdict)
	if v >= s.verdicts.len()-1 {
		v = s.verdicts.len() - 1
	}
	c.frames[s.layers.index(e.Layer)*s.verdicts.len()+v].Add(1)
	switch {
	case e.Verdict == event.Dropped:
		c.drops[s.reasons.index(e.Reason)].Add(1)
	case e.Verdict == event.Received && e.Reason != "":
		c.unanswered[s.reasons.index(e.Reason)].Add(1)
	}
	c.observe(e)
}

// Event counts an event that no frame carries (a timer's action, a
// connection's end, a library's application record).
func (c *Counters) Event(e *event.Event) {
	if c == nil {
		return
	}
	if e.Kind == event.KindConnEnd {
		svc := e.Conn.Proto
		if svc == "" {
			svc = none
		}
		c.ends[c.s.ends.index(e.Conn.End)*c.s.services.len()+c.s.services.index(svc)].Add(1)
	}
	c.observe(e)
}

// Wrap returns an emit function that counts each event (Event) and then
// passes it to emit (which may be nil). For a nil c it returns emit.
func (c *Counters) Wrap(emit func(*event.Event)) func(*event.Event) {
	if c == nil {
		return emit
	}
	return func(e *event.Event) {
		c.Event(e)
		if emit != nil {
			emit(e)
		}
	}
}

// observe counts what every event may carry: a reply, a suppressed
// reply, an application record.
func (c *Counters) observe(e *event.Event) {
	s := c.s
	if e.Reply != "" {
		c.replies[s.replies.index(e.Reply)].Add(1)
	}
	if e.Suppressed != "" {
		c.suppressed[s.replies.index(e.Suppressed)*s.reasons.len()+s.reasons.index(e.Reason)].Add(1)
	}
	if e.App == nil {
		return
	}
	svc := s.services.index(e.App.Proto)
	c.hits[svc].Add(1)
	// one credential and one command per record at most: the first
	// field of each key, the one the event formats write
	var auth, cmd bool
	for i := range e.App.Fields {
		f := &e.App.Fields[i]
		switch {
		case f.Key == "auth" && !auth:
			auth = true
			ok := 0
			if a, isAuth := f.Value.(event.Auth); isAuth && a.Success {
				ok = 1
			}
			c.creds[svc*2+ok].Add(1)
		case f.Key == "command" && !cmd:
			cmd = true
			c.commands[svc].Add(1)
		}
	}
}

// layerIndex is the index of a layer in layerNames (8: other).
func layerIndex(s string) int {
	switch s {
	case "eth":
		return 0
	case "arp":
		return 1
	case "ipv4":
		return 2
	case "ipv6":
		return 3
	case "icmpv4":
		return 4
	case "icmpv6":
		return 5
	case "tcp":
		return 6
	case "udp":
		return 7
	}
	return 8
}

// replyIndex is the index of a reply kind in replyNames (13: other).
func replyIndex(s string) int {
	switch s {
	case "arp-reply":
		return 0
	case "echo-reply":
		return 1
	case "na":
		return 2
	case "syn-ack":
		return 3
	case "ack":
		return 4
	case "fin-ack":
		return 5
	case "rst":
		return 6
	case "rst-ack":
		return 7
	case "data":
		return 8
	case "greeting":
		return 9
	case "port-unreachable":
		return 10
	case "protocol-unreachable":
		return 11
	case "udp-reply":
		return 12
	}
	return 13
}

// reasonIndex is the index of a reason in reasonNames (30: other).
func reasonIndex(s string) int {
	switch s {
	case event.ReasonTruncated:
		return 0
	case event.ReasonNotOurMAC:
		return 1
	case event.ReasonEtherType:
		return 2
	case event.ReasonVLANStacked:
		return 3
	case event.ReasonARPOp:
		return 4
	case event.ReasonARPFormat:
		return 5
	case event.ReasonNotOurIP:
		return 6
	case event.ReasonDenyList:
		return 7
	case event.ReasonBadVersion:
		return 8
	case event.ReasonBadHeader:
		return 9
	case event.ReasonBadLength:
		return 10
	case event.ReasonBadChecksum:
		return 11
	case event.ReasonFragment:
		return 12
	case event.ReasonBadSource:
		return 13
	case event.ReasonMulticastDst:
		return 14
	case event.ReasonProtoNotHandled:
		return 15
	case event.ReasonExtHeaders:
		return 16
	case event.ReasonICMPType:
		return 17
	case event.ReasonNDInvalid:
		return 18
	case event.ReasonBadCookie:
		return 19
	case event.ReasonTCPFlags:
		return 20
	case event.ReasonTCPRST:
		return 21
	case event.ReasonTCPOutOfWindow:
		return 22
	case event.ReasonNoApp:
		return 23
	case event.ReasonRateLimited:
		return 24
	case event.ReasonUDPRatio:
		return 25
	case event.ReasonClosedPort:
		return 26
	case event.ReasonRetransmit:
		return 27
	case event.ReasonIdle:
		return 28
	case event.ReasonProtoUnreach:
		return 29
	}
	return 30
}
