package app

import (
	"net"
	"net/netip"
	"time"

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
	pipe    *PipeConn // a library serves the stream (LibraryHandler)
	tlsIdx  int       // the TLS library STARTTLS would use (-1: none), once tlsSeen
	tlsSeen bool

	// Ready is called (from the library's goroutine) when the library
	// wrote bytes or closed: the stack should Pull soon. Emit receives
	// the events the library records. Both are set by the stack.
	Ready func(client, server netip.AddrPort)
	Emit  func(*event.Event)
}

// Pipe sizes: unread client bytes, unsent library bytes.
const (
	pipeIn  = 32 << 10
	pipeOut = 32 << 10
)

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
// are counted by the stack, never handed to a handler); a library serving
// it is shut.
func (st *Stream) Drop() {
	st.buf = nil
	st.handler = hDead
	if st.pipe != nil {
		st.pipe.Shut()
	}
}

// HasLibrary reports whether a library serves the stream.
func (st *Stream) HasLibrary() bool { return st.pipe != nil }

// LibraryBusy reports whether the stream's library is working rather than
// waiting for the client (PipeConn.Busy).
func (st *Stream) LibraryBusy() bool { return st.pipe != nil && st.pipe.Busy() }

// Pull takes up to max bytes the library wrote; done reports that the
// library closed and everything was taken (send our FIN).
func (st *Stream) Pull(max int) (b []byte, done bool) {
	if st.pipe == nil {
		return nil, false
	}
	return st.pipe.Pull(max)
}

// Pin makes the handler named name serve the stream, without detection
// or greeting (after a STARTTLS, inside the TLS library). It reports
// whether such a handler is registered and enabled.
func (st *Stream) Pin(r *Registry, name string) bool {
	for i, e := range r.list {
		if e.enabled && e.h.Name() == name {
			st.handler, st.served = i, i
			return true
		}
	}
	return false
}

// startLibrary runs h's library on the stream, if it wants to and the
// bound allows, with pending as the client's first bytes.
func (st *Stream) startLibrary(r *Registry, idx int, pending []byte) bool {
	h, ok := r.list[idx].h.(LibraryHandler)
	if !ok || !h.UseLibrary(&st.Conn) {
		return false
	}
	max := r.MaxLibraries
	if max <= 0 {
		max = DefaultMaxLibraries
	}
	if r.libs.Add(1) > int64(max) {
		r.libs.Add(-1)
		return false
	}
	client, server := st.Conn.Client, st.Conn.Server
	ready := st.Ready
	p := NewPipeConn(net.TCPAddrFromAddrPort(server), net.TCPAddrFromAddrPort(client), pipeIn, pipeOut, func() {
		if ready != nil {
			ready(client, server)
		}
	})
	if len(pending) > 0 {
		_ = p.Push(pending)
	}
	st.pipe = p
	c := st.Conn // the library's own copy
	emit, name := st.Emit, h.Name()
	rec := func(a *event.App) {
		if emit == nil || a == nil || len(a.Fields) == 0 && len(a.Raw) == 0 {
			return
		}
		if a.Proto == "" {
			a.Proto = name
		}
		emit(&event.Event{Time: time.Now(), Kind: event.KindApp, Verdict: event.Received, Layer: "tcp",
			SrcIP: client.Addr(), DstIP: server.Addr(), IPProto: 6, SrcPort: client.Port(), DstPort: server.Port(),
			App: a})
	}
	go func() {
		defer r.libs.Add(-1)
		defer p.Close()
		h.RunLibrary(&c, p, rec)
	}()
	return true
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
	if st.startLibrary(r, idx, nil) {
		return nil, &event.App{Proto: g.Name()}, false, true
	}
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
	if st.pipe != nil {
		if err := st.pipe.Push(p); err != nil {
			st.Drop() // more than the library reads: give up
		}
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
		svc := st.Conn.Service
		if st.Conn.InTLS {
			svc = insideTLS(svc)
		}
		idx, maybe := r.detect(st.buf, TCP, svc)
		switch {
		case idx >= 0:
			st.handler, st.served = idx, idx
			if st.startLibrary(r, idx, st.buf) {
				a = &event.App{Proto: r.list[idx].h.Name(), Raw: capRaw(st.buf)}
				st.buf = nil
				return nil, a, false
			}
		case maybe:
			return nil, nil, false
		default:
			st.Drop()
			return nil, nil, false
		}
	}
	h := r.list[st.handler].h
	a = &event.App{Proto: h.Name(), Raw: capRaw(st.buf)}
	if !st.tlsSeen {
		// once per stream: the registry and personality do not change
		st.tlsSeen, st.tlsIdx = true, -1
		if !st.Conn.InTLS {
			st.tlsIdx = r.tlsLibrary(&st.Conn)
		}
		st.Conn.CanStartTLS = st.tlsIdx >= 0
	}
	tlsIdx := st.tlsIdx
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
		if res.StartTLS && tlsIdx >= 0 && !res.Close {
			// STARTTLS: the rest is TLS, served by the TLS library, which
			// hands the decrypted stream back to this handler.
			st.Conn.Resume = h.Name()
			rest := st.buf[n:]
			st.buf = nil
			if !st.startLibrary(r, tlsIdx, rest) {
				st.handler = hDead
				closing = true
			}
			return reply, a, closing
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
	if st.pipe != nil {
		st.pipe.Shut()
	}
}
