package app

import (
	"github.com/masscanned-go/masscanned/internal/event"
)

// Stream is the application side of one TCP connection: the bytes received
// in order and not yet consumed, the handler serving them and its Conn.
// The stack owns the connection itself (sequence numbers, timers, end);
// a Stream only buffers and dispatches. It is not safe for concurrent use
// (the stack's connection table guards it).
type Stream struct {
	Conn    Conn
	handler int // hUnknown, hDead, else registry index
	served  int // the handler that served the stream, -1: none
	buf     []byte
}

const (
	hUnknown = -1
	hDead    = -2
)

// Reset starts a new stream for c.
func (st *Stream) Reset(c Conn) {
	*st = Stream{Conn: c, handler: hUnknown, served: -1}
}

// Buffered is the memory the stream holds for unconsumed bytes.
func (st *Stream) Buffered() int { return cap(st.buf) }

// Drop releases the buffer and stops interpreting the stream (later bytes
// are counted by the stack, never handed to a handler).
func (st *Stream) Drop() {
	st.buf = nil
	st.handler = hDead
}

// Proto is the name of the handler serving the stream ("" while none).
func (st *Stream) Proto(r *Registry) string {
	if st.served >= 0 {
		return r.list[st.served].h.Name()
	}
	return ""
}

// Pinned reports whether a handler serves the stream, or it was given up.
func (st *Stream) Pinned() bool { return st.handler != hUnknown }

// Greet pins the stream to the greeter of service and returns what the
// server says first. ok is false when no enabled greeter speaks for
// service or the stream already has a handler or received bytes.
func (st *Stream) Greet(r *Registry, service string) (reply []byte, a *event.App, closing, ok bool) {
	if st.handler != hUnknown || len(st.buf) > 0 {
		return nil, nil, false, false
	}
	idx := r.Greeter(service)
	if idx < 0 {
		return nil, nil, false, false
	}
	g := r.list[idx].h.(Greeter)
	st.handler, st.served = idx, idx
	res := g.Greet(&st.Conn)
	a = &event.App{Proto: g.Name(), Fields: res.Fields}
	if res.Close {
		st.handler = hDead
	}
	return res.Reply, a, res.Close, true
}

// Feed appends p, the next in-order bytes of the client, and hands the
// buffer to the stream's handler (detecting it by content first if
// needed). A stream holding more than maxBuf unconsumed bytes is given up
// (Drop). It returns the reply bytes, the application record (nil when no
// handler saw the bytes) and whether the handler closes the connection.
func (st *Stream) Feed(r *Registry, p []byte, maxBuf int) (reply []byte, a *event.App, closing bool) {
	if st.handler == hDead || len(p) == 0 {
		return nil, nil, false
	}
	if len(st.buf)+len(p) > maxBuf {
		// More than we are willing to buffer without a complete message.
		st.Drop()
		return nil, nil, false
	}
	// exact-size buffers: what is accounted is what is held
	nb := make([]byte, len(st.buf)+len(p))
	copy(nb[copy(nb, st.buf):], p)
	st.buf = nb
	if st.handler == hUnknown {
		idx, maybe := r.detect(st.buf, TCP)
		switch {
		case idx >= 0:
			st.handler, st.served = idx, idx
		case maybe:
			return nil, nil, false
		default:
			st.Drop()
			return nil, nil, false
		}
	}
	h := r.list[st.handler].h
	a = &event.App{Proto: h.Name(), Raw: capRaw(st.buf)}
	for len(st.buf) > 0 && st.handler >= 0 {
		res := h.Serve(&st.Conn, st.buf)
		a.Fields = append(a.Fields, res.Fields...)
		if res.NeedMore {
			break
		}
		reply = append(reply, res.Reply...)
		n := res.Consumed
		if n <= 0 || n > len(st.buf) {
			n = len(st.buf)
		}
		if res.Close || (res.Consumed == 0 && len(res.Reply) == 0) {
			st.handler = hDead
			n = len(st.buf)
			closing = res.Close
		}
		rest := copy(st.buf, st.buf[n:])
		st.buf = st.buf[:rest]
	}
	// Keep only what is still unconsumed, in a buffer of its size.
	if len(st.buf) == 0 {
		st.buf = nil
	} else if cap(st.buf) != len(st.buf) {
		st.buf = append(make([]byte, 0, len(st.buf)), st.buf...)
	}
	return reply, a, closing
}

// Close tells the handler, if it wants to know, that the connection ended
// (why: an event.End* reason), and releases the buffer.
func (st *Stream) Close(r *Registry, why string) {
	if st.served >= 0 {
		if c, ok := r.list[st.served].h.(Closer); ok {
			c.Closed(&st.Conn, why)
		}
	}
	st.buf = nil
}
