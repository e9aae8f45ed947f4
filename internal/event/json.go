package event

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
)

// JSON writes events as JSON lines, one object per event. Keys, in order:
// ts (RFC 3339, nanoseconds, UTC), verdict, reason, layer, mac_src,
// mac_dst, vlan, eth_type (number), ip_src, ip_dst, proto (name or number
// as a string), port_src, port_dst, tcp_flags (letters), seq, ack,
// icmp_type, icmp_code, arp_op, payload_len, reply, reply_len, suppressed,
// app ({"proto": ..., field keys..., "raw": base64}). Zero or empty fields
// are omitted except ts, verdict and layer (icmp_type and icmp_code are
// kept on ICMP events, where 0 is meaningful; vlan is kept when tagged).
type JSON struct {
	w   *bufio.Writer
	enc *json.Encoder
	app bytes.Buffer
	ae  *json.Encoder
	rec jsonEvent
}

type jsonEvent struct {
	TS         string          `json:"ts"`
	Verdict    string          `json:"verdict"`
	Reason     string          `json:"reason,omitempty"`
	Layer      string          `json:"layer"`
	MACSrc     string          `json:"mac_src,omitempty"`
	MACDst     string          `json:"mac_dst,omitempty"`
	VLAN       *uint16         `json:"vlan,omitempty"`
	EthType    uint16          `json:"eth_type,omitempty"`
	IPSrc      string          `json:"ip_src,omitempty"`
	IPDst      string          `json:"ip_dst,omitempty"`
	Proto      string          `json:"proto,omitempty"`
	PortSrc    uint16          `json:"port_src,omitempty"`
	PortDst    uint16          `json:"port_dst,omitempty"`
	TCPFlags   string          `json:"tcp_flags,omitempty"`
	Seq        uint32          `json:"seq,omitempty"`
	Ack        uint32          `json:"ack,omitempty"`
	ICMPType   *uint8          `json:"icmp_type,omitempty"`
	ICMPCode   *uint8          `json:"icmp_code,omitempty"`
	ARPOp      uint16          `json:"arp_op,omitempty"`
	PayloadLen int             `json:"payload_len,omitempty"`
	Reply      string          `json:"reply,omitempty"`
	ReplyLen   int             `json:"reply_len,omitempty"`
	Suppressed string          `json:"suppressed,omitempty"`
	App        json.RawMessage `json:"app,omitempty"`
}

// NewJSON returns a JSON-lines sink writing to w through a buffer.
func NewJSON(w io.Writer) *JSON {
	j := &JSON{w: bufio.NewWriterSize(w, 64<<10)}
	j.enc = json.NewEncoder(j.w)
	j.enc.SetEscapeHTML(false)
	j.ae = json.NewEncoder(&j.app)
	j.ae.SetEscapeHTML(false)
	return j
}

const tsLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Write encodes e into the buffer.
func (j *JSON) Write(e *Event) error {
	r := &j.rec
	*r = jsonEvent{
		TS:         e.Time.UTC().Format(tsLayout),
		Verdict:    e.Verdict.String(),
		Reason:     e.Reason,
		Layer:      e.Layer,
		MACSrc:     macString(e.SrcMAC),
		MACDst:     macString(e.DstMAC),
		EthType:    e.EtherType,
		PortSrc:    e.SrcPort,
		PortDst:    e.DstPort,
		ARPOp:      e.ARPOp,
		PayloadLen: e.PayloadLen,
		Reply:      e.Reply,
		ReplyLen:   e.ReplyLen,
		Suppressed: e.Suppressed,
	}
	if e.HasVLAN() {
		id := e.VLANID()
		r.VLAN = &id
	}
	if e.SrcIP.IsValid() {
		r.IPSrc = e.SrcIP.String()
	}
	if e.DstIP.IsValid() {
		r.IPDst = e.DstIP.String()
	}
	if hasTransport(e) {
		r.Proto = ProtoName(e.IPProto)
	}
	if isTCP(e) {
		r.TCPFlags = TCPFlagString(e.TCPFlags)
		r.Seq, r.Ack = e.Seq, e.Ack
	}
	if isICMP(e) {
		t, c := e.ICMPType, e.ICMPCode
		r.ICMPType, r.ICMPCode = &t, &c
	}
	if e.App != nil {
		app, err := j.appendApp(e.App)
		if err != nil {
			return err
		}
		r.App = app
	}
	return j.enc.Encode(r)
}

// appendApp renders a as an ordered JSON object. Repeated keys (and keys
// "proto" and "raw", which the object uses itself) keep their first use.
func (j *JSON) appendApp(a *App) (json.RawMessage, error) {
	j.app.Reset()
	j.app.WriteString(`{"proto":`)
	if err := j.ae.Encode(a.Proto); err != nil {
		return nil, err
	}
	seen := map[string]bool{"proto": true, "raw": a.Raw != nil}
	for _, f := range a.Fields {
		if seen[f.Key] {
			continue
		}
		seen[f.Key] = true
		trimNL(&j.app)
		j.app.WriteByte(',')
		if err := j.ae.Encode(f.Key); err != nil {
			return nil, err
		}
		trimNL(&j.app)
		j.app.WriteByte(':')
		if err := j.ae.Encode(f.Value); err != nil {
			return nil, err
		}
	}
	trimNL(&j.app)
	if a.Raw != nil {
		j.app.WriteString(`,"raw":"`)
		j.app.WriteString(base64.StdEncoding.EncodeToString(a.Raw))
		j.app.WriteByte('"')
	}
	j.app.WriteByte('}')
	return json.RawMessage(j.app.Bytes()), nil
}

func trimNL(b *bytes.Buffer) {
	if n := b.Len(); n > 0 && b.Bytes()[n-1] == '\n' {
		b.Truncate(n - 1)
	}
}

// Flush writes buffered lines to the underlying writer.
func (j *JSON) Flush() error { return j.w.Flush() }

// Close flushes. It does not close the underlying writer, which the
// caller owns.
func (j *JSON) Close() error { return j.w.Flush() }
