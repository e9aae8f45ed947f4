package app

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func newTestPipe(maxIn, maxOut int) (*PipeConn, *atomic.Int32) {
	var n atomic.Int32
	p := NewPipeConn(&net.TCPAddr{}, &net.TCPAddr{}, maxIn, maxOut, func() { n.Add(1) })
	return p, &n
}

func TestPipeOrderAndEOF(t *testing.T) {
	p, _ := newTestPipe(16, 16)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(p)
		got <- b
	}()
	for _, s := range []string{"ab", "cde", "", "f"} {
		if err := p.Push([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	p.CloseRead()
	if b := <-got; string(b) != "abcdef" {
		t.Fatalf("read %q", b)
	}
	if err := p.Push([]byte("x")); err == nil {
		t.Errorf("push after the client's FIN accepted")
	}
}

func TestPipeInputBound(t *testing.T) {
	p, _ := newTestPipe(4, 4)
	if err := p.Push([]byte("abcd")); err != nil {
		t.Fatal(err)
	}
	if err := p.Push([]byte("e")); !errors.Is(err, ErrPipeFull) {
		t.Fatalf("push beyond the bound: %v", err)
	}
}

func TestPipeWritePullAndBackpressure(t *testing.T) {
	p, notified := newTestPipe(16, 4)
	done := make(chan error)
	go func() {
		_, err := p.Write([]byte("0123456789"))
		done <- err
	}()
	var out []byte
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < 10 && time.Now().Before(deadline) {
		b, fin := p.Pull(3)
		if fin {
			t.Fatal("done before Close")
		}
		if len(b) > 3 {
			t.Fatalf("pulled %d > 3", len(b))
		}
		out = append(out, b...)
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil || string(out) != "0123456789" {
		t.Fatalf("write %v, pulled %q", err, out)
	}
	if notified.Load() == 0 {
		t.Errorf("no notification")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if b, fin := p.Pull(10); len(b) != 0 || !fin {
		t.Errorf("after the library's Close: %q %v", b, fin)
	}
	if _, err := p.Write([]byte("x")); err == nil {
		t.Errorf("write after Close accepted")
	}
}

func TestPipeDeadlineAndShut(t *testing.T) {
	p, _ := newTestPipe(16, 16)
	_ = p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := p.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = p.SetReadDeadline(time.Time{})
	errc := make(chan error)
	go func() {
		_, err := p.Read(make([]byte, 4))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	p.Shut() // eviction: the library's blocked Read fails
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Shut: %v", err)
	}
	if err := p.Push([]byte("x")); err == nil {
		t.Errorf("push after Shut accepted")
	}
}

// Busy: the library works unless it waits for the client (in Read for
// input, in Write for room) or is done.
func TestPipeBusy(t *testing.T) {
	p := NewPipeConn(nil, nil, 64, 4, nil)
	if !p.Busy() {
		t.Fatal("a library that has not read yet is not busy")
	}
	waitIdle := func(what string) {
		t.Helper()
		for i := 0; i < 1000 && p.Busy(); i++ {
			time.Sleep(time.Millisecond)
		}
		if p.Busy() {
			t.Fatalf("busy while blocked in %s", what)
		}
	}
	read := make(chan struct{})
	go func() {
		b := make([]byte, 8)
		_, _ = p.Read(b)
		close(read)
	}()
	waitIdle("Read")
	if err := p.Push([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	<-read
	if !p.Busy() {
		t.Fatal("not busy between two calls")
	}
	wrote := make(chan struct{})
	go func() {
		_, _ = p.Write([]byte("0123456789")) // more than the 4 bytes of room
		close(wrote)
	}()
	waitIdle("Write")
	for {
		if b, _ := p.Pull(4); len(b) == 0 {
			select {
			case <-wrote:
			default:
				time.Sleep(time.Millisecond)
				continue
			}
			break
		}
	}
	_ = p.Close()
	if p.Busy() {
		t.Fatal("busy after Close")
	}
}
