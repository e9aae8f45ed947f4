package stack

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

// upperLib is a library-served test protocol: it upper-cases every line
// the client sends, and closes on "BYE".
type upperLib struct{ seen chan string }

func (upperLib) Name() string { return "upper" }
func (upperLib) Detect(b []byte, _ app.Transport) app.Verdict {
	if bytes.HasPrefix(b, []byte("UP ")) {
		return app.Yes
	}
	if bytes.HasPrefix([]byte("UP "), b) {
		return app.Maybe
	}
	return app.No
}
func (upperLib) Serve(*app.Conn, []byte) app.Result { return app.Result{} }
func (upperLib) UseLibrary(*app.Conn) bool          { return true }
func (u upperLib) RunLibrary(_ *app.Conn, nc net.Conn, rec func(*event.App)) {
	var line []byte
	b := make([]byte, 64)
	for {
		n, err := nc.Read(b)
		for _, c := range b[:n] {
			if c != '\n' {
				line = append(line, c)
				continue
			}
			u.seen <- string(line)
			rec(&event.App{Fields: []event.Field{{Key: "line", Value: string(line)}}})
			if string(line) == "UP BYE" {
				_ = nc.Close()
				return
			}
			_, _ = nc.Write([]byte(strings.ToUpper(string(line)) + "\n"))
			line = line[:0]
		}
		if err != nil {
			return
		}
	}
}

// waitReady waits for a library's output and runs Tick.
func (e *lifeEnv) waitReady(t *testing.T, at time.Duration) [][]byte {
	t.Helper()
	for i := 0; i < 200 && !e.st.Ready(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	return e.tick(at)
}

// TestLibraryThroughStack: a library-served connection gets its bytes in
// order and once (a retransmission is not handed over again), its output
// goes out as data segments in sequence when Tick runs, and its close is
// our FIN.
func TestLibraryThroughStack(t *testing.T) {
	lib := upperLib{seen: make(chan string, 8)}
	e := newLifeEnv(t, personality.Linux(), "", func(c *Config) { c.Apps.Register(lib, true, "test library") })
	isn := handshake(t, e.testEnv, false)
	A, PA := uint8(personality.ACK), uint8(personality.PSH|personality.ACK)
	if out := e.handle(tcpFrame(t, false, PA, 1001, isn+1, "UP he", nil)); len(out) != 1 || len(tcpOf(t, out[0]).Payload) != 0 {
		t.Fatalf("first part: want an ACK")
	}
	e.handle(tcpFrame(t, false, PA, 1006, isn+1, "llo\n", nil))
	// a retransmission of the first part: ACKed, not handed over again
	e.handle(tcpFrame(t, false, PA, 1001, isn+1, "UP he", nil))
	if got := <-lib.seen; got != "UP hello" {
		t.Fatalf("library read %q", got)
	}
	out := e.waitReady(t, 0)
	if len(out) != 1 {
		t.Fatalf("%d frames after the library wrote", len(out))
	}
	tc := tcpOf(t, out[0])
	if string(tc.Payload) != "UP HELLO\n" || tc.Seq != isn+1 || tc.Ack != 1010 {
		t.Fatalf("library output %q seq %d ack %d", tc.Payload, tc.Seq-isn, tc.Ack)
	}
	e.handle(tcpFrame(t, false, PA, 1010, isn+10, "UP BYE\n", nil))
	<-lib.seen
	out = e.waitReady(t, 0)
	if len(out) != 1 || flagsOf(tcpOf(t, out[0])) != personality.FIN|personality.ACK || tcpOf(t, out[0]).Seq != isn+10 {
		t.Fatalf("library close: %d frames", len(out))
	}
	e.handle(tcpFrame(t, false, personality.FIN|A, 1017, isn+11, "", nil))
	ends := e.ends()
	if len(ends) != 1 || ends[0].End != event.EndClose || ends[0].Proto != "upper" || ends[0].BytesOut != 9 {
		t.Errorf("ends %+v", ends)
	}
	n := 0
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.emitted {
		if ev.Kind == event.KindApp && ev.App.Proto == "upper" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d library records, want 2", n)
	}
}

// TestLibraryEvicted: the end of a connection (here a reset) shuts its
// library's side: a blocked Read returns.
func TestLibraryEvicted(t *testing.T) {
	done := make(chan struct{})
	lib := blockLib{done: done}
	e := newLifeEnv(t, personality.Linux(), "", func(c *Config) { c.Apps.Register(lib, true, "test library") })
	isn := handshake(t, e.testEnv, false)
	e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "BLOCK", nil))
	e.handle(tcpFrame(t, false, personality.RST, 1006, 0, "", nil))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the library was not stopped by the connection's end")
	}
}

type blockLib struct{ done chan struct{} }

func (blockLib) Name() string { return "block" }
func (blockLib) Detect(b []byte, _ app.Transport) app.Verdict {
	if bytes.HasPrefix(b, []byte("BLOCK")) {
		return app.Yes
	}
	return app.No
}
func (blockLib) Serve(*app.Conn, []byte) app.Result { return app.Result{} }
func (blockLib) UseLibrary(*app.Conn) bool          { return true }
func (l blockLib) RunLibrary(_ *app.Conn, nc net.Conn, _ func(*event.App)) {
	_, _ = io.ReadAll(nc) // until the stack shuts the pipe
	close(l.done)
}

// slowLib stands for a server that works before it answers (an RSA host
// key generated on a host's first contact): it waits for work to be
// released before reading the client, or reads at once without it.
type slowLib struct {
	started chan struct{}
	release chan struct{} // nil: no work, straight to Read
	done    chan struct{}
}

func (slowLib) Name() string { return "slow" }
func (slowLib) Detect(b []byte, _ app.Transport) app.Verdict {
	if bytes.HasPrefix(b, []byte("SLOW")) {
		return app.Yes
	}
	return app.No
}
func (slowLib) Serve(*app.Conn, []byte) app.Result { return app.Result{} }
func (slowLib) UseLibrary(*app.Conn) bool          { return true }
func (l slowLib) RunLibrary(_ *app.Conn, nc net.Conn, _ func(*event.App)) {
	close(l.started)
	if l.release != nil {
		<-l.release
	}
	_, _ = io.ReadAll(nc)
	close(l.done)
}

// TestLibraryBusyNotIdle: the idle timeout closes a connection whose
// library waits for the client, not one whose library works, for up to
// libraryGrace more: the client waits for us then.
func TestLibraryBusyNotIdle(t *testing.T) {
	for _, busy := range []bool{false, true} {
		lib := slowLib{started: make(chan struct{}), done: make(chan struct{})}
		if busy {
			lib.release = make(chan struct{})
		}
		e := newLifeEnv(t, personality.Linux(), "", func(c *Config) { c.Apps.Register(lib, true, "test library") })
		idle := e.st.cfg.Conns.cfg.IdleTimeout
		isn := handshake(t, e.testEnv, false)
		e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "SLOW", nil))
		<-lib.started
		if !busy {
			// the library reaches its Read
			for i := 0; i < 1000 && librariesBusy(e.st.cfg.Conns) > 0; i++ {
				time.Sleep(time.Millisecond)
			}
		}
		if n := librariesBusy(e.st.cfg.Conns); n != map[bool]int{false: 0, true: 1}[busy] {
			t.Fatalf("busy=%v: %d libraries busy", busy, n)
		}
		fin := func(out [][]byte) bool {
			for _, f := range out {
				if flagsOf(tcpOf(t, f))&personality.FIN != 0 {
					return true
				}
			}
			return false
		}
		out := e.tick(idle + time.Second)
		if fin(out) == busy {
			t.Fatalf("busy=%v: FIN at the idle timeout: %v", busy, fin(out))
		}
		if busy {
			if !fin(e.tick(idle + libraryGrace + time.Second)) {
				t.Fatal("a working library held its connection past the grace")
			}
			close(lib.release)
		}
		select {
		case <-lib.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("busy=%v: the library was not stopped by the idle close", busy)
		}
		if ends := e.ends(); len(ends) != 1 || ends[0].End != event.EndIdle {
			t.Errorf("busy=%v: ends %+v", busy, ends)
		}
	}
}

// librariesBusy counts the table's connections whose library works.
func librariesBusy(t *ConnTable) int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, c := range sh.m {
			if c.stream.LibraryBusy() {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}
