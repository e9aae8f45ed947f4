package stack

import (
	"encoding/binary"
	"testing"

	"github.com/masscanned-go/masscanned/internal/personality"
)

// hotPaths are the L2-L4 paths that must not allocate.
func hotPaths(t testing.TB, e *testEnv) map[string][]byte {
	out := e.handle(tcpFrame(t, false, personality.SYN, 1000, 0, "", nil))
	isn := tcpOf(t, out[0]).Seq
	return map[string][]byte{
		"ARP":     arpReq(t, cliIP4, ourIP4, 1),
		"ICMP":    echo4(t, nil),
		"ICMPv6":  echo6(t),
		"SYN":     synFrame(t, false, linuxSYNOpts),
		"SYNv6":   synFrame(t, true, linuxSYNOpts),
		"ACK":     tcpFrame(t, false, personality.ACK, 1001, isn+1, "", nil),
		"dropMAC": func() []byte { f := echo4(t, nil); f[0] = 0x0a; return f }(),
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, p := range []*personality.Personality{personality.Linux(), personality.Windows(), personality.Masscanned()} {
		e := newEnv(t, p)
		for name, f := range hotPaths(t, e) {
			e.handle(f) // warm up the Tx buffer
			n := testing.AllocsPerRun(200, func() {
				e.tx.Reset()
				e.ev.Reset()
				e.st.Handle(f, Meta{Time: testTime}, &e.tx, &e.ev)
			})
			if n != 0 {
				t.Errorf("%s %s: %v allocations per packet", p.Name, name, n)
			}
		}
	}
}

func benchPath(b *testing.B, name string) {
	e := newEnv(b, personality.Linux())
	f := hotPaths(b, e)[name]
	e.handle(f)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.tx.Reset()
		e.ev.Reset()
		e.st.Handle(f, Meta{Time: testTime}, &e.tx, &e.ev)
	}
}

func BenchmarkARP(b *testing.B)      { benchPath(b, "ARP") }
func BenchmarkICMPEcho(b *testing.B) { benchPath(b, "ICMP") }
func BenchmarkSYN(b *testing.B)      { benchPath(b, "SYN") }
func BenchmarkSYNv6(b *testing.B)    { benchPath(b, "SYNv6") }
func BenchmarkACK(b *testing.B)      { benchPath(b, "ACK") }

// TestZeroAllocsFreshHandshakes: new handshakes (each SYN a new 4-tuple,
// remembered for SYN-ACK retransmission) allocate nothing once the queue's
// slab has grown: the same SYN sent again would not show it.
func TestZeroAllocsFreshHandshakes(t *testing.T) {
	e := newEnv(t, personality.Linux())
	syn := synFrame(t, false, nil)
	const sportOff = 14 + 20 // Ethernet + IPv4: the TCP source port
	frames := make([][]byte, 600)
	for i := range frames {
		f := append([]byte(nil), syn...)
		binary.BigEndian.PutUint16(f[sportOff:], uint16(20000+i))
		// fix the TCP checksum for the new port (RFC 1624)
		c := ^binary.BigEndian.Uint16(f[sportOff+16:])
		sum := uint32(c) + uint32(^uint16(40000)) + uint32(uint16(20000+i))
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(f[sportOff+16:], ^uint16(sum))
		frames[i] = f
	}
	for _, f := range frames[:300] { // grow the slab past its first capacity
		e.handle(f)
		if e.ev.Reply != "syn-ack" {
			t.Fatalf("warm-up SYN: %+v", e.ev)
		}
	}
	i := 300
	n := testing.AllocsPerRun(250, func() {
		e.tx.Reset()
		e.ev.Reset()
		e.st.Handle(frames[i], Meta{Time: testTime}, &e.tx, &e.ev)
		i++
	})
	if n != 0 {
		t.Errorf("%v allocations per fresh handshake", n)
	}
	if e.ev.Reply != "syn-ack" {
		t.Errorf("last SYN: %+v", e.ev)
	}
}
