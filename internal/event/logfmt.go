package event

import (
	"io"
	"strconv"
)

// Logfmt writes events as logfmt lines:
//
//	ts=... layer=... verdict=... [reason=...] mac_src=... ...
//
// Only present fields are written, in a fixed order; application fields
// are prefixed with "app_". Values are quoted (Go syntax) when they are
// empty or contain spaces, '=', quotes, backslashes or non-printables.
// Keys are never repeated.
type Logfmt struct {
	textSink
	seen map[string]struct{}
}

// NewLogfmt returns a logfmt sink writing to w through a buffer.
func NewLogfmt(w io.Writer) *Logfmt {
	return &Logfmt{textSink: newTextSink(w), seen: make(map[string]struct{})}
}

func appendLogfmtValue(b []byte, v string) []byte {
	if needsQuote(v, true, true) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
}

// Write formats e into the buffer.
func (l *Logfmt) Write(e *Event) error {
	b := append(l.buf[:0], "ts="...)
	b = appendUnixMillis(b, e)
	b = append(b, " layer="...)
	b = appendLogfmtValue(b, e.Layer)
	b = append(b, " verdict="...)
	b = append(b, e.Verdict.String()...)
	if e.Kind != "" {
		b = append(b, " kind="...)
		b = append(b, e.Kind...)
	}
	str := func(b []byte, k, v string) []byte {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		return appendLogfmtValue(b, v)
	}
	num := func(b []byte, k string, v uint64) []byte {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		return strconv.AppendUint(b, v, 10)
	}
	if e.Reason != "" {
		b = str(b, "reason", e.Reason)
	}
	if e.UID != 0 {
		b = append(b, " uid="...)
		b = AppendUID(b, e.UID)
	}
	if !zeroMAC(e.SrcMAC) {
		b = append(b, " mac_src="...)
		b = appendMAC(b, e.SrcMAC)
	}
	if !zeroMAC(e.DstMAC) {
		b = append(b, " mac_dst="...)
		b = appendMAC(b, e.DstMAC)
	}
	if e.HasVLAN() {
		b = num(b, "vlan", uint64(e.VLANID()))
	}
	if e.EtherType != 0 {
		b = append(b, " eth_type=0x"...)
		b = append(b, hexDigits[e.EtherType>>12], hexDigits[e.EtherType>>8&0xf],
			hexDigits[e.EtherType>>4&0xf], hexDigits[e.EtherType&0xf])
	}
	if e.SrcIP.IsValid() {
		b = append(b, " ip_src="...)
		b = e.SrcIP.AppendTo(b)
	}
	if e.DstIP.IsValid() {
		b = append(b, " ip_dst="...)
		b = e.DstIP.AppendTo(b)
	}
	if hasTransport(e) {
		b = str(b, "proto", ProtoName(e.IPProto))
	}
	if hasPorts(e) {
		b = num(b, "port_src", uint64(e.SrcPort))
		b = num(b, "port_dst", uint64(e.DstPort))
	}
	if isTCP(e) {
		b = append(b, " tcp_flags="...)
		if e.TCPFlags == 0 {
			b = append(b, `""`...)
		}
		b = appendTCPFlags(b, e.TCPFlags)
		b = num(b, "seq", uint64(e.Seq))
		b = num(b, "ack", uint64(e.Ack))
	}
	if isICMP(e) {
		b = num(b, "icmp_type", uint64(e.ICMPType))
		b = num(b, "icmp_code", uint64(e.ICMPCode))
	}
	if e.ARPOp != 0 {
		b = num(b, "arp_op", uint64(e.ARPOp))
	}
	if e.PayloadLen > 0 {
		b = num(b, "payload_len", uint64(e.PayloadLen))
	}
	if e.Reply != "" {
		b = str(b, "reply", e.Reply)
	}
	if e.ReplyLen > 0 {
		b = num(b, "reply_len", uint64(e.ReplyLen))
	}
	if e.Suppressed != "" {
		b = str(b, "suppressed", e.Suppressed)
	}
	if e.App != nil {
		b = str(b, "app", e.App.Proto)
		clear(l.seen)
		for _, f := range e.App.Fields {
			k := "app_" + sanitizeKey(f.Key)
			if _, dup := l.seen[k]; dup {
				continue
			}
			l.seen[k] = struct{}{}
			b = str(b, k, valueString(f.Value))
		}
	}
	if e.TCPFP.Set {
		b = str(b, "tcp_fp", e.TCPFP.Raw())
		b = str(b, "os", e.TCPFP.Label)
	}
	if e.Conn.End != "" {
		b = str(b, "conn_end", e.Conn.End)
		b = str(b, "conn_duration", strconv.FormatFloat(e.Conn.Duration.Seconds(), 'f', 3, 64))
		b = num(b, "conn_bytes_in", e.Conn.BytesIn)
		b = num(b, "conn_bytes_out", e.Conn.BytesOut)
		b = num(b, "conn_pkts_in", e.Conn.PktsIn)
		b = num(b, "conn_pkts_out", e.Conn.PktsOut)
		if e.Conn.History.Len() > 0 {
			b = append(b, " conn_history="...)
			b = e.Conn.History.AppendTo(b)
		}
		b = str(b, "conn_proto", e.Conn.Proto)
		if e.Conn.Greeted {
			b = str(b, "conn_greeted", "true")
		}
	}
	l.buf = b
	return l.writeLine()
}
