package capture

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// BenchmarkTapFrame is the packet path's cost of --capture per frame: a
// SYN (74 bytes) and its SYN-ACK (58) copied into a record and queued;
// the records are taken back in the same goroutine (no file).
func BenchmarkTapFrame(b *testing.B) {
	c, err := open(Options{Path: filepath.Join(b.TempDir(), "cap.pcapng")})
	if err != nil {
		b.Fatal(err)
	}
	tap := c.NewTap(nil)
	tx := frames{frame(58, 2)}
	tap.Bind(&tx)
	in := frame(74, 1)
	ev := tcpEvent(time.Now())
	ev.Verdict, ev.Reply = event.Answered, "syn-ack"
	b.ReportAllocs()
	b.SetBytes(int64(len(in) + len(tx[0])))
	for i := 0; b.Loop(); i++ {
		tap.Frame(ev.Time, in, &ev)
		if i%64 == 63 {
			discard(tap)
		}
	}
	go c.run()
	c.Close()
}

// BenchmarkCaptureFile is the same with the writer goroutine writing the
// file: the packet path's cost under a busy writer, and the share of
// packets dropped when the writer cannot keep up (dropped/op).
func BenchmarkCaptureFile(b *testing.B) {
	c, err := Open(Options{Path: filepath.Join(b.TempDir(), "cap.pcapng")})
	if err != nil {
		b.Fatal(err)
	}
	tap := c.NewTap(nil)
	tx := frames{frame(58, 2)}
	tap.Bind(&tx)
	in := frame(74, 1)
	ev := tcpEvent(time.Now())
	ev.Verdict, ev.Reply = event.Answered, "syn-ack"
	b.ReportAllocs()
	b.SetBytes(int64(len(in) + len(tx[0])))
	n := 0
	for b.Loop() {
		tap.Frame(ev.Time, in, &ev)
		n += 2
	}
	b.StopTimer()
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(c.Dropped())/float64(n), "dropped/packet")
}

// BenchmarkWriter is the writer goroutine's cost per record of a SYN and
// its SYN-ACK (two packets): comment, blocks, buffered file writes.
func BenchmarkWriter(b *testing.B) {
	c, err := open(Options{Path: filepath.Join(b.TempDir(), "cap.pcapng"), RotateSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	in, out := frame(74, 1), frame(58, 2)
	r := &record{t: time.Now(), verdict: event.Answered, reply: "syn-ack", in: true,
		buf: append(append([]byte(nil), in...), out...), ends: []int{len(in), len(in) + len(out)}}
	b.ReportAllocs()
	b.SetBytes(int64(len(r.buf)))
	for b.Loop() {
		c.write(r, 0, 0)
	}
	b.StopTimer()
	go c.run()
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
}
