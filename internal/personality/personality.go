// Package personality holds the values that make replies look like a given
// host: IP TTL and ID policy, TCP window and SYN-ACK options, which TCP
// flag combinations open a connection. A personality is data; the stack has
// no per-personality code paths.
package personality

import (
	"fmt"
	"strings"
	"time"
)

// IDPolicy says how the IPv4 identification field of a reply is chosen.
type IDPolicy uint8

const (
	IDZero   IDPolicy = iota // always 0
	IDRandom                 // pseudo-random per packet
	// IDPerDest: a counter per destination bucket, as Linux's
	// ip_idents: +1 per packet, plus a random jump up to the jiffies
	// (4 ms) elapsed since the bucket was last used (nmap: "I" for
	// back-to-back replies to one peer).
	IDPerDest
	// IDIncrement: one counter for every packet (Windows; nmap "I").
	IDIncrement
)

// Shape is the IPv4 shape of one kind of reply.
type Shape struct {
	DF bool
	ID IDPolicy
}

// OptKind is a TCP option kind (RFC 9293, 7323, 2018).
type OptKind uint8

// TCP options a SYN-ACK layout can hold.
const (
	OptEOL    OptKind = 0 // end of option list, 1 byte
	OptNOP    OptKind = 1 // no-operation (padding), 1 byte
	OptMSS    OptKind = 2 // maximum segment size (MSS4 / MSS6), 4 bytes
	OptWS     OptKind = 3 // window scale (WScale), 3 bytes
	OptSACKOK OptKind = 4 // SACK permitted, 2 bytes
	OptTS     OptKind = 8 // timestamps (ours, and the client's echoed), 10 bytes
)

// Len is the length of an option of kind k in a SYN-ACK (0 if unknown).
func (k OptKind) Len() int {
	switch k {
	case OptEOL, OptNOP:
		return 1
	case OptSACKOK:
		return 2
	case OptWS:
		return 3
	case OptMSS:
		return 4
	case OptTS:
		return 10
	}
	return 0
}

// Offer is a set of options a client's SYN carried.
type Offer uint8

// Options a client can offer in its SYN that change a SYN-ACK's layout.
const (
	OfferWS   Offer = 1 << iota // window scale
	OfferSACK                   // SACK permitted
	OfferTS                     // timestamps
)

// Opt is one option of a SYN-ACK layout, written when the client offered
// every option in If and none in Unless.
type Opt struct {
	Kind       OptKind
	If, Unless Offer
}

// Applies reports whether the entry is written for a client offer.
func (o Opt) Applies(offer Offer) bool {
	return offer&o.If == o.If && offer&o.Unless == 0
}

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// Personality is a complete set of reply shapes.
type Personality struct {
	Name        string
	Description string

	TTL      uint8 // IPv4 TTL of every reply
	HopLimit uint8 // IPv6 hop limit of every reply but ND (always 255)

	SYNACK Shape // IPv4 shape of SYN-ACKs
	Echo   Shape // IPv4 shape of ICMP echo replies
	Data   Shape // IPv4 shape of ACKs and data segments

	// SYNACKOptions: the SYN-ACK answers the options the client offered,
	// laid out as SYNACKLayout says, and when the client offered
	// timestamps the connection's later segments carry them (so the
	// layout must answer an offer of timestamps with a TS option). False:
	// no options at all (upstream's shape).
	SYNACKOptions bool
	// SYNACKLayout is the SYN-ACK's option area, in order: each entry is
	// written when the client's SYN offered what its If names and none of
	// what its Unless names. A host's padding rules (where its NOPs go
	// with and without each option) are part of the layout.
	SYNACKLayout []Opt
	MSS4, MSS6   uint16 // MSS advertised over IPv4 / IPv6
	WScale       uint8  // window scale advertised
	// WindowFromMSS: the initial window is the largest multiple of the
	// segment size (our MSS, minus 12 bytes with timestamps) not above
	// 65535, as Linux's tcp_select_initial_window computes it; ACKs and
	// data carry it scaled by WScale when the client's segment has a
	// timestamp (a modern stack, which negotiated scaling too).
	// Otherwise every segment carries Window.
	WindowFromMSS bool
	Window        uint16
	// EchoECN: answer an ECN-setup SYN (ECE|CWR) with ECE set.
	EchoECN bool
	// OpensConn[f] is true when a segment with flags f gets a SYN-ACK.
	OpensConn [256]bool
	// AckEmptyPush: a PSH-ACK without data gets an ACK (upstream does).
	AckEmptyPush bool
	// PadARP: pad ARP replies to the 60-byte Ethernet minimum.
	PadARP bool
	// NAMinimalUnicast: a Neighbor Advertisement answering a unicast
	// solicitation carries no target link-layer address option and no
	// Override flag (Linux's ndisc_recv_ns); otherwise both are always set.
	NAMinimalUnicast bool
	// FlowLabels: IPv6 replies (but ND) carry a flow label hashed from the
	// flow, as Linux's auto_flowlabels does; otherwise 0 (upstream).
	FlowLabels bool
	// EchoCopyTOS: echo replies carry the request's TOS / traffic class
	// (Linux's icmp_reply); otherwise 0.
	EchoCopyTOS bool
	// EchoAnyCode: an echo request with a non-zero code is answered too
	// (Linux's icmp_echo and icmpv6_echo_reply do not look at the code;
	// nmap's IE probe sends code 9). EchoCopyCode: the reply carries the
	// request's code (Linux copies the header, nmap-os-db "CD=S");
	// otherwise 0 ("CD=Z", Windows).
	EchoAnyCode, EchoCopyCode bool

	// RST is the IPv4 shape of resets (closed ports, segments that match
	// no connection).
	RST Shape
	// Unreach is the IPv4 shape of ICMP errors (port and protocol
	// unreachable) sent for closed ports of a profiled host.
	Unreach Shape
	// SYNACKRetries are the delays between successive SYN-ACKs of a
	// connection whose handshake is not completed: the first
	// retransmission comes SYNACKRetries[0] after the SYN-ACK, the next
	// SYNACKRetries[1] after that, and so on. Empty: one SYN-ACK only.
	SYNACKRetries []time.Duration
}

// linuxOpens: a listening Linux socket answers a segment with SYN set and
// neither ACK, RST nor FIN (tcp_rcv_state_process, LISTEN state); PSH, URG,
// ECE and CWR do not matter.
func linuxOpens(f int) bool {
	return f&SYN != 0 && f&(ACK|RST|FIN) == 0
}

// upstreamOpens is upstream masscanned's rule: SYN with only PSH, URG, CWR
// or ECE besides, and not both CWR and ECE.
func upstreamOpens(f int) bool {
	if f&SYN == 0 || f&^(SYN|PSH|URG|CWR|ECE) != 0 {
		return false
	}
	return f&(CWR|ECE) != CWR|ECE
}

// linuxLayout is tcp_options_write's SYN-ACK layout (Linux 3.x to 6.x):
// MSS; SACK-permitted and timestamps together, or either one after two
// NOPs; then NOP and window scale. p0f's [tcp:response] "Linux:3.x" sigs
// list all eight: mss / mss,sok,ts / mss,nop,nop,ts / mss,nop,nop,sok,
// each optionally followed by nop,ws.
func linuxLayout() []Opt {
	return []Opt{
		{Kind: OptMSS},
		{Kind: OptSACKOK, If: OfferSACK | OfferTS},
		{Kind: OptNOP, If: OfferTS, Unless: OfferSACK},
		{Kind: OptNOP, If: OfferTS, Unless: OfferSACK},
		{Kind: OptTS, If: OfferTS},
		{Kind: OptNOP, If: OfferSACK, Unless: OfferTS},
		{Kind: OptNOP, If: OfferSACK, Unless: OfferTS},
		{Kind: OptSACKOK, If: OfferSACK, Unless: OfferTS},
		{Kind: OptNOP, If: OfferWS},
		{Kind: OptWS, If: OfferWS},
	}
}

// Linux is a current Linux kernel (6.x) with default sysctls.
func Linux() *Personality {
	p := &Personality{
		Name:        "linux",
		Description: "replies shaped like a current Linux kernel and common server software",
		TTL:         64,
		HopLimit:    64,
		SYNACK:      Shape{DF: true, ID: IDZero},
		// icmp_reply without DF: __ip_select_ident, nmap II=I
		Echo:          Shape{DF: false, ID: IDPerDest},
		Data:          Shape{DF: true, ID: IDRandom},
		SYNACKOptions: true,
		SYNACKLayout:  linuxLayout(),
		MSS4:          1460,
		MSS6:          1440,
		WScale:        7,
		// IPv4: 64240 = 44 * 1460, 65160 = 45 * 1448 with timestamps;
		// IPv6: 64800 = 45 * 1440, 64260 = 45 * 1428
		WindowFromMSS:    true,
		EchoECN:          true,
		NAMinimalUnicast: true,
		FlowLabels:       true,
		EchoCopyTOS:      true,
		EchoAnyCode:      true,
		EchoCopyCode:     true,
		// tcp_v4_send_reset: ip_send_unicast_reply from the per-CPU
		// control socket (IP_PMTUDISC_DO, ID 0)
		RST: Shape{DF: true, ID: IDZero},
		// icmp_send: the ICMP socket does not set DF, ID from ip_select_ident
		Unreach: Shape{DF: false, ID: IDPerDest},
		// tcp_synack_timer: TCP_TIMEOUT_INIT (1 s) doubled on each of
		// net.ipv4.tcp_synack_retries (5) retransmissions
		SYNACKRetries: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second},
	}
	for f := range p.OpensConn {
		p.OpensConn[f] = linuxOpens(f)
	}
	return p
}

// windowsLayout is the SYN-ACK layout of Windows (Vista to Server 2016
// and later): MSS; NOP and window scale; then SACK-permitted and
// timestamps together, or either one after two NOPs. From p0f's
// [tcp:response] "s:win:Windows:7 or 8" sigs (/etc/p0f/p0f.fp, p0f 3.09b):
//
//	sig   = *:128:0:*:8192,0:mss,sok,ts:df,id+:0
//	sig   = *:128:0:*:8192,8:mss,nop,ws:df,id+:0
//	sig   = *:128:0:*:8192,0:mss,nop,nop,ts:df,id+:0
//	sig   = *:128:0:*:8192,0:mss,nop,nop,sok:df,id+:0
//	sig   = *:128:0:*:8192,8:mss,nop,ws,sok,ts:df,id+:0
//	sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,ts:df,id+:0
//	sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
//
// and nmap-os-db's "Microsoft Windows Server 2016" entries (nmap 7.93,
// $Id: nmap-os-db 38353 2022-02-18), whose probes offer every
// combination but the last:
//
//	OPS(O1=M5B4NW8ST11%O2=M5B4NW8ST11%O3=M5B4NW8NNT11%O4=M5B4NW8ST11%O5=M5B4NW8ST11%O6=M5B4ST11)
//	ECN(R=Y%DF=Y%T=7B-85%TG=80%W=2000%O=M5B4NW8NNS%CC=Y%Q=)
//
// (O3: a SYN without SACK; O6: without window scale; ECN: without
// timestamps.)
func windowsLayout() []Opt {
	return []Opt{
		{Kind: OptMSS},
		{Kind: OptNOP, If: OfferWS},
		{Kind: OptWS, If: OfferWS},
		{Kind: OptSACKOK, If: OfferSACK | OfferTS},
		{Kind: OptNOP, If: OfferTS, Unless: OfferSACK},
		{Kind: OptNOP, If: OfferTS, Unless: OfferSACK},
		{Kind: OptTS, If: OfferTS},
		{Kind: OptNOP, If: OfferSACK, Unless: OfferTS},
		{Kind: OptNOP, If: OfferSACK, Unless: OfferTS},
		{Kind: OptSACKOK, If: OfferSACK, Unless: OfferTS},
	}
}

// Windows is a current Windows Server (2016 to 2022) with default
// settings, as p0f and nmap see it. The values come from p0f's
// [tcp:response] Windows sigs (see windowsLayout), whose 8192,8 window
// and scale are the SYN-ACK's, and from nmap-os-db's "Microsoft Windows
// Server 2016" entry (its newest Windows Server; "Version 1607 (Build
// 14393.1066)"):
//
//	SEQ(SP=EF-F9%GCD=1-6%ISR=FF-109%TI=I%CI=I%II=I%SS=S%TS=A)
//	OPS(O1=M5B4NW8ST11%O2=M5B4NW8ST11%O3=M5B4NW8NNT11%O4=M5B4NW8ST11%O5=M5B4NW8ST11%O6=M5B4ST11)
//	WIN(W1=2000%W2=2000%W3=2000%W4=2000%W5=2000%W6=2000)
//	ECN(R=Y%DF=Y%T=7B-85%TG=80%W=2000%O=M5B4NW8NNS%CC=Y%Q=)
//	T1(R=Y%DF=Y%T=7B-85%TG=80%S=O%A=S+%F=AS%RD=0%Q=)
//	T3(R=Y%DF=Y%T=7B-85%TG=80%W=0%S=Z%A=O%F=AR%O=%RD=0%Q=)
//	T5(R=Y%DF=Y%T=7B-85%TG=80%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)
//	U1(DF=N%T=7B-85%TG=80%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=G%RUCK=G%RUD=G)
//	IE(DFI=N%T=7B-85%TG=80%CD=Z)
//
// Windows Server answers a client's timestamps (TS=A, "T11" in every
// OPS value of those entries): its "Timestamps disabled" default only
// stops it from offering them in its own SYNs. Its IP IDs are one
// incrementing counter (TI=I, CI=I, II=I): IDIncrement (non-zero with DF,
// which is what p0f's "id+" quirk checks).
func Windows() *Personality {
	p := &Personality{
		Name:        "windows",
		Description: "replies shaped like a current Windows Server (2016-2022): TTL 128, window 8192, scale 8, Windows' option order",
		// T=7B-85%TG=80 in every line; p0f's ittl 128
		TTL:      128,
		HopLimit: 128,
		// T1 DF=Y; p0f "df,id+"
		SYNACK: Shape{DF: true, ID: IDIncrement},
		// IE DFI=N: neither echo reply has DF
		Echo: Shape{DF: false, ID: IDIncrement},
		Data: Shape{DF: true, ID: IDIncrement},
		// OPS: M5B4 (1460), NW8 (scale 8), option order as windowsLayout
		SYNACKOptions: true,
		SYNACKLayout:  windowsLayout(),
		MSS4:          1460,
		// Ethernet MTU minus the IPv6 and TCP headers
		MSS6:   1440,
		WScale: 8,
		// WIN W1..W6=2000, ECN W=2000; p0f 8192,8
		Window: 8192,
		// ECN CC=Y: an ECN-setup SYN gets ECE
		EchoECN: true,
		// IE R=Y ... CD=Z: nmap's code-9 echo is answered, with code 0
		EchoAnyCode: true,
		// T5-T7 DF=Y, W=0
		RST: Shape{DF: true, ID: IDIncrement},
		// U1 DF=N
		Unreach: Shape{DF: false, ID: IDIncrement},
		// TcpMaxConnectResponseRetransmissions (default 2) retransmissions
		// of the SYN-ACK, the first after Windows' initial RTO of 3 s,
		// doubled for the second: 3 s then 6 s, the JA4TS delays the
		// project's research notes (shared/research/fingerprinting.md)
		// record for Windows Server. Neither database has timings.
		SYNACKRetries: []time.Duration{3 * time.Second, 6 * time.Second},
	}
	for f := range p.OpensConn {
		// T3 (SYN, FIN, URG, PSH to an open port) is answered F=AR, not
		// with a SYN-ACK; the ECN probe (SYN, ECE, CWR) is: the same rule
		// as Linux's.
		p.OpensConn[f] = linuxOpens(f)
	}
	return p
}

// Masscanned is upstream masscanned's wire shape.
func Masscanned() *Personality {
	p := &Personality{
		Name:         "masscanned",
		Description:  "upstream masscanned's wire shape (IP ID 0 + DF, SYN-ACK without options, window 65535)",
		TTL:          64,
		HopLimit:     64,
		SYNACK:       Shape{DF: true, ID: IDZero},
		Echo:         Shape{DF: true, ID: IDZero},
		Data:         Shape{DF: true, ID: IDZero},
		Window:       65535,
		AckEmptyPush: true,
		RST:          Shape{DF: true, ID: IDZero},
		Unreach:      Shape{DF: true, ID: IDZero},
	}
	for f := range p.OpensConn {
		p.OpensConn[f] = upstreamOpens(f)
	}
	return p
}

// Names lists the built-in personalities.
func Names() []string { return []string{"linux", "windows", "masscanned"} }

// ByName returns a built-in personality.
func ByName(name string) (*Personality, error) {
	switch strings.ToLower(name) {
	case "linux":
		return Linux(), nil
	case "windows":
		return Windows(), nil
	case "masscanned":
		return Masscanned(), nil
	}
	return nil, fmt.Errorf("unknown personality %q (known: %s)", name, strings.Join(Names(), ", "))
}
