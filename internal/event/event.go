// Package event defines the record the stack produces for every frame it
// sees. The stack fills an Event by value on the packet path; sinks format
// and write events in their own goroutines.
package event

import (
	"net/netip"
	"time"
)

// Verdict says what happened to a frame.
type Verdict uint8

const (
	// Received: the frame was ours and accepted, but needed no reply
	// (a pure ACK, an incomplete application request, ...).
	Received Verdict = iota
	// Answered: at least one reply frame was produced.
	Answered
	// Dropped: the frame was rejected; Reason says why.
	Dropped
)

func (v Verdict) String() string {
	switch v {
	case Received:
		return "recv"
	case Answered:
		return "send"
	case Dropped:
		return "drop"
	}
	return "unknown"
}

// Drop reasons. They are stable identifiers: tests, dashboards and users
// match on them.
const (
	ReasonTruncated       = "truncated"
	ReasonNotOurMAC       = "not-our-mac"
	ReasonEtherType       = "ethertype-not-handled"
	ReasonVLANStacked     = "vlan-stacked"
	ReasonARPOp           = "arp-op-not-handled"
	ReasonARPFormat       = "arp-bad-format"
	ReasonNotOurIP        = "not-our-ip"
	ReasonDenyList        = "deny-list"
	ReasonBadVersion      = "bad-ip-version"
	ReasonBadHeader       = "bad-header"
	ReasonBadLength       = "bad-length"
	ReasonBadChecksum     = "bad-checksum"
	ReasonFragment        = "fragment"
	ReasonBadSource       = "bad-source"
	ReasonMulticastDst    = "multicast-destination"
	ReasonProtoNotHandled = "protocol-not-handled"
	ReasonExtHeaders      = "extension-headers"
	ReasonICMPType        = "icmp-type-not-handled"
	ReasonNDInvalid       = "nd-invalid"
	ReasonBadCookie       = "bad-cookie"
	ReasonTCPFlags        = "tcp-flags-ignored"
	ReasonTCPRST          = "tcp-rst"
	ReasonTCPOutOfWindow  = "tcp-out-of-window"
	ReasonNoApp           = "no-app-answer"
	ReasonRateLimited     = "rate-limited"
	ReasonUDPRatio        = "udp-ratio"
	ReasonClosedPort      = "closed-port"
	ReasonRetransmit      = "retransmit"
	ReasonIdle            = "idle"
	ReasonProtoUnreach    = "protocol-unreachable"
)

// Field is one application-level key/value pair, kept in order.
type Field struct {
	Key   string
	Value any
}

// App is what an application protocol recorded about a request.
type App struct {
	Proto  string  // protocol name, e.g. "http"
	Fields []Field // protocol-specific fields, in a stable order
	Raw    []byte  // request bytes, capped (see app.RawCap)
}

// Kinds of events that no frame caused (Event.Kind); a frame's event has
// none.
const (
	KindTimer   = "timer"    // a timer acted: SYN-ACK retransmission, greeting, idle close
	KindConnEnd = "conn-end" // a TCP connection ended (Conn is set)
	KindApp     = "app"      // a library serving a connection recorded App
)

// Event is one frame's record. The zero value is ready to fill; Reset
// clears it for reuse.
type Event struct {
	Time    time.Time
	Kind    string // "" for a frame's event, else KindTimer or KindConnEnd
	Verdict Verdict
	Reason  string // drop reason (Dropped) or why nothing was sent (Received)
	Layer   string // deepest layer reached: eth, arp, ipv4, ipv6, icmpv4, icmpv6, tcp, udp

	// UID identifies the TCP connection the event belongs to (0: none):
	// set on the events of a connection the stack tracks (its segments
	// from the handshake's last ACK on, its timers, its application
	// events, its end), so that they can be joined. Sinks write it in
	// zeek's form (AppendUID).
	UID uint64

	SrcMAC, DstMAC [6]byte
	EtherType      uint16
	VLAN           uint16 // 802.1Q VLAN ID + 1 (0 = untagged)

	SrcIP, DstIP netip.Addr
	IPProto      uint8
	SrcPort      uint16
	DstPort      uint16

	TCPFlags uint8
	Seq, Ack uint32
	ICMPType uint8
	ICMPCode uint8
	ARPOp    uint16

	PayloadLen int    // L4 payload bytes received
	Reply      string // what was sent: arp-reply, echo-reply, na, syn-ack, ack, fin-ack, data
	ReplyLen   int    // bytes of reply frames written
	Suppressed string // a reply that was built but not sent (rate-limited, udp-ratio)

	App *App

	// TCPFP is a SYN's TCP/IP fingerprint (Set), and on a connection's
	// end event the fingerprint of the SYN that opened it, when the
	// handshake was tracked.
	TCPFP TCPFingerprint

	// Conn is set (End != "") on a connection-end event: one per TCP
	// connection, when it ends. Its address and port fields describe the
	// connection (client = source), its Time is when it ended.
	Conn ConnEnd
}

// Connection end reasons.
const (
	EndFIN      = "fin"      // the client closed (FIN), we closed too
	EndClose    = "close"    // we closed first (the application ended the exchange)
	EndRST      = "rst"      // the client reset the connection
	EndIdle     = "idle"     // nothing received for the idle timeout
	EndEvicted  = "evicted"  // the connection table was full
	EndReplaced = "replaced" // a new connection (SYN or fresh cookie) took its 4-tuple
)

// ConnEnd is the record of a TCP connection that ended.
type ConnEnd struct {
	End      string        // why it ended (EndFIN, EndRST, ...)
	Duration time.Duration // from the connection's opening to its end
	BytesIn  uint64        // payload bytes received in order
	BytesOut uint64        // payload bytes sent
	Proto    string        // application protocol that served it ("" if none)
	Greeted  bool          // we spoke first (a greeting)
	PktsIn   uint64        // segments received from the client, its SYN included
	PktsOut  uint64        // segments we sent, SYN-ACKs included
	History  History       // zeek conn.log history letters
}

// Reset clears e for reuse.
func (e *Event) Reset() { *e = Event{} }

// Drop marks e as dropped at layer for reason.
func (e *Event) Drop(layer, reason string) {
	e.Layer = layer
	e.Verdict = Dropped
	e.Reason = reason
}

// HasVLAN reports whether the frame was 802.1Q tagged.
func (e *Event) HasVLAN() bool { return e.VLAN != 0 }

// VLANID is the 802.1Q VLAN identifier when HasVLAN.
func (e *Event) VLANID() uint16 { return e.VLAN - 1 }
