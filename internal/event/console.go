package event

import (
	"io"
	"strconv"
	"time"
)

// Console writes events in the upstream-like TAB-separated format, one
// line per event:
//
//	ts layer verdict mac_src mac_dst ip_src ip_dst transport port_src port_dst [tail...]
//
// each of the ten fixed columns followed by a TAB (empty when unknown),
// then the layer-specific tail (eth: ethertype 0x%04x; arp: op; icmp: type
// and code; tcp: flags, seq, ack) and the extras reason=, reply=,
// suppressed=, app= and the application fields as key=value, all
// TAB-separated. "src" is always the client (the sender of the frame).
type Console struct{ textSink }

// NewConsole returns a console sink writing to w through a buffer.
func NewConsole(w io.Writer) *Console { return &Console{newTextSink(w)} }

// Write formats e into the buffer.
func (c *Console) Write(e *Event) error {
	b := appendUnixMillis(c.buf[:0], e)
	b = append(b, '\t')
	b = append(b, e.Layer...)
	b = append(b, '\t')
	b = append(b, e.Verdict.String()...)
	b = append(b, '\t')
	if !zeroMAC(e.SrcMAC) {
		b = appendMAC(b, e.SrcMAC)
	}
	b = append(b, '\t')
	if !zeroMAC(e.DstMAC) {
		b = appendMAC(b, e.DstMAC)
	}
	b = append(b, '\t')
	if e.SrcIP.IsValid() {
		b = e.SrcIP.AppendTo(b)
	}
	b = append(b, '\t')
	if e.DstIP.IsValid() {
		b = e.DstIP.AppendTo(b)
	}
	b = append(b, '\t')
	if hasTransport(e) {
		b = append(b, ProtoName(e.IPProto)...)
	}
	b = append(b, '\t')
	if hasPorts(e) {
		b = strconv.AppendUint(b, uint64(e.SrcPort), 10)
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(e.DstPort), 10)
		b = append(b, '\t')
	} else {
		b = append(b, '\t', '\t')
	}

	sep := false
	col := func(b []byte) []byte {
		if sep {
			b = append(b, '\t')
		}
		sep = true
		return b
	}
	switch {
	case e.Layer == "eth":
		b = col(b)
		b = append(b, '0', 'x', hexDigits[e.EtherType>>12], hexDigits[e.EtherType>>8&0xf],
			hexDigits[e.EtherType>>4&0xf], hexDigits[e.EtherType&0xf])
	case e.Layer == "arp":
		b = col(b)
		b = strconv.AppendUint(b, uint64(e.ARPOp), 10)
	case isICMP(e):
		b = col(b)
		b = strconv.AppendUint(b, uint64(e.ICMPType), 10)
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(e.ICMPCode), 10)
	case e.Layer == "tcp":
		b = col(b)
		b = appendTCPFlags(b, e.TCPFlags)
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(e.Seq), 10)
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(e.Ack), 10)
	}
	kv := func(b []byte, k, v string) []byte {
		b = col(b)
		b = append(b, k...)
		b = append(b, '=')
		if needsQuote(v, false, false) {
			return strconv.AppendQuote(b, v)
		}
		return append(b, v...)
	}
	if e.Kind != "" {
		b = kv(b, "kind", e.Kind)
	}
	if (e.Verdict == Dropped || e.Kind != "") && e.Reason != "" {
		b = kv(b, "reason", e.Reason)
	}
	if e.Reply != "" {
		b = kv(b, "reply", e.Reply)
	}
	if e.Suppressed != "" {
		b = kv(b, "suppressed", e.Suppressed)
	}
	if e.App != nil {
		b = kv(b, "app", e.App.Proto)
		for _, f := range e.App.Fields {
			b = kv(b, sanitizeKey(f.Key), valueString(f.Value))
		}
	}
	if e.TCPFP.Set && e.TCPFlags&0x12 == 0x02 {
		// a SYN's fingerprint (later segments of the connection carry it
		// in the JSON and logfmt formats)
		b = kv(b, "tcp_fp", e.TCPFP.Raw())
		if e.TCPFP.Label != "" {
			b = kv(b, "os", e.TCPFP.Label)
		}
	}
	if e.Conn.End != "" {
		b = kv(b, "conn_end", e.Conn.End)
		b = kv(b, "duration", e.Conn.Duration.Round(time.Millisecond).String())
		b = kv(b, "bytes_in", strconv.FormatUint(e.Conn.BytesIn, 10))
		b = kv(b, "bytes_out", strconv.FormatUint(e.Conn.BytesOut, 10))
		if e.Conn.Proto != "" {
			b = kv(b, "conn_proto", e.Conn.Proto)
		}
	}
	c.buf = b
	return c.writeLine()
}
