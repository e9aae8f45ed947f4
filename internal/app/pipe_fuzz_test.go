package app

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// FuzzPipe drives a PipeConn with a sequence of operations from both
// sides (the stack's Push, Pull, CloseRead, Shut; the library's Read,
// Write, Close) and checks its promises: the library reads exactly the
// bytes pushed, in order; the stack pulls exactly the bytes written, in
// order; the bounds hold; nothing blocks the stack's side.
func FuzzPipe(f *testing.F) {
	f.Add([]byte{0, 5, 1, 3, 2, 4, 3, 9, 4})
	f.Add([]byte{2, 200, 3, 255, 0, 10, 1, 1, 5, 6})
	f.Add([]byte{0, 1, 6, 1, 3, 7, 0, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const maxIn, maxOut = 64, 32
		p := NewPipeConn(&net.TCPAddr{}, &net.TCPAddr{}, maxIn, maxOut, nil)
		var pushed, read, written, pulled bytes.Buffer
		shut, eof, closed := false, false, false
		next := byte(0)
		fill := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = next
				next++
			}
			return b
		}
		for i := 0; i+1 < len(ops); i += 2 {
			n := int(ops[i+1])
			switch ops[i] % 8 {
			case 0: // stack pushes n bytes
				b := fill(n % 80)
				if err := p.Push(b); err == nil {
					pushed.Write(b)
				}
			case 1: // library reads what is there (never waiting: a deadline in the past)
				_ = p.SetReadDeadline(time.Now().Add(-time.Second))
				b := make([]byte, n%80+1)
				k, _ := p.Read(b)
				read.Write(b[:k])
			case 2: // library writes at most the room left (a Write beyond would wait)
				room := maxOut - (written.Len() - pulled.Len())
				if closed || shut || room <= 0 {
					continue
				}
				b := fill(min(n%80, room))
				k, err := p.Write(b)
				if err == nil {
					written.Write(b[:k])
				}
			case 3: // stack pulls
				b, _ := p.Pull(n%80 + 1)
				pulled.Write(b)
			case 4:
				p.CloseRead()
				eof = true
			case 5:
				_ = p.Close()
				closed = true
			case 6:
				p.Shut()
				shut = true
			case 7:
				if p.Held() < 0 {
					t.Fatal("negative size")
				}
			}
			if !shut && (!bytes.HasPrefix(pushed.Bytes(), read.Bytes()) || !bytes.HasPrefix(written.Bytes(), pulled.Bytes())) {
				t.Fatalf("order broken: pushed %x read %x written %x pulled %x", pushed.Bytes(), read.Bytes(), written.Bytes(), pulled.Bytes())
			}
			if pushed.Len()-read.Len() > maxIn && !shut {
				t.Fatalf("input bound broken")
			}
		}
		_ = eof
	})
}
