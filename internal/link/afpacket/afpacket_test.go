//go:build linux

package afpacket

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/link"
)

// Small ring for tests: 4 × 64 KiB.
var testOpts = Options{BlockSize: 64 << 10, BlockCount: 4}

func TestOpenErrors(t *testing.T) {
	if err := CheckInterface("mc-no-such-if0"); err == nil || err.Error() != `interface "mc-no-such-if0" not found` {
		t.Fatalf("CheckInterface: %v", err)
	}
	if _, err := Open("mc-no-such-if0", Options{}); err == nil || err.Error() != `interface "mc-no-such-if0" not found` {
		t.Fatalf("Open: %v", err)
	}
	if _, err := HardwareAddr("mc-no-such-if0"); err == nil {
		t.Fatal("HardwareAddr: no error")
	}
	if _, err := Open("lo", Options{BlockSize: 1000}); err == nil || !strings.Contains(err.Error(), "page size") {
		t.Fatalf("bad block size: %v", err)
	}
	if got := permError("eth0").Error(); got != "opening a packet socket on eth0 needs CAP_NET_RAW (run as root or grant the capability)" {
		t.Fatal(got)
	}
}

func TestInterfaceDown(t *testing.T) {
	n := newTestNet(t)
	// lo is down in a fresh namespace.
	n.inNS(t, n.nsR, func() {
		if err := CheckInterface("lo"); err == nil || err.Error() != `interface "lo" is down` {
			t.Errorf("CheckInterface: %v", err)
		}
		if _, err := Open("lo", Options{}); err == nil || err.Error() != `interface "lo" is down` {
			t.Errorf("Open: %v", err)
		}
		if err := CheckInterface(ifR); err != nil {
			t.Errorf("CheckInterface(%s): %v", ifR, err)
		}
	})
}

func TestRecvSend(t *testing.T) {
	n := newTestNet(t)
	// One-page blocks: a few frames fill a block, so the walk crosses
	// many blocks and wraps around the ring several times.
	l := n.openLink(t, Options{BlockSize: os.Getpagesize(), BlockCount: 4})
	p := n.openPeer(t)

	for i := range 100 {
		marker := []byte("masscanned-test-in-" + string(rune('A'+i%26)) + strings.Repeat("x", i*14))
		frame := ethFrame(n.macR, n.macG, u16(0x88b5), marker)
		p.send(t, frame)
		f := recvFrame(t, l, hasMarker([]byte("masscanned-test-in-")))
		if !bytes.Equal(f.Data, frame) {
			t.Fatalf("frame %d: got\n% x\nwant\n% x", i, f.Data, frame)
		}
		if f.Time.IsZero() || f.ChecksumNotReady {
			t.Fatalf("frame %d: time %v csumNotReady %v", i, f.Time, f.ChecksumNotReady)
		}
	}

	// Our own transmissions are not read back.
	out := ethFrame(n.macG, n.macR, u16(0x88b5), []byte("masscanned-test-out"))
	if n, err := l.Send([][]byte{out}); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if got := p.recvMatch(t, []byte("masscanned-test-out")); !bytes.Equal(got, out) {
		t.Fatalf("peer got % x", got)
	}
	in := ethFrame(n.macR, n.macG, u16(0x88b5), []byte("masscanned-test-after"))
	p.send(t, in)
	f := recvFrame(t, l, func(b []byte) bool {
		return bytes.Contains(b, []byte("masscanned-test-out")) || bytes.Contains(b, []byte("masscanned-test-after"))
	})
	if !bytes.Equal(f.Data, in) {
		t.Fatalf("read back our own frame: % x", f.Data)
	}

	st := l.Stats()
	if st.Received < 101 || st.Sent != 1 || st.SendErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestVLANReinsertion(t *testing.T) {
	n := newTestNet(t)
	l := n.openLink(t, testOpts)
	p := n.openPeer(t)
	for _, tc := range []struct {
		name string
		tags []byte // tags between the MACs and the final ethertype
	}{
		{"dot1q-vid100", []byte{0x81, 0x00, 0x00, 0x64}},
		{"dot1q-prio-vid0", []byte{0x81, 0x00, 0x20, 0x00}},
		{"dot1q-pcp-vid4094", []byte{0x81, 0x00, 0xef, 0xfe}},
		{"qinq-88a8", []byte{0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := []byte("masscanned-vlan-" + tc.name)
			frame := ethFrame(n.macR, n.macG, tc.tags, u16(0x88b5), marker)
			p.send(t, frame)
			f := recvFrame(t, l, hasMarker(marker))
			if !bytes.Equal(f.Data, frame) {
				t.Fatalf("got\n% x\nwant\n% x", f.Data, frame)
			}
		})
	}
}

func TestChecksumNotReady(t *testing.T) {
	n := newTestNet(t)
	l := n.openLink(t, testOpts)
	p := n.openPeer(t)
	for _, tc := range []struct {
		name string
		send func(t *testing.T, marker []byte)
		want bool
	}{
		{"kernel-udp-socket", func(t *testing.T, marker []byte) {
			// The kernel leaves the UDP checksum to the (virtual) NIC.
			var err error
			n.inNS(t, n.nsG, func() {
				var fd int
				if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
					return
				}
				defer unix.Close(fd)
				err = unix.Sendto(fd, marker, 0, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{192, 0, 2, 2}})
			})
			if err != nil {
				t.Fatal(err)
			}
		}, true},
		{"packet-socket-full-checksum", func(t *testing.T, marker []byte) {
			p.send(t, udp4Frame(n.macR, n.macG, ipG, ipR, marker))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := []byte("masscanned-csum-" + tc.name)
			tc.send(t, marker)
			f := recvFrame(t, l, hasMarker(marker))
			if f.ChecksumNotReady != tc.want {
				t.Fatalf("ChecksumNotReady = %v, want %v (frame % x)", f.ChecksumNotReady, tc.want, f.Data)
			}
			if len(f.Data) < 14 || f.Data[12] != 0x08 || f.Data[13] != 0x00 {
				t.Fatalf("not IPv4: % x", f.Data)
			}
		})
	}
}

func TestCloseUnblocksRecv(t *testing.T) {
	n := newTestNet(t)
	for _, tc := range []struct {
		name    string
		holding bool // a frame from Recv is in hand when Close is called
	}{{"blocked", false}, {"holding-frame", true}} {
		t.Run(tc.name, func(t *testing.T) {
			l := n.openLink(t, testOpts)
			if tc.holding {
				p := n.openPeer(t)
				p.send(t, ethFrame(n.macR, n.macG, u16(0x88b5), []byte("masscanned-hold")))
				f := recvFrame(t, l, hasMarker([]byte("masscanned-hold")))
				_ = f
			}
			errc := make(chan error, 1)
			started := make(chan struct{})
			go func() {
				close(started)
				fs := make([]link.Frame, 4)
				for {
					if _, err := l.Recv(fs, 0); err != nil {
						errc <- err
						return
					}
				}
			}()
			<-started
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, link.ErrClosed) {
				t.Fatalf("Recv after Close: %v", err)
			}
			if _, err := l.Recv(make([]link.Frame, 4), 0); !errors.Is(err, link.ErrClosed) {
				t.Fatalf("second Recv after Close: %v", err)
			}
			if _, err := l.Send([][]byte{{1}}); !errors.Is(err, link.ErrClosed) {
				t.Fatalf("Send after Close: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestPromiscAndFanout(t *testing.T) {
	n := newTestNet(t)
	l := n.openLink(t, Options{BlockSize: 64 << 10, BlockCount: 2, Promisc: true, FanoutGroup: 4242})
	p := n.openPeer(t)
	// Promiscuous: a unicast frame to another MAC is received too.
	other := []byte{0x02, 0, 0, 0, 0, 0x99}
	frame := ethFrame(other, n.macG, u16(0x88b5), []byte("masscanned-promisc"))
	p.send(t, frame)
	f := recvFrame(t, l, hasMarker([]byte("masscanned-promisc")))
	if !bytes.Equal(f.Data, frame) {
		t.Fatalf("got % x", f.Data)
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// A burst queued before reading: several frames per block, read back in
// batches (never more than asked, never across two blocks), all in order,
// with blocks returned to the kernel as they are consumed.
func TestBurstInOrder(t *testing.T) {
	for _, batch := range []int{1, 7, 64} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			n := newTestNet(t)
			l := n.openLink(t, Options{BlockSize: os.Getpagesize(), BlockCount: 8})
			p := n.openPeer(t)
			const count = 60
			fs := make([]link.Frame, batch)
			multi := false
			for round := range 3 {
				for i := range count {
					p.send(t, ethFrame(n.macR, n.macG, u16(0x88b5), []byte("masscanned-burst"), u16(uint16(round*count+i))))
				}
				for i := 0; i < count; {
					k, err := l.Recv(fs, 5*time.Second)
					if err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					if k < 1 || k > batch {
						t.Fatalf("Recv returned %d frames for a batch of %d", k, batch)
					}
					multi = multi || k > 1
					// the whole batch is intact until the next Recv
					for _, f := range fs[:k] {
						if !bytes.Contains(f.Data, []byte("masscanned-burst")) {
							continue // the kernel's own chatter
						}
						got := int(f.Data[len(f.Data)-2])<<8 | int(f.Data[len(f.Data)-1])
						if got != round*count+i {
							t.Fatalf("round %d: frame %d has sequence %d", round, i, got)
						}
						i++
					}
				}
			}
			if batch > 1 && !multi {
				t.Error("never more than one frame per Recv")
			}
			if st := l.Stats(); st.KernelDrops != 0 {
				t.Fatalf("kernel drops: %+v", st)
			}
		})
	}
}

// Send transmits batches in order with every transmit mode, also batches
// larger than the transmit ring (it waits for free slots).
func TestSendBatch(t *testing.T) {
	for _, mode := range []TXMode{TXRing, TXSendmmsg, TXWrite} {
		t.Run(string(mode), func(t *testing.T) {
			n := newTestNet(t)
			l := n.openLink(t, Options{BlockSize: 64 << 10, BlockCount: 2, TX: mode, TXFrames: 32, Batch: 16})
			if got := l.Interface(); got.Name != ifR || !strings.Contains(got.Backend, "tx "+string(mode)) || got.Queue != -1 || len(got.MAC) != 6 {
				t.Fatalf("interface %+v", got)
			}
			p := n.openPeer(t)
			if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
				t.Fatal(err)
			}
			const total = 300
			var batch [][]byte
			sent := 0
			for i := range total {
				pad := bytes.Repeat([]byte{'p'}, i%200)
				batch = append(batch, ethFrame(n.macG, n.macR, u16(0x88b5), []byte("masscanned-tx"), u16(uint16(i)), pad))
				if len(batch) == 1+i%97 || i == total-1 { // batches of 1 to 97 frames
					k, err := l.Send(batch)
					if err != nil || k != len(batch) {
						t.Fatalf("Send of %d: %d, %v", len(batch), k, err)
					}
					sent += k
					batch = batch[:0]
				}
			}
			for i := range total {
				got := p.recvMatch(t, []byte("masscanned-tx"))
				if seq := int(got[len("masscanned-tx")+14])<<8 | int(got[len("masscanned-tx")+15]); seq != i {
					t.Fatalf("frame %d has sequence %d", i, seq)
				}
				if len(got) != 14+len("masscanned-tx")+2+i%200 {
					t.Fatalf("frame %d: %d bytes", i, len(got))
				}
			}
			if st := l.Stats(); st.Sent != total || st.SendErrors != 0 || sent != total {
				t.Fatalf("stats %+v", st)
			}
		})
	}
	if _, err := ParseTXMode("mmap"); err == nil {
		t.Error("ParseTXMode accepted mmap")
	}
}

// Recv and Send do not allocate on the packet path (tagged frames are
// copied into the link's own buffer), with every transmit mode; tagged and
// untagged frames of one batch all stay intact until the next Recv.
func TestNoAllocs(t *testing.T) {
	for _, mode := range []TXMode{TXRing, TXSendmmsg, TXWrite} {
		t.Run(string(mode), func(t *testing.T) {
			n := newTestNet(t)
			l := n.openLink(t, Options{BlockSize: 64 << 10, BlockCount: 8, TX: mode, Batch: 4})
			p := n.openPeer(t)
			const runs = 50
			frame := func(i int) []byte {
				tag := []byte{}
				if i%2 == 1 {
					tag = []byte{0x81, 0x00, 0x00, byte(i)}
				}
				return ethFrame(n.macR, n.macG, tag, u16(0x88b5), []byte("masscanned-allocs"), u16(uint16(i)))
			}
			want := make([][]byte, 4*runs+40)
			for i := range want {
				want[i] = frame(i)
				p.send(t, want[i])
			}
			// Wait until the first frame is there, so Recv below never blocks.
			recvFrame(t, l, hasMarker([]byte("masscanned-allocs")))
			fs := make([]link.Frame, 4)
			reply := ethFrame(n.macG, n.macR, u16(0x88b5), []byte("masscanned-reply"))
			replies := [][]byte{reply, reply}
			next := 1
			allocs := testing.AllocsPerRun(runs, func() {
				k, err := l.Recv(fs, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fs[:k] {
					if !bytes.Equal(f.Data, want[next]) {
						t.Fatalf("frame %d: got % x, want % x", next, f.Data, want[next])
					}
					next++
				}
				if _, err := l.Send(replies); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("Recv+Send allocate %v times per batch", allocs)
			}
		})
	}
}

// TestDrain: frames received before Drain are still returned, then Recv
// says ErrClosed instead of waiting.
func TestDrain(t *testing.T) {
	n := newTestNet(t)
	l := n.openLink(t, Options{BlockSize: os.Getpagesize(), BlockCount: 8, BlockTimeout: 50})
	p := n.openPeer(t)
	const count = 20
	for i := range count {
		p.send(t, ethFrame(n.macR, n.macG, u16(0x88b5), []byte("masscanned-drain"), u16(uint16(i))))
	}
	l.Drain()
	got := 0
	fs := make([]link.Frame, 8)
	for {
		k, err := l.Recv(fs, 0)
		if errors.Is(err, link.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs[:k] {
			if bytes.Contains(f.Data, []byte("masscanned-drain")) {
				got++
			}
		}
	}
	if got != count {
		t.Fatalf("drained %d frames, want %d", got, count)
	}
}

// Backlog counts the frames received and not yet returned by Recv: the
// rest of the current block and the blocks the kernel handed over after
// it (small blocks here, so that the burst spans several).
func TestBacklog(t *testing.T) {
	n := newTestNet(t)
	l := n.openLink(t, Options{BlockSize: os.Getpagesize(), BlockCount: 16})
	p := n.openPeer(t)
	const count = 40
	for i := range count {
		p.send(t, ethFrame(n.macR, n.macG, u16(0x88b5), []byte("masscanned-backlog"), u16(uint16(i))))
	}
	time.Sleep(100 * time.Millisecond) // every block retired (timeout 1 ms)
	fs := make([]link.Frame, 4)
	k, err := l.Recv(fs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// the kernel's own chatter (IPv6 router solicitations) may add frames
	if b := l.Backlog(); b < count-k || b > count+16 {
		t.Fatalf("backlog %d after reading %d of %d frames", b, k, count)
	}
	for {
		if _, err := l.Recv(fs, 50*time.Millisecond); err == link.ErrTimeout {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if b := l.Backlog(); b != 0 {
		t.Fatalf("backlog %d with every frame read", b)
	}
	_ = l.Close()
	if b := l.Backlog(); b != 0 {
		t.Fatalf("backlog %d after Close", b)
	}
}
