package app

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// PipeConn is a net.Conn over one TCP connection of the userland stack,
// for libraries that need one (golang.org/x/crypto/ssh, crypto/tls). The
// stack's side never blocks: Push hands over the client's in-order bytes,
// Pull takes what the library wrote, CloseRead passes the client's FIN,
// Close ends it (connection end, eviction). The library's side is an
// ordinary blocking net.Conn, used from the library's own goroutine: Read
// waits for bytes, Write waits while the unsent output is full, deadlines
// are honoured, and Close from the library asks the stack for our FIN
// once the output is sent.
type PipeConn struct {
	mu       sync.Mutex
	cond     *sync.Cond
	in       []byte // client bytes not yet read
	out      []byte // library bytes not yet sent
	maxIn    int
	maxOut   int
	eof      bool // the client sent its FIN
	closed   bool // Close: no more reads or writes
	libDone  bool // the library closed its side
	waiting  int  // library calls blocked on the client (Read for input, Write for room)
	rdl, wdl time.Time
	timer    *time.Timer
	local    net.Addr
	remote   net.Addr
	// notify is called (outside the lock) when output is waiting or the
	// library closed: the stack should call Pull soon.
	notify func()
}

// ErrPipeFull is returned by Push when the client sent more than the
// library has read, beyond the bound: the connection should be given up.
var ErrPipeFull = errors.New("app: pipe input full")

// NewPipeConn makes a pipe between the stack (local = our address, remote
// = the client) and a library; at most maxIn unread client bytes and
// maxOut unsent library bytes are held. notify may be nil.
func NewPipeConn(local, remote net.Addr, maxIn, maxOut int, notify func()) *PipeConn {
	p := &PipeConn{local: local, remote: remote, maxIn: maxIn, maxOut: maxOut, notify: notify}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// Push appends the client's next bytes. It never blocks.
func (p *PipeConn) Push(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.eof {
		return net.ErrClosed
	}
	if len(p.in)+len(b) > p.maxIn {
		return ErrPipeFull
	}
	p.in = append(p.in, b...)
	p.cond.Broadcast()
	return nil
}

// CloseRead passes the client's FIN: Read returns io.EOF once the bytes
// already pushed are read.
func (p *PipeConn) CloseRead() {
	p.mu.Lock()
	p.eof = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Pull takes up to max bytes the library wrote (nil when none) and
// reports whether the library has closed and everything was taken. It
// never blocks.
func (p *PipeConn) Pull(max int) (b []byte, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(len(p.out), max)
	if n > 0 {
		b = append([]byte(nil), p.out[:n]...)
		p.out = append(p.out[:0], p.out[n:]...)
		p.cond.Broadcast() // a blocked Write may go on
	}
	return b, p.libDone && len(p.out) == 0
}

// Pending reports whether output or the library's close waits for Pull.
func (p *PipeConn) Pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.out) > 0 || p.libDone
}

// Busy reports whether the library is working on its side: neither
// waiting for the client (blocked in Read for input or in Write for room)
// nor done. A server generating its host key is busy; the client is not
// idle then, it waits for us.
func (p *PipeConn) Busy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && !p.libDone && p.waiting == 0
}

// Held is the memory the pipe holds (unread input, unsent output).
func (p *PipeConn) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cap(p.in) + cap(p.out)
}

// Read implements net.Conn for the library.
func (p *PipeConn) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return 0, net.ErrClosed
		}
		if len(p.in) > 0 {
			n := copy(b, p.in)
			p.in = append(p.in[:0], p.in[n:]...)
			if len(p.in) == 0 {
				p.in = nil // give the memory back between messages
			}
			return n, nil
		}
		if p.eof {
			return 0, io.EOF
		}
		if !p.rdl.IsZero() && !time.Now().Before(p.rdl) {
			return 0, os.ErrDeadlineExceeded
		}
		p.waiting++
		p.cond.Wait()
		p.waiting--
	}
}

// Write implements net.Conn for the library: the bytes wait for Pull.
func (p *PipeConn) Write(b []byte) (int, error) {
	p.mu.Lock()
	n := 0
	for len(b) > 0 {
		if p.closed || p.libDone {
			p.mu.Unlock()
			return n, net.ErrClosed
		}
		if !p.wdl.IsZero() && !time.Now().Before(p.wdl) {
			p.mu.Unlock()
			return n, os.ErrDeadlineExceeded
		}
		room := p.maxOut - len(p.out)
		if room <= 0 {
			p.waiting++
			p.cond.Wait()
			p.waiting--
			continue
		}
		k := min(room, len(b))
		p.out = append(p.out, b[:k]...)
		b = b[k:]
		n += k
		if p.notify != nil {
			p.mu.Unlock()
			p.notify()
			p.mu.Lock()
		}
	}
	p.mu.Unlock()
	return n, nil
}

// Close implements net.Conn for the library: no more writes; the stack
// sends what is left, then our FIN.
func (p *PipeConn) Close() error {
	p.mu.Lock()
	if p.libDone {
		p.mu.Unlock()
		return nil
	}
	p.libDone = true
	p.cond.Broadcast()
	p.mu.Unlock()
	if p.notify != nil {
		p.notify()
	}
	return nil
}

// Shut ends the pipe from the stack's side (the connection ended or was
// evicted): the library's Read and Write fail from now on.
func (p *PipeConn) Shut() {
	p.mu.Lock()
	p.closed = true
	p.in, p.out = nil, nil
	if p.timer != nil {
		p.timer.Stop()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// LocalAddr implements net.Conn.
func (p *PipeConn) LocalAddr() net.Addr { return p.local }

// RemoteAddr implements net.Conn.
func (p *PipeConn) RemoteAddr() net.Addr { return p.remote }

// SetDeadline implements net.Conn.
func (p *PipeConn) SetDeadline(t time.Time) error {
	p.mu.Lock()
	p.rdl, p.wdl = t, t
	p.arm(t)
	p.mu.Unlock()
	return nil
}

// SetReadDeadline implements net.Conn.
func (p *PipeConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.rdl = t
	p.arm(t)
	p.mu.Unlock()
	return nil
}

// SetWriteDeadline implements net.Conn.
func (p *PipeConn) SetWriteDeadline(t time.Time) error {
	p.mu.Lock()
	p.wdl = t
	p.arm(t)
	p.mu.Unlock()
	return nil
}

// arm wakes blocked readers and writers at t so they see the deadline.
func (p *PipeConn) arm(t time.Time) {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if t.IsZero() {
		p.cond.Broadcast()
		return
	}
	p.timer = time.AfterFunc(time.Until(t), func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
}
