// Package capture writes the full-duplex capture (--capture): every frame
// received and every reply sent, in order, into numbered pcapng files,
// each packet commented with its event (verdict, reason, reply,
// application summary).
//
// The packet path only copies: a Tap (one per worker) copies a frame, its
// replies and its event's comment inputs into the next slot of its own
// bounded ring (one producer, one consumer, no lock, buffers reused) and
// never blocks; when the ring is full the record is dropped and its
// packets counted (Dropped). One writer goroutine takes the records of all
// workers oldest first, formats the comments and writes the pcapng blocks
// (section and interface headers through gopacket's pcapgo.NgWriter, the
// Enhanced Packet Blocks directly, without allocating), rotating files by
// size, by age and on Reopen (SIGHUP).
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Defaults of Options.
const (
	DefaultQueue    = 8192     // records per worker (a frame and its replies, or a timer action's)
	DefaultMaxBytes = 32 << 20 // bytes of packets queued per worker
)

const (
	flushEvery = 200 * time.Millisecond // buffered packets reach the file within this
	retryEvery = 10 * time.Second       // after a write error, the next file is tried this late
	bufSize    = 256 << 10
	keepBuf    = 4 << 10 // a record's buffer larger than this is not kept for reuse
	maxNotes   = 4096    // connections with an application record awaiting a packet
)

// Options configures a Capture.
type Options struct {
	// Path names the files: its extension (".pcapng" when it has none)
	// is kept and "-NNNNNN" (6 digits or more, from 000001) is put before
	// it: cap.pcapng gives cap-000001.pcapng, cap-000002.pcapng, ...
	// Numbering continues after the highest number already present.
	Path string
	// RotateSize starts a new file before one would exceed this many
	// bytes (a packet larger than it gets a file of its own); 0: never.
	RotateSize int64
	// RotateEvery starts a new file when the current one, holding at least
	// one packet, is this old; 0: never.
	RotateEvery time.Duration
	// Queue bounds the records of each worker (Tap) waiting for the
	// writer, rounded up to a power of two (DefaultQueue when 0);
	// MaxBytes bounds the packet bytes they hold (DefaultMaxBytes).
	Queue    int
	MaxBytes int64
	// Interface and Application are written in each file's interface and
	// section headers.
	Interface, Application string
	// OnFile is called (from the writer goroutine) when a file is opened;
	// why is "start", "size", "time" or "reopen".
	OnFile func(path, why string)
	// OnError is called (from the writer goroutine) on an error opening or
	// writing a file; the packets it loses are counted (Errors).
	OnError func(error)
}

// FileName is the name of file number n of a capture at path.
func FileName(path string, n int) string {
	base, ext := splitPath(path)
	return fmt.Sprintf("%s-%06d%s", base, n, ext)
}

func splitPath(path string) (base, ext string) {
	ext = filepath.Ext(path)
	base = strings.TrimSuffix(path, ext)
	if ext == "" {
		ext = ".pcapng"
	}
	return base, ext
}

// nextNumber is 1 + the highest number of the files of path that exist.
func nextNumber(path string) int {
	base, ext := splitPath(path)
	dir, prefix := filepath.Split(base)
	if dir == "" {
		dir = "."
	}
	prefix += "-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 1
	}
	hi := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ext) || len(name) < len(prefix)+len(ext)+6 {
			continue
		}
		digits := name[len(prefix) : len(name)-len(ext)]
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 || strings.TrimLeft(digits, "0123456789") != "" {
			continue
		}
		hi = max(hi, n)
	}
	return hi + 1
}

// ParseSize parses a byte count with an optional suffix K, M, G or T
// (powers of 1024), optionally followed by B or iB: 100M, 1G, 512KiB, 4096.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	switch {
	case strings.HasSuffix(t, "IB"):
		t = t[:len(t)-2]
	case strings.HasSuffix(t, "B"):
		t = t[:len(t)-1]
	}
	shift := 0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			shift = 10 * (i + 1)
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || t[0] == '+' || t[0] == '-' {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes with an optional K, M, G or T suffix)", s)
	}
	if n > (1<<63-1)>>shift {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << shift, nil
}

// record is one queued unit: a received frame and its replies, or a
// timer action's replies.
type record struct {
	t          time.Time
	verdict    event.Verdict
	kind       string
	reason     string
	reply      string
	suppressed string
	app        *event.App
	key        connKey // a TCP connection's ends, else zero
	in         bool    // the first packet is the received frame
	buf        []byte
	ends       []int
}

type connKey struct{ client, server netip.AddrPort }

// note is an application record a library made (no packet of its own):
// it goes with the next reply sent on its connection (the library's answer
// to what it recorded, usually).
type note struct {
	key   connKey
	app   *event.App
	tails []uint64 // each Tap's queue tail when the note was made
}

// pendingNote is a note waiting for its reply, rendered.
type pendingNote struct {
	tails []uint64
	text  []byte
}

// maxNotesPerConn bounds the notes waiting on one connection.
const maxNotesPerConn = 16

// ring is a Tap's queue: one producer (the worker), one consumer (the
// writer), no lock. Slots are reused with their buffers.
type ring struct {
	slots []record
	mask  uint64
	head  atomic.Uint64 // next slot to write (consumer)
	tail  atomic.Uint64 // next slot to fill (producer)
	held  atomic.Int64  // packet bytes queued
}

// Capture is the full-duplex capture: Taps queue records, a goroutine
// writes them. Counters are safe to read at any time.
type Capture struct {
	o        Options
	taps     atomic.Pointer[[]*Tap]
	tapMu    sync.Mutex
	notes    chan note
	sleeping atomic.Bool // the writer waits for wake
	wake     chan struct{}
	reopen   chan struct{}
	done     chan struct{}
	exited   chan struct{}
	closed   atomic.Bool
	once     sync.Once

	written atomic.Uint64 // packets written
	dropped atomic.Uint64 // packets not queued (queue full, closed)
	errs    atomic.Uint64 // packets lost to file errors
	files   atomic.Uint64 // files opened

	// writer goroutine only
	cur       *file
	num       int // number of the next file
	err       error
	retryAt   time.Time
	pending   map[connKey][]pendingNote // notes awaiting a reply
	tails     []uint64
	comment   []byte
	hdr       [28]byte
	opt       []byte
	lastError string
}

// file is an open capture file.
type file struct {
	f       *os.File
	bw      *bufio.Writer
	path    string
	size    int64 // bytes written, buffered included
	packets int
	opened  time.Time
	dirty   bool
}

// Open creates the first file and starts the writer.
func Open(o Options) (*Capture, error) {
	c, err := open(o)
	if err != nil {
		return nil, err
	}
	go c.run()
	return c, nil
}

// open creates the first file; the writer is not started.
func open(o Options) (*Capture, error) {
	if o.Path == "" {
		return nil, errors.New("capture: no path")
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Interface == "" {
		o.Interface = "masscanned"
	}
	c := &Capture{
		o:       o,
		notes:   make(chan note, 1024),
		wake:    make(chan struct{}, 1),
		reopen:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
		num:     nextNumber(o.Path),
		pending: make(map[connKey][]pendingNote),
	}
	c.taps.Store(new([]*Tap))
	f, err := c.create(time.Now())
	if err != nil {
		return nil, err
	}
	c.cur = f
	if o.OnFile != nil {
		o.OnFile(f.path, "start")
	}
	return c, nil
}

// Written is the number of packets written.
func (c *Capture) Written() uint64 { return c.written.Load() }

// Dropped is the number of packets not queued: a worker's queue was full
// (the writer could not keep up), or the capture was closed.
func (c *Capture) Dropped() uint64 { return c.dropped.Load() }

// Errors is the number of packets lost to file errors.
func (c *Capture) Errors() uint64 { return c.errs.Load() }

// Files is the number of files opened.
func (c *Capture) Files() uint64 { return c.files.Load() }

// Reopen asks the writer to start a new file (SIGHUP).
func (c *Capture) Reopen() {
	select {
	case c.reopen <- struct{}{}:
	default:
	}
}

// Close writes every queued record, closes the file and returns the
// first error seen. Records queued concurrently with Close may be lost;
// later ones are counted as dropped.
func (c *Capture) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		close(c.done)
	})
	<-c.exited
	return c.err
}

// Frames is a sequence of frames: the run loop's stack.Tx.
type Frames interface {
	Len() int
	Frame(i int) []byte
}

// add queues the packets in (the received frame, nil if none) and
// tx[from:to] of tap's worker under ev's comment, stamped t. It does not
// block; after warm-up it does not allocate.
func (c *Capture) add(tp *Tap, t time.Time, ev *event.Event, in []byte, tx Frames, from, to int) {
	packets := to - from
	if in != nil {
		packets++
	}
	if packets <= 0 {
		return
	}
	q := &tp.q
	tail := q.tail.Load()
	if c.closed.Load() || tail-q.head.Load() > q.mask {
		c.dropped.Add(uint64(packets))
		return
	}
	r := &q.slots[tail&q.mask]
	r.set(t, ev)
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	if in != nil {
		r.buf = append(r.buf, in...)
		r.ends = append(r.ends, len(r.buf))
		r.in = true
	}
	for i := from; i < to; i++ {
		r.buf = append(r.buf, tx.Frame(i)...)
		r.ends = append(r.ends, len(r.buf))
	}
	n := int64(len(r.buf))
	if q.held.Add(n) > c.o.MaxBytes {
		q.held.Add(-n)
		r.app = nil
		c.dropped.Add(uint64(packets))
		return
	}
	q.tail.Store(tail + 1)
	if c.sleeping.Load() {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// note queues ev's application record, to be attached to the next packet
// of its TCP connection. Safe for concurrent use (library goroutines).
func (c *Capture) note(ev *event.Event) {
	if ev.App == nil || ev.IPProto != 6 || !ev.SrcIP.IsValid() || !ev.DstIP.IsValid() || c.closed.Load() {
		return
	}
	// the replies queued from now on may carry it, not those before
	taps := *c.taps.Load()
	tails := make([]uint64, len(taps))
	for i, tp := range taps {
		tails[i] = tp.q.tail.Load()
	}
	select {
	case c.notes <- note{key: keyOf(ev), app: ev.App, tails: tails}:
	default:
	}
}

func keyOf(ev *event.Event) connKey {
	if ev.IPProto != 6 || !ev.SrcIP.IsValid() || !ev.DstIP.IsValid() {
		return connKey{}
	}
	return connKey{netip.AddrPortFrom(ev.SrcIP, ev.SrcPort), netip.AddrPortFrom(ev.DstIP, ev.DstPort)}
}

func (r *record) set(t time.Time, ev *event.Event) {
	r.t, r.verdict, r.kind = t, ev.Verdict, ev.Kind
	r.reason, r.reply, r.suppressed, r.app = ev.Reason, ev.Reply, ev.Suppressed, ev.App
	r.in = false
	r.key = keyOf(ev)
}

// drain writes up to max queued records, oldest first across the
// workers, after the notes queued before them. It returns how many.
func (c *Capture) drain(max int) int {
	taps := *c.taps.Load()
	c.tails = c.tails[:0]
	queued := 0
	for _, tp := range taps {
		t := tp.q.tail.Load()
		c.tails = append(c.tails, t)
		queued += int(t - tp.q.head.Load())
	}
	// notes emitted before these records were queued are in the channel
	for len(c.notes) > 0 {
		c.addNote(<-c.notes)
	}
	n := 0
	for ; n < max && queued > 0; n++ {
		var (
			best *Tap
			bt   time.Time
		)
		for i, tp := range taps {
			h := tp.q.head.Load()
			if h == c.tails[i] {
				continue
			}
			if r := &tp.q.slots[h&tp.q.mask]; best == nil || r.t.Before(bt) {
				best, bt = tp, r.t
			}
		}
		q := &best.q
		h := q.head.Load()
		r := &q.slots[h&q.mask]
		c.write(r, best.idx, h)
		q.held.Add(-int64(len(r.buf)))
		r.app = nil
		if cap(r.buf) > keepBuf {
			r.buf, r.ends = nil, nil
		}
		q.head.Store(h + 1)
		queued--
	}
	return n
}

// queued reports whether a record or a note waits.
func (c *Capture) queued() bool {
	for _, tp := range *c.taps.Load() {
		if tp.q.tail.Load() != tp.q.head.Load() {
			return true
		}
	}
	return len(c.notes) > 0
}

func (c *Capture) addNote(n note) {
	if len(c.pending) >= maxNotes {
		clear(c.pending)
	}
	if l := c.pending[n.key]; len(l) < maxNotesPerConn {
		c.pending[n.key] = append(l, pendingNote{tails: n.tails, text: appendApp(nil, n.app)})
	}
}

// takeNotes appends to b the notes of key made before record h of tap i
// was queued, and forgets them.
func (c *Capture) takeNotes(b []byte, key connKey, i int, h uint64) []byte {
	l, ok := c.pending[key]
	if !ok {
		return b
	}
	keep := l[:0]
	for _, n := range l {
		if i < len(n.tails) && n.tails[i] > h {
			keep = append(keep, n) // made after this record was queued
			continue
		}
		b = append(b, n.text...)
	}
	if len(keep) == 0 {
		delete(c.pending, key)
	} else {
		clear(l[len(keep):])
		c.pending[key] = keep
	}
	return b
}

func (c *Capture) run() {
	defer close(c.exited)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			c.tick(now)
		case <-c.reopen:
			c.rotate(time.Now(), "reopen")
		case <-c.done:
			c.finish()
			return
		default:
		}
		if c.drain(256) > 0 {
			continue
		}
		c.sleeping.Store(true)
		if !c.queued() {
			select {
			case <-c.wake:
			case now := <-tick.C:
				c.tick(now)
			case <-c.reopen:
				c.rotate(time.Now(), "reopen")
			case <-c.done:
				c.sleeping.Store(false)
				c.finish()
				return
			}
		}
		c.sleeping.Store(false)
	}
}

// finish writes what is queued and closes the file.
func (c *Capture) finish() {
	for c.drain(1<<30) > 0 {
	}
	if c.cur != nil {
		c.setErr(c.closeFile(c.cur))
		c.cur = nil
	}
}

func (c *Capture) setErr(err error) {
	if err == nil {
		return
	}
	if c.err == nil {
		c.err = err
	}
	if c.o.OnError != nil && err.Error() != c.lastError {
		c.lastError = err.Error()
		c.o.OnError(err)
	}
}

// tick flushes and rotates by age.
func (c *Capture) tick(now time.Time) {
	f := c.cur
	if f == nil {
		return
	}
	if c.o.RotateEvery > 0 && f.packets > 0 && now.Sub(f.opened) >= c.o.RotateEvery {
		c.rotate(now, "time")
		return
	}
	if f.dirty {
		if err := f.bw.Flush(); err != nil {
			c.fail(err)
			return
		}
		f.dirty = false
	}
}

// create opens the next numbered file and writes its section and
// interface headers.
func (c *Capture) create(now time.Time) (*file, error) {
	var (
		fh   *os.File
		path string
		err  error
	)
	for range 100 {
		path = FileName(c.o.Path, c.num)
		c.num++
		fh, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("capture: %v", err)
	}
	bw := bufio.NewWriterSize(fh, bufSize)
	app := c.o.Application
	if app == "" {
		app = "masscanned"
	}
	ng, err := pcapgo.NewNgWriterInterface(bw, pcapgo.NgInterface{
		Name:                c.o.Interface,
		Description:         "frames received and replies sent by masscanned",
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkTypeEthernet,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: app}})
	if err == nil {
		err = ng.Flush()
	}
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("capture: %s: %v", path, err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("capture: %v", err)
	}
	c.files.Add(1)
	return &file{f: fh, bw: bw, path: path, size: st.Size(), opened: now}, nil
}

func (c *Capture) closeFile(f *file) error {
	err := f.bw.Flush()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("capture: %s: %v", f.path, err)
	}
	return nil
}

// rotate starts the next file; the current one is kept if that fails.
func (c *Capture) rotate(now time.Time, why string) {
	f, err := c.create(now)
	if err != nil {
		c.setErr(err)
		c.retryAt = now.Add(retryEvery)
		return
	}
	if c.cur != nil {
		c.setErr(c.closeFile(c.cur))
	}
	c.cur = f
	if c.o.OnFile != nil {
		c.o.OnFile(f.path, why)
	}
}

// fail abandons the current file after a write error; the next file is
// tried after retryEvery.
func (c *Capture) fail(err error) {
	if c.cur != nil {
		c.setErr(fmt.Errorf("capture: %s: %v", c.cur.path, err))
		_ = c.cur.f.Close()
		c.cur = nil
	}
	c.retryAt = time.Now().Add(retryEvery)
}

// Enhanced Packet Block options.
const (
	optEndOfOpt = 0
	optComment  = 1
	optEPBFlags = 2
)

// epbSize is the size of an Enhanced Packet Block of n bytes with a
// comment of m bytes and a flags option.
func epbSize(n, m int) int64 {
	opts := 4 + 4 + 4 // flags option, end of options
	if m > 0 {
		opts += 4 + pad4(m)
	}
	return int64(28 + pad4(n) + opts + 4)
}

func pad4(n int) int { return (n + 3) &^ 3 }

// write writes r, record h of tap i.
func (c *Capture) write(r *record, i int, h uint64) {
	b := appendComment(c.comment[:0], r)
	replies := len(r.ends)
	if r.in {
		replies--
	}
	if replies > 0 && r.key.client.IsValid() && len(c.pending) > 0 {
		b = c.takeNotes(b, r.key, i, h)
	}
	b = capComment(b)
	c.comment = b
	start := 0
	for i, end := range r.ends {
		data := r.buf[start:end]
		start = end
		dir := uint32(pcapgo.NgEpbFlagDirectionOutbound)
		if i == 0 && r.in {
			dir = uint32(pcapgo.NgEpbFlagDirectionInbound)
		}
		c.writePacket(r.t, data, b, dir)
	}
}

// writePacket writes one Enhanced Packet Block (little-endian, as the
// section header pcapgo wrote): interface 0, nanosecond timestamp, the
// whole frame, then the options opt_comment (when comment is not empty)
// and epb_flags (direction).
func (c *Capture) writePacket(t time.Time, data, comment []byte, dir uint32) {
	size := epbSize(len(data), len(comment))
	if c.cur == nil {
		if c.closed.Load() || time.Now().Before(c.retryAt) {
			c.errs.Add(1)
			return
		}
		c.rotate(time.Now(), "retry")
		if c.cur == nil {
			c.errs.Add(1)
			return
		}
	}
	if f := c.cur; c.o.RotateSize > 0 && f.packets > 0 && f.size+size > c.o.RotateSize {
		c.rotate(time.Now(), "size")
	}
	f := c.cur
	le := binary.LittleEndian
	ts := uint64(t.UnixNano())
	h := c.hdr[:0]
	h = le.AppendUint32(h, 6) // Enhanced Packet Block
	h = le.AppendUint32(h, uint32(size))
	h = le.AppendUint32(h, 0) // interface
	h = le.AppendUint32(h, uint32(ts>>32))
	h = le.AppendUint32(h, uint32(ts))
	h = le.AppendUint32(h, uint32(len(data)))
	h = le.AppendUint32(h, uint32(len(data)))
	o := c.opt[:0]
	if len(comment) > 0 {
		o = le.AppendUint16(o, optComment)
		o = le.AppendUint16(o, uint16(len(comment)))
		o = append(o, comment...)
		o = append(o, zeros[:pad4(len(comment))-len(comment)]...)
	}
	o = le.AppendUint16(o, optEPBFlags)
	o = le.AppendUint16(o, 4)
	o = le.AppendUint32(o, dir)
	o = le.AppendUint32(o, optEndOfOpt)
	o = le.AppendUint32(o, uint32(size))
	c.opt = o
	bw := f.bw
	_, _ = bw.Write(h)
	_, _ = bw.Write(data)
	_, _ = bw.Write(zeros[:pad4(len(data))-len(data)])
	if _, err := bw.Write(o); err != nil { // bufio keeps the first error
		c.errs.Add(1)
		c.fail(err)
		return
	}
	f.size += size
	f.packets++
	f.dirty = true
	c.written.Add(1)
}

var zeros [4]byte
