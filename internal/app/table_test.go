package app

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// lineProto is a test protocol: a message is "LINE...\n"; each complete
// line is answered with "OK\n" and the connection stays open.
type lineProto struct{}

func (lineProto) Name() string { return "line" }

func (lineProto) Detect(data []byte, _ Transport) Verdict {
	const magic = "LINE"
	n := min(len(data), len(magic))
	if string(data[:n]) != magic[:n] {
		return No
	}
	if n < len(magic) {
		return Maybe
	}
	return Yes
}

func (lineProto) Serve(_ *Conn, data []byte) Result {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return Result{NeedMore: true}
	}
	return Result{Consumed: i + 1, Reply: []byte("OK\n")}
}

func testTable(cfg TableConfig) *Table {
	reg := &Registry{}
	reg.Register(lineProto{}, true, "test")
	return NewTable(reg, cfg)
}

var server = netip.MustParseAddrPort("198.51.100.2:80")

func keyN(n uint32) Key {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 0xcb007100|n>>16) // 203.0.113.x / wider
	return Key{Client: netip.AddrPortFrom(netip.AddrFrom4(a), uint16(n)), Server: server}
}

const isn0, isn1 = 1000, 2000

// seg builds a segment of key k at client sequence seq acknowledging ack.
func seg(k Key, seq, ack uint32, payload string, fin bool) *Segment {
	return &Segment{Key: k, Seq: seq, Ack: ack, Payload: []byte(payload), FIN: fin,
		Cookies: [2]uint32{isn0, isn1}, Personality: "linux", Now: time.Unix(0, 0)}
}

func (t *Table) has(k Key) bool {
	sh := t.shardOf(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[k] != nil
}

func TestTableBadCookie(t *testing.T) {
	tb := testTable(TableConfig{})
	k := keyN(1)
	r := tb.Segment(seg(k, 1, 4242, "LINE x\n", false))
	if r.Status != BadCookie || tb.has(k) || tb.Stats().Conns != 0 {
		t.Fatalf("bad cookie: status %v, has %v", r.Status, tb.has(k))
	}
	if tb.Stateless(seg(k, 1, 4242, "", false)) {
		t.Error("Stateless accepted a bad cookie")
	}
	for _, isn := range []uint32{isn0, isn1} {
		if !tb.Stateless(seg(k, 1, isn+1, "", false)) {
			t.Errorf("Stateless refused cookie %d", isn)
		}
	}
	// both the current and the previous cookie open a connection
	for i, isn := range []uint32{isn0, isn1} {
		k := keyN(uint32(10 + i))
		r := tb.Segment(seg(k, 1, isn+1, "LINE a\n", false))
		if r.Status != Accepted || string(r.Reply) != "OK\n" || r.Seq != isn+1 || r.Ack != 1+7 {
			t.Errorf("cookie %d: %+v", isn, r)
		}
		// an ACK outside what we sent on an existing connection is refused
		if r := tb.Segment(seg(k, 8, isn+1+100, "LINE b\n", false)); r.Status != BadCookie {
			t.Errorf("ack beyond sent: %v", r.Status)
		}
	}
}

func TestTableSequenceAndDuplicates(t *testing.T) {
	tb := testTable(TableConfig{})
	k := keyN(1)
	r := tb.Segment(seg(k, 100, isn0+1, "LINE ", false))
	if r.Status != Accepted || len(r.Reply) != 0 || r.Ack != 105 {
		t.Fatalf("partial: %+v", r)
	}
	// retransmission of the same bytes: duplicate ACK, nothing delivered
	r = tb.Segment(seg(k, 100, isn0+1, "LINE ", false))
	if r.Status != Duplicate || r.Ack != 105 || len(r.Reply) != 0 {
		t.Fatalf("retransmission: %+v", r)
	}
	// a gap: duplicate ACK for what we have
	r = tb.Segment(seg(k, 110, isn0+1, "zzz\n", false))
	if r.Status != Duplicate || r.Ack != 105 {
		t.Fatalf("gap: %+v", r)
	}
	// overlap: the known prefix is trimmed, the rest completes the line
	r = tb.Segment(seg(k, 103, isn0+1, "E one\n", false))
	if r.Status != Accepted || string(r.Reply) != "OK\n" || r.Ack != 109 || r.Seq != isn0+1 {
		t.Fatalf("overlap: %+v", r)
	}
	// our sequence advances by what we sent
	r = tb.Segment(seg(k, 109, isn0+1+3, "LINE two\n", false))
	if r.Status != Accepted || string(r.Reply) != "OK\n" || r.Seq != isn0+1+3 || r.Ack != 118 {
		t.Fatalf("second line: %+v", r)
	}
	if s := tb.Stats(); s.Conns != 1 || s.Bytes != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestTableFIN(t *testing.T) {
	tb := testTable(TableConfig{})
	k := keyN(1)
	r := tb.Segment(seg(k, 1, isn0+1, "LINE x\nLINE", true))
	if r.Status != Accepted || string(r.Reply) != "OK\n" || !r.FIN || r.Ack != 1+11+1 || r.Seq != isn0+1 {
		t.Fatalf("data+FIN: %+v", r)
	}
	if s := tb.Stats(); s.Bytes != 0 {
		t.Errorf("buffer kept after FIN: %+v", s)
	}
	// the peer's ACK of our data and FIN is in range
	if !tb.Stateless(seg(k, 13, isn0+1+3+1, "", false)) {
		t.Error("ACK of our FIN refused")
	}
	// data after FIN is not delivered
	r = tb.Segment(seg(k, 13, isn0+1+4, "LINE y\n", false))
	if r.Status != Duplicate || len(r.Reply) != 0 || r.Ack != 13 {
		t.Errorf("data after FIN: %+v", r)
	}
}

func TestTablePerConnectionBufferCap(t *testing.T) {
	tb := testTable(TableConfig{MaxBuffer: 100})
	k := keyN(1)
	r := tb.Segment(seg(k, 1, isn0+1, "LINE"+string(bytes.Repeat([]byte("a"), 56)), false))
	if r.Status != Accepted || tb.Stats().Bytes != 60 {
		t.Fatalf("first: %+v %+v", r, tb.Stats())
	}
	r = tb.Segment(seg(k, 61, isn0+1, string(bytes.Repeat([]byte("b"), 60))+"\n", false))
	if r.Status != Accepted || len(r.Reply) != 0 || r.Ack != 122 {
		t.Fatalf("overflow: %+v", r)
	}
	if s := tb.Stats(); s.Bytes != 0 {
		t.Errorf("buffer kept after overflow: %+v", s)
	}
	// the stream is dead: later complete lines are ACKed, not answered
	r = tb.Segment(seg(k, 122, isn0+1, "LINE z\n", false))
	if r.Status != Accepted || len(r.Reply) != 0 || r.Ack != 129 {
		t.Errorf("after overflow: %+v", r)
	}
}

func TestTableUnknownProtocolFreesBuffer(t *testing.T) {
	tb := testTable(TableConfig{})
	k := keyN(1)
	r := tb.Segment(seg(k, 1, isn0+1, "GARBAGE", false))
	if r.Status != Accepted || len(r.Reply) != 0 || tb.Stats().Bytes != 0 {
		t.Errorf("unknown: %+v %+v", r, tb.Stats())
	}
}

func TestTableEvictByCount(t *testing.T) {
	const max = 4 * numShards
	tb := testTable(TableConfig{MaxConns: max})
	const n = 20000
	for i := uint32(0); i < n; i++ {
		if r := tb.Segment(seg(keyN(i), 1, isn0+1, "LINE", false)); r.Status != Accepted {
			t.Fatalf("conn %d: %v", i, r.Status)
		}
	}
	s := tb.Stats()
	if s.Conns > max || s.Conns < max/2 {
		t.Errorf("conns %d, bound %d", s.Conns, max)
	}
	if s.Evicted != uint64(n-s.Conns) {
		t.Errorf("evicted %d, want %d", s.Evicted, n-s.Conns)
	}
	if s.Bytes != 4*s.Conns {
		t.Errorf("bytes %d for %d conns", s.Bytes, s.Conns)
	}
	// the most recent connection survives
	if !tb.has(keyN(n - 1)) {
		t.Error("newest connection evicted")
	}
}

func TestTableEvictByBytes(t *testing.T) {
	const maxBytes = numShards * 1000
	tb := testTable(TableConfig{MaxBytes: maxBytes})
	pad := "LINE" + string(bytes.Repeat([]byte("p"), 396)) // 400 bytes, no newline
	for i := uint32(0); i < 5000; i++ {
		tb.Segment(seg(keyN(i), 1, isn0+1, pad, false))
	}
	s := tb.Stats()
	if s.Bytes > maxBytes {
		t.Errorf("buffered %d > bound %d", s.Bytes, maxBytes)
	}
	if s.Evicted == 0 || s.Bytes != 400*s.Conns {
		t.Errorf("stats %+v", s)
	}
}

// sameShard returns n keys that hash to one shard.
func sameShard(tb *Table, n int) []Key {
	want := tb.shardOf(ptr(keyN(0)))
	out := []Key{keyN(0)}
	for i := uint32(1); len(out) < n; i++ {
		k := keyN(i)
		if tb.shardOf(&k) == want {
			out = append(out, k)
		}
	}
	return out
}

func ptr(k Key) *Key { return &k }

func TestTableLRU(t *testing.T) {
	tb := testTable(TableConfig{MaxConns: 2 * numShards}) // 2 per shard
	k := sameShard(tb, 3)
	tb.Segment(seg(k[0], 1, isn0+1, "LINE", false))
	tb.Segment(seg(k[1], 1, isn0+1, "LINE", false))
	// touch k[0]: k[1] becomes the least recently used
	if r := tb.Segment(seg(k[0], 5, isn0+1, " x", false)); r.Status != Accepted {
		t.Fatal(r.Status)
	}
	tb.Segment(seg(k[2], 1, isn0+1, "LINE", false))
	if !tb.has(k[0]) || tb.has(k[1]) || !tb.has(k[2]) {
		t.Errorf("LRU: has %v %v %v, want true false true", tb.has(k[0]), tb.has(k[1]), tb.has(k[2]))
	}
	// an evicted connection's next segment is judged by its cookie again
	if r := tb.Segment(seg(k[1], 5, isn0+1, "LINE y\n", false)); r.Status != Accepted || string(r.Reply) != "OK\n" {
		t.Errorf("after eviction: %+v", r)
	}
}

// heapInUse returns HeapInuse after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// entryOverhead bounds the memory of one entry besides its buffer: the
// entry, its map slot, the Conn and the allocator's rounding.
const entryOverhead = 1024

// TestTableBoundedHeap drives the table with a million random connections
// (100k with -short), each leaving a partial request, and checks that the
// heap stays under MaxBytes + MaxConns*overhead.
func TestTableBoundedHeap(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	cfg := TableConfig{MaxConns: 65536, MaxBytes: 16 << 20, MaxBuffer: 64 << 10}
	base := heapInUse()
	tb := testTable(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	pad := []byte("LINE / HTTP/1.1\r\nX-Pad: " + string(bytes.Repeat([]byte("x"), 200)))
	var s Segment
	for i := 0; i < n; i++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], rng.Uint32())
		s = Segment{Key: Key{Client: netip.AddrPortFrom(netip.AddrFrom4(a), uint16(rng.Uint32())), Server: server},
			Seq: 1, Ack: isn0 + 1, Payload: pad[:1+rng.IntN(len(pad)-1)], Cookies: [2]uint32{isn0, isn1}}
		tb.Segment(&s)
	}
	used := heapInUse() - base
	bound := uint64(cfg.MaxBytes)*2 + uint64(cfg.MaxConns)*entryOverhead
	st := tb.Stats()
	t.Logf("%d connections: table %+v, heap in use %.1f MiB (bound %.1f MiB)", n, st, float64(used)/(1<<20), float64(bound)/(1<<20))
	if used > bound {
		t.Errorf("heap %d > bound %d", used, bound)
	}
	if st.Conns > cfg.MaxConns || st.Bytes > cfg.MaxBytes {
		t.Errorf("table over its bounds: %+v", st)
	}
	runtime.KeepAlive(tb)
}

// TestTableBoundedHeapCompletedMessages: connections that each sent one
// large, complete message (consumed by the handler, connection kept open)
// must not keep their buffer's capacity: the table's byte accounting
// counts len(buf), so capacity retained after consumption is memory that
// no bound covers.
func TestTableBoundedHeapCompletedMessages(t *testing.T) {
	cfg := TableConfig{MaxConns: 4096, MaxBytes: 4 << 20, MaxBuffer: 64 << 10}
	base := heapInUse()
	tb := testTable(cfg)
	msg := []byte("LINE" + string(bytes.Repeat([]byte("x"), 60000)) + "\n")
	for i := uint32(0); i < 4096; i++ {
		r := tb.Segment(seg(keyN(i), 1, isn0+1, string(msg), false))
		if string(r.Reply) != "OK\n" {
			t.Fatalf("conn %d: %+v", i, r)
		}
	}
	used := heapInUse() - base
	bound := uint64(cfg.MaxBytes)*2 + uint64(cfg.MaxConns)*entryOverhead
	t.Logf("table %+v, heap in use %.1f MiB (bound %.1f MiB)", tb.Stats(), float64(used)/(1<<20), float64(bound)/(1<<20))
	if used > bound {
		t.Errorf("heap %.1f MiB > bound %.1f MiB: consumed buffers keep their capacity (table.go dispatch: e.buf = e.buf[:rest] with rest == 0 keeps cap)",
			float64(used)/(1<<20), float64(bound)/(1<<20))
	}
	runtime.KeepAlive(tb)
}

// BenchmarkTableSegment measures one new connection with a partial request
// in a full table (eviction on every insert).
func BenchmarkTableSegment(b *testing.B) {
	tb := testTable(TableConfig{MaxConns: 65536})
	pad := []byte("LINE / HTTP/1.1\r\nX-Pad: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	b.ReportAllocs()
	var s Segment
	for i := 0; b.Loop(); i++ {
		s = Segment{Key: keyN(uint32(i)), Seq: 1, Ack: isn0 + 1, Payload: pad, Cookies: [2]uint32{isn0, isn1}}
		tb.Segment(&s)
	}
}
