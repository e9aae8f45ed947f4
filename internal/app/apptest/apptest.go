// Package apptest drives an application handler the way the registry and
// the connection table do, and checks the Handler contract. Protocol
// packages use it in their fuzz targets.
package apptest

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Limits are the promises a handler makes about UDP replies.
type Limits struct {
	// FitsCap: a UDP reply never exceeds c.MaxReply (the handler gives a
	// compact form or nothing).
	FitsCap bool
	// NoUDPReply: the protocol is never answered over UDP.
	NoUDPReply bool
}

// Drive runs Detect, then Serve as the dispatcher would: once for UDP;
// for TCP repeatedly over the unconsumed bytes until the handler waits for
// more, refuses, closes or makes no progress (at most 1000 calls). It fails
// t when a Result breaks the contract.
func Drive(t testing.TB, h app.Handler, c *app.Conn, data []byte, lim Limits) {
	t.Helper()
	if h.Detect(data, c.Transport) == app.No {
		return
	}
	buf := data
	for i := 0; len(buf) > 0 && i < 1000; i++ {
		res := h.Serve(c, buf)
		if res.NeedMore && (res.Consumed != 0 || len(res.Reply) != 0) {
			t.Fatalf("NeedMore with Consumed %d and a %d-byte reply", res.Consumed, len(res.Reply))
		}
		if res.Consumed < 0 || res.Consumed > len(buf) {
			t.Fatalf("consumed %d of %d bytes", res.Consumed, len(buf))
		}
		if c.Transport == app.UDP {
			if lim.NoUDPReply && len(res.Reply) > 0 {
				t.Fatalf("%d-byte UDP reply from a protocol never answered over UDP", len(res.Reply))
			}
			if lim.FitsCap && c.MaxReply > 0 && len(res.Reply) > c.MaxReply {
				t.Fatalf("UDP reply of %d bytes over the %d-byte cap", len(res.Reply), c.MaxReply)
			}
			return
		}
		if res.NeedMore || res.Close || res.Consumed == 0 {
			return
		}
		buf = buf[res.Consumed:]
	}
}

// Conn is a connection for handler tests: client and server as
// "addr:port", a fixed time and zero bytes for randomness (override Rand
// where a test needs distinct bytes).
func Conn(t app.Transport, pers, client, server string, now time.Time) *app.Conn {
	return &app.Conn{
		Transport:   t,
		Client:      netip.MustParseAddrPort(client),
		Server:      netip.MustParseAddrPort(server),
		Personality: pers,
		Now:         now,
		Rand:        func(p []byte) { clear(p) },
	}
}

// Step is one exchange of a dialogue: what the client sends, the reply
// and close expected, and fields the handler must record (by key).
type Step struct {
	In     string
	Reply  string
	Close  bool
	Fields map[string]any
}

// Converse greets c with g, then feeds each step's bytes to g.Serve (all
// of them must be consumed) and checks the reply, the close and the
// fields recorded.
func Converse(t testing.TB, g app.Greeter, c *app.Conn, steps []Step) {
	t.Helper()
	g.Greet(c)
	for i, s := range steps {
		var reply []byte
		got := map[string]any{}
		var closed bool
		buf := []byte(s.In)
		for len(buf) > 0 {
			res := g.Serve(c, buf)
			if res.NeedMore || res.Consumed == 0 {
				t.Fatalf("step %d %q: stuck at %q: %+v", i, s.In, buf, res)
			}
			reply = append(reply, res.Reply...)
			for _, f := range res.Fields {
				got[f.Key] = f.Value
			}
			closed = closed || res.Close
			buf = buf[res.Consumed:]
		}
		if string(reply) != s.Reply || closed != s.Close {
			t.Fatalf("step %d %q: reply %q close %v, want %q %v", i, s.In, reply, closed, s.Reply, s.Close)
		}
		for k, v := range s.Fields {
			if got[k] != v {
				t.Errorf("step %d: field %s = %v, want %v", i, k, got[k], v)
			}
		}
	}
}

// Bridge plays the stack between a real client (over net.Pipe) and an
// app.Stream: client bytes are fed in order, library output is pulled
// when the stream says it is ready, the library's close closes the pipe.
func Bridge(reg *app.Registry, st *app.Stream, srv net.Conn) {
	var mu sync.Mutex
	ready := make(chan struct{}, 1)
	st.Ready = func(netip.AddrPort, netip.AddrPort) {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	go func() { // library output → client
		for range ready {
			mu.Lock()
			b, done := st.Pull(1 << 16)
			mu.Unlock()
			if len(b) > 0 {
				if _, err := srv.Write(b); err != nil {
					return
				}
			}
			if done {
				srv.Close()
				return
			}
			select { // more may have come meanwhile
			case ready <- struct{}{}:
			default:
			}
			time.Sleep(time.Millisecond)
		}
	}()
	go func() { // client → stream
		b := make([]byte, 4096)
		for {
			n, err := srv.Read(b)
			if err != nil {
				mu.Lock()
				st.Close(reg, "test")
				mu.Unlock()
				return
			}
			mu.Lock()
			st.Feed(reg, b[:n], 1<<16)
			mu.Unlock()
		}
	}()
}

// Recorder collects the application records a Stream's library emits
// (Stream.Emit = r.Emit), each as a map of its fields plus "proto".
type Recorder struct {
	mu   sync.Mutex
	recs []map[string]any
}

// Emit records e's application record.
func (r *Recorder) Emit(e *event.Event) {
	if e.App == nil {
		return
	}
	m := map[string]any{"proto": e.App.Proto}
	for _, f := range e.App.Fields {
		m[f.Key] = f.Value
	}
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
}

// All returns the records so far.
func (r *Recorder) All() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.recs...)
}

// Wait polls the records (for at most 5 s) until done, given all of them,
// says so; it reports whether it did.
func (r *Recorder) Wait(done func([]map[string]any) bool) bool {
	for i := 0; i < 500; i++ {
		if done(r.All()) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
