package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/metrics"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/stack"
)

// memLink is an in-memory link.Link standing for a ring backend: Recv
// hands out batches of frames from a fixed set (cycled, each stamped one
// microsecond after the previous, the source port of TCP frames counting
// up, so each is a new handshake), Send copies replies into a transmit "ring" of 2 KiB slots. After
// limit frames Recv says io.EOF.
type memLink struct {
	in    [][]byte
	slots [][]byte // the "ring": copies of in handed out, distinct within a batch
	next  int
	limit int
	batch int
	now   time.Time
	sport uint16

	ring    []byte
	slot    int
	sent    uint64
	sends   uint64 // Send calls
	keep    bool
	replies [][]byte // with keep: copies of the replies
}

func newMemLink(batch, limit int, in ...[]byte) *memLink {
	m := &memLink{in: in, limit: limit, batch: batch, now: time.Unix(1764072000, 0), ring: make([]byte, 256*2048)}
	size := 0
	for _, f := range in {
		size = max(size, len(f))
	}
	for range 2*batch + 1 {
		m.slots = append(m.slots, make([]byte, size))
	}
	return m
}

func (m *memLink) BatchSize() int { return m.batch }

func (m *memLink) Recv(frames []link.Frame, _ time.Duration) (int, error) {
	if m.limit <= 0 {
		return 0, io.EOF
	}
	n := min(len(frames), m.limit)
	for i := range n {
		f := m.in[m.next%len(m.in)]
		b := m.slots[m.next%len(m.slots)][:len(f)]
		m.next++
		copy(b, f)
		if len(b) >= 54 && b[12] == 0x08 && b[23] == 6 && b[47] == 0x02 {
			// a new source port each time: every SYN a new handshake
			m.sport++
			binary.BigEndian.PutUint16(b[34:], 1024+m.sport%60000)
			b[50], b[51] = 0, 0 // and no checksum to verify (IPv4 TCP: 0 is invalid)
		}
		m.now = m.now.Add(time.Microsecond)
		frames[i] = link.Frame{Data: b, Time: m.now, ChecksumNotReady: true}
	}
	m.limit -= n
	return n, nil
}

func (m *memLink) Send(frames [][]byte) (int, error) {
	m.sends++
	for _, f := range frames {
		copy(m.ring[m.slot*2048:(m.slot+1)*2048], f)
		m.slot = (m.slot + 1) % 256
		m.sent++
		if m.keep {
			m.replies = append(m.replies, append([]byte(nil), f...))
		}
	}
	return len(frames), nil
}

func (m *memLink) Close() error      { return nil }
func (m *memLink) Stats() link.Stats { return link.Stats{Sent: m.sent} }

var (
	wkOurMAC = net.HardwareAddr{0x52, 0x1c, 0x4e, 0xc2, 0xa4, 0x1f}
	wkCliMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
)

func wkFrame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func wkEth() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: wkCliMAC, DstMAC: wkOurMAC, EthernetType: layers.EthernetTypeIPv4}
}

func wkIP(p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: net.IP{198, 51, 100, 1}, DstIP: net.IP{198, 51, 100, 2}}
}

func wkTCP(t testing.TB, sport uint16, seq, ack uint32, syn bool) []byte {
	ip := wkIP(layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: seq, Ack: ack, SYN: syn, ACK: !syn, Window: 1024}
	_ = tc.SetNetworkLayerForChecksum(ip)
	return wkFrame(t, wkEth(), ip, tc)
}

func wkEcho(t testing.TB) []byte {
	return wkFrame(t, wkEth(), wkIP(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}, gopacket.Payload("ping"))
}

// wkStack is a worker's stack as run() makes it, with the linux
// personality and the default --max-half-open (4096).
func wkStack(t testing.TB) *stack.Stack { return wkStackPending(t, 4096) }

func wkStackPending(t testing.TB, maxPending int) *stack.Stack {
	self, err := addrset.Parse("", "198.51.100.2")
	if err != nil {
		t.Fatal(err)
	}
	reg := &app.Registry{}
	st, err := stack.New(stack.Config{MAC: [6]byte(wkOurMAC), Self: self, Personality: personality.Linux(), Apps: reg,
		Conns: stack.NewConnTable(reg, stack.ConnConfig{IdleTimeout: time.Minute}), Workers: 1, MaxPending: maxPending,
		CookieKey: [16]byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// handshake answers a SYN on a fresh stack and returns the SYN-ACK.
func wkSYNACK(t testing.TB, st *stack.Stack, sport uint16) []byte {
	m := newMemLink(1, 1, wkTCP(t, sport, 1000, 0, true))
	m.keep = true
	m.sport = sport - 1025 // Recv counts it up to sport
	if err := newWorker(m, st, nil, nil, nil, slog.New(slog.DiscardHandler)).run(); err != nil {
		t.Fatal(err)
	}
	if len(m.replies) != 1 {
		t.Fatalf("%d replies to a SYN", len(m.replies))
	}
	return m.replies[0]
}

// The worker answers every frame of a batch, in order, with one Send per
// batch (at most maxOutFrames replies each, unpaced), and passes each frame's event
// to the metrics and the sink in order.
func TestWorkerBatches(t *testing.T) {
	for _, batch := range []int{1, 7, 64, 200} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			st := wkStack(t)
			const total = 500
			m := newMemLink(batch, total, wkTCP(t, 1, 1000, 0, true), wkEcho(t))
			m.keep = true
			var sink bytes.Buffer
			js := event.NewJSON(&sink)
			set := metrics.NewSet(1, nil)
			var ports []uint16
			emit := func(ev *event.Event) {
				ports = append(ports, ev.SrcPort)
				_ = js.Write(ev)
			}
			if err := newWorker(m, st, set.Worker(0), emit, nil, slog.New(slog.DiscardHandler)).run(); err != nil {
				t.Fatal(err)
			}
			if len(m.replies) != total || len(ports) != total {
				t.Fatalf("%d replies, %d events for %d frames", len(m.replies), len(ports), total)
			}
			for i, r := range m.replies {
				p := gopacket.NewPacket(r, layers.LayerTypeEthernet, gopacket.Default)
				if i%2 == 1 {
					if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); !ok || ic.TypeCode.Type() != 0 {
						t.Fatalf("reply %d is not an echo reply: %v", i, p)
					}
					continue
				}
				tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if !ok || !tc.SYN || !tc.ACK || uint16(tc.DstPort) != 1024+uint16(i/2+1) || uint16(tc.DstPort) != ports[i] {
					t.Fatalf("reply %d is not the SYN-ACK of frame %d (event port %d): %v", i, i, ports[i], p)
				}
			}
			// unpaced (the link cannot tell its backlog): a Send per batch,
			// or per maxOutFrames replies
			wantSends := 0
			for left := total; left > 0; left -= batch {
				wantSends += (min(left, batch) + maxOutFrames - 1) / maxOutFrames
			}
			if m.sends != uint64(wantSends) {
				t.Errorf("%d Send calls for %d frames in batches of %d, want %d", m.sends, total, batch, wantSends)
			}
			_ = js.Close()
			if got := bytes.Count(sink.Bytes(), []byte("\n")); got != total {
				t.Errorf("%d events written", got)
			}
		})
	}
}

// The whole worker loop (a batch in, the stack, the batch of replies out)
// allocates nothing per SYN, ACK or ICMP echo request, with metrics on.
// A SYN is measured without SYN-ACK retransmission (--max-half-open 0)
// and with the pending-handshake queue full (a flood's steady state):
// while that queue fills, each new handshake allocates its map entry in
// the stack (192 bytes).
func TestWorkerZeroAllocs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPending int
		frame      func(st *stack.Stack) []byte
	}{
		{"SYN", -1, func(*stack.Stack) []byte { return wkTCP(t, 1, 1000, 0, true) }},
		{"SYN-pending-full", 4096, func(*stack.Stack) []byte { return wkTCP(t, 1, 1000, 0, true) }},
		{"ACK", 4096, func(st *stack.Stack) []byte {
			synack := wkSYNACK(t, st, 4000)
			return wkTCP(t, 4000, 1001, binary.BigEndian.Uint32(synack[38:])+1, false)
		}},
		{"ICMP", 4096, func(*stack.Stack) []byte { return wkEcho(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.name
			st := wkStackPending(t, tc.maxPending)
			f := tc.frame(st)
			set := metrics.NewSet(1, nil)
			m := newMemLink(64, 0, f)
			w := newWorker(m, st, set.Worker(0), nil, nil, slog.New(slog.DiscardHandler))
			warm := func(n int) {
				m.limit = n
				if err := w.run(); err != nil {
					t.Fatal(err)
				}
			}
			warm(10000)
			const per = 256
			allocs := testing.AllocsPerRun(20, func() { warm(per) })
			if allocs != 0 {
				t.Errorf("%s: %v allocations per %d frames", name, allocs, per)
			}
			if name != "ACK" && m.sent < 10000 {
				t.Errorf("%s: only %d replies", name, m.sent)
			}
		})
	}
}

// BenchmarkWorkerSYN drives the whole worker loop over the in-memory link:
// batches of SYNs in, SYN-ACKs copied out into a transmit ring, -q (no
// events written) and with events to an asynchronous JSON sink. Compare
// with internal/stack's BenchmarkSYN (the stack alone).
func BenchmarkWorkerSYN(b *testing.B) {
	for _, tc := range []struct {
		name   string
		batch  int
		events bool
	}{{"batch=1", 1, false}, {"batch=64", 64, false}, {"batch=64/events", 64, true}} {
		b.Run(tc.name, func(b *testing.B) {
			st := wkStack(b)
			m := newMemLink(tc.batch, 0, wkTCP(b, 1, 1000, 0, true))
			var sink func(*event.Event)
			var as *event.Async
			if tc.events {
				as = event.NewAsync(event.NewJSON(io.Discard), 65536)
				sink = as.Emit
			}
			w := newWorker(m, st, metrics.NewSet(1, nil).Worker(0), sink, nil, slog.New(slog.DiscardHandler))
			m.limit = 10000
			_ = w.run()
			b.ReportAllocs()
			b.ResetTimer()
			m.limit = b.N
			if err := w.run(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if as != nil {
				_ = as.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/SYN")
		})
	}
}

// backlogLink is a memLink that reports a backlog (link.Backlogger).
type backlogLink struct {
	*memLink
	backlog int
}

func (b *backlogLink) Backlog() int { return b.backlog }

// Replies are paced while the worker keeps up with its input (a small
// backlog: a scanner's burst): a wait of at most txGap before each Send
// that follows a full one. Behind a flood (a backlog of pacedBacklog
// frames or more), and on links that cannot tell their backlog, they are
// not: a wait would only let the receive ring overflow, and the worker
// reads and sends whole batches.
func TestWorkerPacing(t *testing.T) {
	const total = 10 * txBurst
	for _, tc := range []struct {
		name    string
		backlog int // -1: the link is no Backlogger
		paced   bool
	}{
		{"scanner-burst", 300, true},
		{"idle", 0, true},
		{"flood", pacedBacklog, false},
		{"no-backlogger", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := wkStack(t)
			m := newMemLink(64, total, wkTCP(t, 1, 1000, 0, true))
			var l link.Link = m
			if tc.backlog >= 0 {
				l = &backlogLink{memLink: m, backlog: tc.backlog}
			}
			w := newWorker(l, st, nil, nil, nil, slog.New(slog.DiscardHandler))
			var waits []time.Duration
			w.sleep = func(d time.Duration) { waits = append(waits, d) }
			if err := w.run(); err != nil {
				t.Fatal(err)
			}
			if m.sent != total {
				t.Fatalf("%d replies for %d frames", m.sent, total)
			}
			if !tc.paced {
				// whole batches of 64 (the first one read as paced: the
				// backlog is known after it)
				if len(waits) != 0 || m.sends > total/maxOutFrames+2 {
					t.Fatalf("%d pacing waits, %d Sends; want none, at most %d", len(waits), m.sends, total/maxOutFrames+2)
				}
				return
			}
			if m.sends != total/txBurst {
				t.Fatalf("%d Sends for %d replies, want one per burst of %d", m.sends, total, txBurst)
			}
			// every Send but the first follows a full one: a wait before
			// each, unless handling the batch took txGap already
			if len(waits) == 0 || len(waits) > total/txBurst-1 {
				t.Fatalf("%d pacing waits for %d full Sends", len(waits), total/txBurst)
			}
			for _, d := range waits {
				if d <= 0 || d > txGap {
					t.Fatalf("a wait of %v (txGap %v)", d, txGap)
				}
			}
		})
	}
}

// A pacing wait that lasts far longer than asked (another thread took the
// core) while frames piled up stops pacing for contentionHold: on a busy
// machine each further wait would cost a time slice, and the worker would
// fall behind. Without a pile-up (the scanner's reader took the core, as
// meant) pacing goes on.
func TestWorkerPacingContention(t *testing.T) {
	const total = 10 * txBurst
	st := wkStack(t)
	for _, tc := range []struct {
		backlog int
		paced   bool
	}{
		{contentionBacklog, false},    // frames piled up: pacing off after the first wait
		{contentionBacklog - 1, true}, // the scanner's reader ran: still paced
	} {
		m := newMemLink(64, total, wkTCP(t, 1, 1000, 0, true))
		bl := &backlogLink{memLink: m}
		w := newWorker(bl, st, nil, nil, nil, slog.New(slog.DiscardHandler))
		waits := 0
		w.sleep = func(d time.Duration) {
			waits++
			bl.backlog = tc.backlog        // what came in meanwhile
			time.Sleep(d + 2*maxOvershoot) // descheduled
		}
		if err := w.run(); err != nil {
			t.Fatal(err)
		}
		// (a wait is skipped when handling a batch took txGap already)
		if m.sent != total || (tc.paced && waits < 2) || (!tc.paced && waits > 1) {
			t.Fatalf("backlog %d after an overshoot: %d replies, %d waits; want %d, paced %v", tc.backlog, m.sent, waits, total, tc.paced)
		}
	}
}
