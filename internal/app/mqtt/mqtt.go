// Package mqtt answers MQTT 3.1, 3.1.1 and 5.0 clients over TCP the way a
// Mosquitto 2.0 broker does. By default it refuses every CONNECT as "not
// authorised" (return code 5, reason 0x87 in MQTT 5), as Mosquitto 2.0
// does for remote clients without a password file; with the profile
// banner mqtt_auth = "open" it accepts every client, as a broker with
// allow_anonymous true, and serves SUBSCRIBE (with the retained
// $SYS/broker/version), PUBLISH at every QoS, UNSUBSCRIBE, PINGREQ and
// DISCONNECT. Credentials, the client's identity, subscriptions and
// published topics (payloads by size and SHA-256) are recorded.
package mqtt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "MQTT 3.1/3.1.1/5.0 CONNECT answered as Mosquitto 2.0 (refused, or open per profile); credentials, subscriptions and publications recorded"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// DefaultVersion is $SYS/broker/version without a profile banner "mqtt"
// (Debian 12's Mosquitto).
const DefaultVersion = "mosquitto version 2.0.11"

// Packet types.
const (
	tConnect     = 1
	tConnack     = 2
	tPublish     = 3
	tPuback      = 4
	tPubrec      = 5
	tPubrel      = 6
	tPubcomp     = 7
	tSubscribe   = 8
	tSuback      = 9
	tUnsubscribe = 10
	tUnsuback    = 11
	tPingreq     = 12
	tPingresp    = 13
	tDisconnect  = 14
	tAuth        = 15
)

// CONNACK codes.
const (
	rcAccepted        = 0
	rcBadVersion      = 1
	rcIDRejected      = 2
	rcNotAuthorized   = 5
	rc5NotAuthorized  = 0x87
	rc5IDInvalid      = 0x85
	rc5BadVersion     = 0x84
	maxPacket         = 16 << 10 // a packet we buffer whole (larger PUBLISH payloads are streamed)
	maxField          = 256      // bytes of a recorded string
	maxTopics         = 32       // topics recorded per (UN)SUBSCRIBE
	topicAliasMaximum = 10       // Mosquitto's max_topic_alias
	receiveMaximum    = 20       // Mosquitto's max_inflight_messages
)

var sysVersion = "$SYS/broker/version"

// Handler is the MQTT protocol handler.
type Handler struct{}

// New returns the MQTT handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "mqtt" }

// varint decodes a remaining length at b: value, bytes used; n == 0:
// incomplete; n < 0: malformed (more than 4 bytes).
func varint(b []byte) (v, n int) {
	mul := 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0
		}
		v += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
		mul *= 128
	}
	return 0, -1
}

func appendVarint(b []byte, v int) []byte {
	for {
		d := byte(v % 128)
		v /= 128
		if v > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if v == 0 {
			return b
		}
	}
}

var protoNames = []string{"\x00\x04MQTT", "\x00\x06MQIsdp"}

// Detect implements app.Handler: a CONNECT packet (TCP only).
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if t != app.TCP {
		return app.No
	}
	if len(data) == 0 {
		return app.Maybe
	}
	if data[0] != tConnect<<4 {
		return app.No
	}
	rl, n := varint(data[1:])
	switch {
	case n == 0:
		return app.Maybe
	case n < 0 || rl < 10:
		return app.No
	}
	rest := data[1+n:]
	v := app.No
	for _, p := range protoNames {
		k := min(len(rest), len(p))
		if string(rest[:k]) == p[:k] {
			if k == len(p) {
				return app.Yes
			}
			v = app.Maybe
		}
	}
	return v
}

// reader reads MQTT fields; bad is set on the first short read.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte1() byte {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() int {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := int(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u16()
	if r.bad || len(r.b) < n {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// props skips MQTT 5 properties.
func (r *reader) props() {
	n, k := varint(r.b)
	if k <= 0 || len(r.b) < k+n {
		r.bad = true
		return
	}
	r.b = r.b[k+n:]
}

// state is a connection's state.
type state struct {
	connected bool
	version   byte // 3, 4 or 5
	skip      int  // PUBLISH payload bytes still to read
	sum       hash.Hash
}

func field(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	return app.Printable(b)
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	st, _ := c.State.(*state)
	if st == nil {
		st = &state{}
		c.State = st
	}
	if st.skip > 0 {
		n := min(st.skip, len(data))
		st.sum.Write(data[:n])
		st.skip -= n
		res := app.Result{Consumed: n}
		if st.skip == 0 {
			res.Fields = []event.Field{{Key: "publish_sha256", Value: hex.EncodeToString(st.sum.Sum(nil))}}
			st.sum = nil
		}
		return res
	}
	if len(data) < 2 {
		return app.Result{NeedMore: true}
	}
	rl, n := varint(data[1:])
	if n == 0 {
		return app.Result{NeedMore: true}
	}
	if n < 0 {
		return app.Result{Close: true, Consumed: len(data)}
	}
	typ, flags := data[0]>>4, data[0]&0x0f
	total := 1 + n + rl
	if total > len(data) {
		if total > maxPacket && typ == tPublish && st.connected {
			res := publish(st, flags, data[1+n:], rl)
			if !res.NeedMore {
				res.Consumed = len(data)
			}
			return res
		}
		if total > maxPacket || len(data) > maxPacket {
			return app.Result{Close: true, Consumed: len(data)}
		}
		return app.Result{NeedMore: true}
	}
	body := data[1+n : total]
	if !st.connected {
		if typ != tConnect || flags != 0 {
			// Mosquitto drops a client whose first packet is not CONNECT
			return app.Result{Close: true, Consumed: total}
		}
		res := connect(c, st, body)
		res.Consumed = total
		return res
	}
	var res app.Result
	switch typ {
	case tPublish:
		res = publish(st, flags, body, rl)
	case tSubscribe:
		res = subscribe(c, st, flags, body)
	case tUnsubscribe:
		res = unsubscribe(st, flags, body)
	case tPubrel:
		// QoS 2, second half: PUBCOMP with the same packet id
		if len(body) < 2 || flags != 2 {
			return app.Result{Close: true, Consumed: total}
		}
		res.Reply = []byte{tPubcomp << 4, 2, body[0], body[1]}
	case tPuback, tPubrec, tPubcomp:
		// acknowledgements of messages we never sent: ignored
	case tPingreq:
		res.Reply = []byte{tPingresp << 4, 0}
		res.Fields = []event.Field{{Key: "ping", Value: true}}
	case tDisconnect:
		res.Fields = []event.Field{{Key: "disconnect", Value: true}}
		res.Close = true
	default: // CONNECT again, server-to-client packets, AUTH: protocol error
		res.Close = true
	}
	res.Consumed = total
	return res
}

// connect handles a CONNECT body and gives the CONNACK.
func connect(c *app.Conn, st *state, body []byte) app.Result {
	r := &reader{b: body}
	name := r.bytes()
	level := r.byte1()
	cflags := r.byte1()
	keepalive := r.u16()
	if r.bad {
		return app.Result{Close: true}
	}
	f := []event.Field{
		{Key: "protocol", Value: field(name)},
		{Key: "version", Value: int(level)},
	}
	v5 := string(name) == "MQTT" && level == 5
	ok := string(name) == "MQTT" && (level == 4 || level == 5) || string(name) == "MQIsdp" && level == 3
	if !ok {
		// unacceptable protocol version (MQTT 3.1.1 §3.2.2.3), then close
		f = append(f, event.Field{Key: "connack", Value: rcBadVersion})
		return app.Result{Reply: []byte{tConnack << 4, 2, 0, rcBadVersion}, Fields: f, Close: true}
	}
	st.version = level
	if cflags&1 != 0 {
		return app.Result{Fields: f, Close: true} // reserved flag: protocol error
	}
	if v5 {
		r.props()
	}
	clientID := r.bytes()
	var willTopic []byte
	if cflags&0x04 != 0 {
		if v5 {
			r.props()
		}
		willTopic = r.bytes()
		r.bytes() // will payload
	}
	var user, pass []byte
	hasUser, hasPass := cflags&0x80 != 0, cflags&0x40 != 0
	if hasUser {
		user = r.bytes()
	}
	if hasPass {
		pass = r.bytes()
	}
	if r.bad {
		return app.Result{Fields: f, Close: true} // malformed: Mosquitto drops it
	}
	clean := cflags&0x02 != 0
	f = append(f,
		event.Field{Key: "client_id", Value: field(clientID)},
		event.Field{Key: "keepalive", Value: keepalive},
		event.Field{Key: "clean_session", Value: clean})
	if cflags&0x04 != 0 {
		f = append(f, event.Field{Key: "will_topic", Value: field(willTopic)})
	}
	open := strings.EqualFold(c.Banner("mqtt_auth", ""), "open")
	if hasUser || hasPass {
		f = append(f, event.AuthField("mqtt", field(user), field(pass), open))
	}
	code := byte(rcAccepted)
	switch {
	case len(clientID) == 0 && !clean && !v5:
		code = rcIDRejected // no session to keep without an identifier
	case !open:
		code = rcNotAuthorized
	}
	var reply []byte
	if v5 {
		switch code {
		case rcIDRejected:
			code = rc5IDInvalid
		case rcNotAuthorized:
			code = rc5NotAuthorized
		}
		var props []byte
		if code == rcAccepted {
			props = []byte{0x22, 0, topicAliasMaximum, 0x21, 0, receiveMaximum}
			if len(clientID) == 0 {
				id := make([]byte, 16)
				if c.Rand != nil {
					c.Rand(id)
				}
				h := hex.EncodeToString(id)
				aid := "auto-" + strings.ToUpper(h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:])
				props = append(props, 0x12, 0, byte(len(aid)))
				props = append(props, aid...)
			}
		}
		v := appendVarint([]byte{0, code}, len(props))
		v = append(v, props...)
		reply = appendVarint([]byte{tConnack << 4}, len(v))
		reply = append(reply, v...)
	} else {
		reply = []byte{tConnack << 4, 2, 0, code}
	}
	f = append(f, event.Field{Key: "connack", Value: int(code)})
	if code != rcAccepted {
		return app.Result{Reply: reply, Fields: f, Close: true}
	}
	st.connected = true
	return app.Result{Reply: reply, Fields: f}
}

// publish handles a PUBLISH; body holds the whole packet after the fixed
// header, or (when rl is larger) its start: the rest of the payload is
// then hashed as it comes.
func publish(st *state, flags byte, body []byte, rl int) app.Result {
	qos := (flags >> 1) & 3
	r := &reader{b: body}
	topic := r.bytes()
	pid := -1
	if qos > 0 {
		pid = r.u16()
	}
	if st.version == 5 {
		r.props()
	}
	if qos == 3 {
		return app.Result{Close: true}
	}
	if r.bad {
		if len(body) < rl && len(body) < maxPacket {
			return app.Result{NeedMore: true}
		}
		return app.Result{Close: true}
	}
	hdr := len(body) - len(r.b) // bytes before the payload
	size := rl - hdr
	sum := sha256.New()
	sum.Write(r.b)
	f := []event.Field{
		{Key: "publish_topic", Value: field(topic)},
		{Key: "publish_qos", Value: int(qos)},
		{Key: "publish_retain", Value: flags&1 != 0},
		{Key: "publish_size", Value: size},
	}
	res := app.Result{Fields: f}
	if len(body) < rl {
		// the rest of the payload is hashed as it comes
		st.skip, st.sum = rl-len(body), sum
	} else {
		res.Fields = append(res.Fields, event.Field{Key: "publish_sha256", Value: hex.EncodeToString(sum.Sum(nil))})
	}
	switch qos {
	case 1:
		res.Reply = []byte{tPuback << 4, 2, byte(pid >> 8), byte(pid)}
	case 2:
		res.Reply = []byte{tPubrec << 4, 2, byte(pid >> 8), byte(pid)}
	}
	return res
}

// subscribe gives the SUBACK granting each requested QoS, then the
// retained $SYS/broker/version when a filter matches it.
func subscribe(c *app.Conn, st *state, flags byte, body []byte) app.Result {
	r := &reader{b: body}
	pid := r.u16()
	if st.version == 5 {
		r.props()
	}
	if flags != 2 || r.bad || len(r.b) == 0 {
		return app.Result{Close: true}
	}
	var topics []string
	var codes []byte
	version := false
	for len(r.b) > 0 && !r.bad {
		t := r.bytes()
		o := r.byte1()
		if r.bad {
			break
		}
		if o&3 == 3 || len(t) == 0 {
			return app.Result{Close: true} // malformed: Mosquitto disconnects
		}
		if len(topics) < maxTopics {
			topics = append(topics, field(t))
		}
		if len(codes) < 1024 {
			codes = append(codes, o&3)
		}
		version = version || matches(string(t), sysVersion)
	}
	if r.bad {
		return app.Result{Close: true}
	}
	v := []byte{byte(pid >> 8), byte(pid)}
	if st.version == 5 {
		v = append(v, 0)
	}
	v = append(v, codes...)
	reply := appendVarint([]byte{tSuback << 4}, len(v))
	reply = append(reply, v...)
	if version {
		// the retained message a real broker holds for that topic
		msg := c.Banner("mqtt", DefaultVersion)
		p := binary.BigEndian.AppendUint16(nil, uint16(len(sysVersion)))
		p = append(p, sysVersion...)
		if st.version == 5 {
			p = append(p, 0)
		}
		p = append(p, msg...)
		reply = append(reply, tPublish<<4|1) // QoS 0, retain
		reply = appendVarint(reply, len(p))
		reply = append(reply, p...)
	}
	return app.Result{Reply: reply, Fields: []event.Field{{Key: "subscribe", Value: topics}}}
}

func unsubscribe(st *state, flags byte, body []byte) app.Result {
	r := &reader{b: body}
	pid := r.u16()
	if st.version == 5 {
		r.props()
	}
	if flags != 2 || r.bad || len(r.b) == 0 {
		return app.Result{Close: true}
	}
	var topics []string
	n := 0
	for len(r.b) > 0 {
		t := r.bytes()
		if r.bad {
			return app.Result{Close: true}
		}
		if len(topics) < maxTopics {
			topics = append(topics, field(t))
		}
		n++
	}
	v := []byte{byte(pid >> 8), byte(pid)}
	if st.version == 5 {
		// one reason code per topic: 0x11 no subscription existed
		v = append(v, 0)
		for i := 0; i < min(n, 1024); i++ {
			v = append(v, 0x11)
		}
	}
	reply := appendVarint([]byte{tUnsuback << 4}, len(v))
	return app.Result{Reply: append(reply, v...), Fields: []event.Field{{Key: "unsubscribe", Value: topics}}}
}

// matches reports whether the topic filter f matches topic (MQTT
// 3.1.1 §4.7): + one level, # the rest; a wildcard first level does not
// match topics starting with $.
func matches(f, topic string) bool {
	fl, tl := strings.Split(f, "/"), strings.Split(topic, "/")
	for i, p := range fl {
		if p == "#" {
			return i > 0 || !strings.HasPrefix(topic, "$")
		}
		if i >= len(tl) {
			return false
		}
		if p == "+" {
			if i == 0 && strings.HasPrefix(topic, "$") {
				return false
			}
			continue
		}
		if p != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}
