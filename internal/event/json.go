package event

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// JSON writes events as JSON lines, one object per event. Keys, in order:
// ts (RFC 3339, nanoseconds, UTC), kind (only on events no frame caused:
// "timer", "conn-end"), verdict, reason, layer, uid (zeek's "C..." form,
// on the events of a tracked TCP connection), mac_src,
// mac_dst, vlan, eth_type (number), ip_src, ip_dst, proto (name or number
// as a string), port_src, port_dst, tcp_flags (letters), seq, ack,
// icmp_type, icmp_code, arp_op, payload_len, reply, reply_len, suppressed,
// app ({"proto": ..., field keys..., "raw": base64}), conn (on a
// connection-end event: {"end", "duration" in seconds, "bytes_in",
// "bytes_out", "pkts_in", "pkts_out", "history", "proto", "greeted"}). Zero or empty fields
// are omitted except ts, verdict and layer (icmp_type and icmp_code are
// kept on ICMP events, where 0 is meaningful; vlan is kept when tagged).
//
// The envelope is encoded by hand (it is the hot part); application field
// values of types other than strings, integers, bools and []string go
// through encoding/json.
type JSON struct {
	w    *bufio.Writer
	buf  []byte
	seen map[string]struct{}
}

// NewJSON returns a JSON-lines sink writing to w through a buffer.
func NewJSON(w io.Writer) *JSON {
	return &JSON{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 1024), seen: make(map[string]struct{})}
}

const tsLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Write encodes e into the buffer.
func (j *JSON) Write(e *Event) error {
	b := append(j.buf[:0], `{"ts":"`...)
	b = e.Time.UTC().AppendFormat(b, tsLayout)
	b = append(b, '"')
	if e.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendJSONString(b, e.Kind)
	}
	b = append(b, `,"verdict":"`...)
	b = append(b, e.Verdict.String()...)
	b = append(b, '"')
	str := func(b []byte, k, v string) []byte {
		if v == "" {
			return b
		}
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		return appendJSONString(b, v)
	}
	num := func(b []byte, k string, v uint64) []byte {
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		return strconv.AppendUint(b, v, 10)
	}
	nz := func(b []byte, k string, v uint64) []byte {
		if v == 0 {
			return b
		}
		return num(b, k, v)
	}
	b = str(b, "reason", e.Reason)
	b = append(b, `,"layer":`...)
	b = appendJSONString(b, e.Layer)
	if e.UID != 0 {
		b = append(b, `,"uid":"`...)
		b = append(AppendUID(b, e.UID), '"')
	}
	if !zeroMAC(e.SrcMAC) {
		b = append(b, `,"mac_src":"`...)
		b = append(appendMAC(b, e.SrcMAC), '"')
	}
	if !zeroMAC(e.DstMAC) {
		b = append(b, `,"mac_dst":"`...)
		b = append(appendMAC(b, e.DstMAC), '"')
	}
	if e.HasVLAN() {
		b = num(b, "vlan", uint64(e.VLANID()))
	}
	b = nz(b, "eth_type", uint64(e.EtherType))
	if e.SrcIP.IsValid() {
		b = append(b, `,"ip_src":"`...)
		b = append(e.SrcIP.AppendTo(b), '"')
	}
	if e.DstIP.IsValid() {
		b = append(b, `,"ip_dst":"`...)
		b = append(e.DstIP.AppendTo(b), '"')
	}
	if hasTransport(e) {
		b = str(b, "proto", ProtoName(e.IPProto))
	}
	b = nz(b, "port_src", uint64(e.SrcPort))
	b = nz(b, "port_dst", uint64(e.DstPort))
	if isTCP(e) {
		if e.TCPFlags != 0 {
			b = append(b, `,"tcp_flags":"`...)
			b = append(appendTCPFlags(b, e.TCPFlags), '"')
		}
		b = nz(b, "seq", uint64(e.Seq))
		b = nz(b, "ack", uint64(e.Ack))
	}
	if isICMP(e) {
		b = num(b, "icmp_type", uint64(e.ICMPType))
		b = num(b, "icmp_code", uint64(e.ICMPCode))
	}
	b = nz(b, "arp_op", uint64(e.ARPOp))
	if e.PayloadLen > 0 {
		b = num(b, "payload_len", uint64(e.PayloadLen))
	}
	b = str(b, "reply", e.Reply)
	if e.ReplyLen > 0 {
		b = num(b, "reply_len", uint64(e.ReplyLen))
	}
	b = str(b, "suppressed", e.Suppressed)
	if e.App != nil {
		var err error
		if b, err = j.appendApp(b, e.App); err != nil {
			j.buf = b[:0]
			return err
		}
	}
	if e.TCPFP.Set {
		b = append(b, `,"tcp_fp":{"raw":`...)
		b = appendJSONString(b, e.TCPFP.Raw())
		if e.TCPFP.Label != "" {
			b = append(b, `,"os":`...)
			b = appendJSONString(b, e.TCPFP.Label)
			if e.TCPFP.Generic {
				b = append(b, `,"generic":true`...)
			}
			if e.TCPFP.Fuzzy {
				b = append(b, `,"fuzzy":true`...)
			}
			b = num(b, "dist", uint64(e.TCPFP.Distance))
		}
		b = append(b, '}')
	}
	if e.Conn.End != "" {
		b = append(b, `,"conn":{"end":`...)
		b = appendJSONString(b, e.Conn.End)
		b = append(b, `,"duration":`...)
		b = strconv.AppendFloat(b, e.Conn.Duration.Seconds(), 'f', 6, 64)
		b = num(b, "bytes_in", e.Conn.BytesIn)
		b = num(b, "bytes_out", e.Conn.BytesOut)
		b = num(b, "pkts_in", e.Conn.PktsIn)
		b = num(b, "pkts_out", e.Conn.PktsOut)
		if e.Conn.History.Len() > 0 {
			b = append(b, `,"history":"`...)
			b = append(e.Conn.History.AppendTo(b), '"')
		}
		b = str(b, "proto", e.Conn.Proto)
		if e.Conn.Greeted {
			b = append(b, `,"greeted":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, '}', '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

// appendApp renders a as an ordered JSON object. Repeated keys (and keys
// "proto" and "raw", which the object uses itself) keep their first use.
func (j *JSON) appendApp(b []byte, a *App) ([]byte, error) {
	b = append(b, `,"app":{"proto":`...)
	b = appendJSONString(b, a.Proto)
	clear(j.seen)
	j.seen["proto"] = struct{}{}
	if a.Raw != nil {
		j.seen["raw"] = struct{}{}
	}
	for _, f := range a.Fields {
		if _, dup := j.seen[f.Key]; dup {
			continue
		}
		j.seen[f.Key] = struct{}{}
		b = append(b, ',')
		b = appendJSONString(b, f.Key)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, f.Value); err != nil {
			return b, err
		}
	}
	if a.Raw != nil {
		b = append(b, `,"raw":"`...)
		b = base64.StdEncoding.AppendEncode(b, a.Raw)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']'), nil
	}
	m, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, m...), nil
}

// appendJSONString appends s as a JSON string, escaping like encoding/json
// without HTML escaping: quotes, backslashes, control characters, U+2028,
// U+2029; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Flush writes buffered lines to the underlying writer.
func (j *JSON) Flush() error { return j.w.Flush() }

// Close flushes. It does not close the underlying writer, which the
// caller owns.
func (j *JSON) Close() error { return j.w.Flush() }
