package fleet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/masscanned-go/masscanned/internal/event"
)

// broker is an in-process nats-server with JetStream that can be stopped
// and started again on the same port with the same store.
type broker struct {
	t    testing.TB
	dir  string
	port int
	s    *server.Server
}

func newBroker(t *testing.T) *broker {
	b := &broker{t: t, dir: t.TempDir(), port: freePort(t)}
	t.Cleanup(b.stop)
	return b
}

func freePortB(b *testing.B) int { return freePort(b) }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *broker) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", b.port) }

func (b *broker) start() {
	b.t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: b.port, JetStream: true, StoreDir: b.dir, NoSigs: true, NoLog: true})
	if err != nil {
		b.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		b.t.Fatal("nats-server not ready")
	}
	b.s = s
}

func (b *broker) stop() {
	if b.s != nil {
		b.s.Shutdown()
		b.s.WaitForShutdown()
		b.s = nil
	}
}

// testEvent is event i: a SYN from a port of its own.
func testEvent(i int) event.Event {
	return event.Event{
		Time:    time.Date(2026, 1, 2, 3, 4, 5, i*1000, time.UTC),
		Verdict: event.Answered, Layer: "tcp",
		SrcIP: netip.MustParseAddr("192.0.2.7"), DstIP: netip.MustParseAddr("198.51.100.2"),
		IPProto: 6, SrcPort: uint16(1024 + i), DstPort: 80, TCPFlags: 0x02, Reply: "syn-ack",
	}
}

// wantLine is what the JSON sink writes for event i.
func wantLine(t *testing.T, i int) []byte {
	var buf bytes.Buffer
	j := event.NewJSON(&buf)
	e := testEvent(i)
	if err := j.Write(&e); err != nil {
		t.Fatal(err)
	}
	j.Flush()
	return buf.Bytes()
}

func openPublisher(t *testing.T, url, spoolDir string, spool int64) *Publisher {
	t.Helper()
	p, _, err := Open(Config{
		URL: url, Subject: "masscanned.events.s1", SensorID: "s1", Stream: DefaultStream,
		SpoolDir: spoolDir, SpoolSize: spool, MaxInFlight: 64, AckTimeout: 2 * time.Second,
		Options: []nats.Option{nats.ReconnectWait(50 * time.Millisecond), nats.ReconnectJitter(0, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func write(t *testing.T, p *Publisher, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		e := testEvent(i)
		if err := p.Write(&e); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			p.Flush()
		}
	}
	p.Flush()
}

// waitFor polls cond (the publisher works in its own goroutine) and fails
// after a generous deadline.
func waitFor(t *testing.T, what string, p *Publisher, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readStream returns the numbers of the events in the stream, in stream
// order, checking every message's bytes, headers and id uniqueness.
func readStream(t *testing.T, b *broker) []int {
	t.Helper()
	nc, err := nats.Connect(b.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Config.Subjects, []string{"masscanned.events.>"}) {
		t.Errorf("stream subjects %v", info.Config.Subjects)
	}
	var ns []int
	ids := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		var e struct{ n int }
		_ = e
		var port int
		if i := bytes.Index(m.Data, []byte(`"port_src":`)); i >= 0 {
			fmt.Sscanf(string(m.Data[i+len(`"port_src":`):]), "%d", &port)
		}
		n := port - 1024
		if !bytes.Equal(m.Data, wantLine(t, n)) {
			t.Fatalf("message %d: %q, want %q", seq, m.Data, wantLine(t, n))
		}
		if m.Subject != "masscanned.events.s1" || m.Header.Get(HeaderSensor) != "s1" {
			t.Errorf("message %d: subject %q sensor %q", seq, m.Subject, m.Header.Get(HeaderSensor))
		}
		id := m.Header.Get(HeaderMsgID)
		if ids[id] {
			t.Errorf("message %d: id %q seen twice", seq, id)
		}
		ids[id] = true
		ns = append(ns, n)
	}
	return ns
}

func TestPublisherInOrder(t *testing.T) {
	b := newBroker(t)
	b.start()
	p := openPublisher(t, b.url(), t.TempDir(), 1<<20)
	write(t, p, 0, 700)
	waitFor(t, "700 acks", p, func(s Stats) bool { return s.Acked == 700 })
	if s := p.Stats(); s.Dropped != 0 || s.Unsent != 0 || s.Spooled != 0 || s.Published != 700 {
		t.Errorf("stats %+v", s)
	}
	if got := readStream(t, b); !slices.Equal(got, seq(0, 700)) {
		t.Errorf("stream holds %v", got)
	}
}

// TestPublisherBrokerRestart: the broker goes away with acknowledgements
// in flight and comes back; every event reaches the stream once, in
// order.
func TestPublisherBrokerRestart(t *testing.T) {
	b := newBroker(t)
	b.start()
	p := openPublisher(t, b.url(), t.TempDir(), 1<<20)
	write(t, p, 0, 200)
	waitFor(t, "200 acks", p, func(s Stats) bool { return s.Acked == 200 })
	write(t, p, 200, 1200) // some in flight when the broker stops
	b.stop()
	waitFor(t, "the disconnection", p, func(s Stats) bool { return !s.Connected })
	write(t, p, 1200, 1500)
	if s := p.Stats(); s.Spooled < 300 {
		t.Errorf("spooled %d while the broker was away, want at least 300", s.Spooled)
	}
	b.start()
	waitFor(t, "everything acknowledged", p, func(s Stats) bool { return s.Unsent == 0 })
	if s := p.Stats(); s.Acked != 1500 || s.Dropped != 0 || s.Published < 1500 {
		t.Errorf("stats %+v", s)
	}
	if got := readStream(t, b); !slices.Equal(got, seq(0, 1500)) {
		t.Errorf("stream holds %d events: %v", len(got), got)
	}
}

// TestPublisherUnreachableAtStart: no broker at start is not an error;
// the events wait in the spool and go once it is there.
func TestPublisherUnreachableAtStart(t *testing.T) {
	b := newBroker(t)
	p := openPublisher(t, b.url(), t.TempDir(), 1<<20)
	write(t, p, 0, 100)
	if s := p.Stats(); s.Connected || s.Spooled != 100 || s.Unsent != 100 {
		t.Errorf("stats with no broker %+v", s)
	}
	b.start()
	waitFor(t, "100 acks", p, func(s Stats) bool { return s.Acked == 100 && s.Unsent == 0 })
	if got := readStream(t, b); !slices.Equal(got, seq(0, 100)) {
		t.Errorf("stream holds %v", got)
	}
}

// TestPublisherSpoolBound: beyond the spool's bound the oldest events are
// dropped and counted; the newest reach the stream in order.
func TestPublisherSpoolBound(t *testing.T) {
	b := newBroker(t)
	p := openPublisher(t, b.url(), t.TempDir(), 16<<10)
	write(t, p, 0, 1000)
	s := p.Stats()
	if s.Dropped == 0 || s.Dropped+s.Unsent != 1000 {
		t.Fatalf("stats with no broker %+v", s)
	}
	b.start()
	waitFor(t, "the spool sent", p, func(s Stats) bool { return s.Unsent == 0 })
	got := readStream(t, b)
	if s := p.Stats(); uint64(len(got)) != s.Acked || s.Acked+s.Dropped != 1000 {
		t.Errorf("stream holds %d, stats %+v", len(got), s)
	}
	if !slices.Equal(got, seq(1000-len(got), 1000)) {
		t.Errorf("stream holds %v, want the newest", got)
	}
}

// TestPublisherLeftover: what a run could not send stays in the spool and
// the next run sends it first, with its message ids.
func TestPublisherLeftover(t *testing.T) {
	b := newBroker(t)
	dir := t.TempDir()
	p := openPublisher(t, b.url(), dir, 1<<20)
	write(t, p, 0, 300)
	p.Close()
	if s := p.Stats(); s.Unsent != 300 {
		t.Fatalf("after close: %+v", s)
	}
	b.start()
	p2, rec, err := Open(Config{URL: b.url(), Subject: "masscanned.events.s1", SensorID: "s1", Stream: DefaultStream, SpoolDir: dir, SpoolSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if rec.Records != 300 {
		t.Errorf("recovered %d", rec.Records)
	}
	write(t, p2, 300, 400)
	waitFor(t, "400 acks", p2, func(s Stats) bool { return s.Acked == 400 })
	if got := readStream(t, b); !slices.Equal(got, seq(0, 400)) {
		t.Errorf("stream holds %v", got)
	}
}

// TestPublisherCloseDrains: Close sends what is spooled while connected.
func TestPublisherCloseDrains(t *testing.T) {
	b := newBroker(t)
	b.start()
	p := openPublisher(t, b.url(), t.TempDir(), 8<<20)
	write(t, p, 0, 3000)
	p.Close()
	if s := p.Stats(); s.Acked != 3000 || s.Unsent != 0 {
		t.Errorf("after close: %+v", s)
	}
	if got := readStream(t, b); len(got) != 3000 {
		t.Errorf("stream holds %d", len(got))
	}
}
