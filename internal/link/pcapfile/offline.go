package pcapfile

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masscanned-go/masscanned/internal/link"
)

// Offline is a link.Link that replays a capture: Recv returns its frames
// in order (io.EOF at the end) and Send writes replies into a pcap file,
// stamped with the time of the frame most recently received, so a replay
// is deterministic. Without a writer, replies are only counted.
type Offline struct {
	r      *Reader
	w      *Writer
	last   time.Time
	closed atomic.Bool

	received   atomic.Uint64
	sent       atomic.Uint64
	sendErrors atomic.Uint64
}

var _ link.Link = (*Offline)(nil)

// NewOffline returns a link reading r and writing replies to w (w may be
// nil). The Offline owns both and closes them.
func NewOffline(r *Reader, w *Writer) *Offline {
	return &Offline{r: r, w: w}
}

// Recv returns the next frame of the capture.
func (o *Offline) Recv(f *link.Frame) error {
	if o.closed.Load() {
		return link.ErrClosed
	}
	data, t, err := o.r.Next()
	if err != nil {
		return err
	}
	o.last = t
	f.Data, f.Time, f.ChecksumNotReady = data, t, false
	o.received.Add(1)
	return nil
}

// Send records a reply.
func (o *Offline) Send(frame []byte) error {
	if o.closed.Load() {
		return link.ErrClosed
	}
	if o.w != nil {
		if err := o.w.WriteFrame(o.last, frame); err != nil {
			o.sendErrors.Add(1)
			return err
		}
	}
	o.sent.Add(1)
	return nil
}

// Close closes the capture and flushes and closes the reply file.
func (o *Offline) Close() error {
	if o.closed.Swap(true) {
		return nil
	}
	var werr error
	if o.w != nil {
		werr = o.w.Close()
	}
	return errors.Join(o.r.Close(), werr)
}

// Stats returns the counters.
func (o *Offline) Stats() link.Stats {
	return link.Stats{Received: o.received.Load(), Sent: o.sent.Load(), SendErrors: o.sendErrors.Load()}
}

// Tee is a link.Link that writes every frame its inner link sent
// successfully into a pcap file, stamped with the current time. The file
// can be reopened (log rotation) while frames flow.
type Tee struct {
	link.Link
	path string
	mu   sync.Mutex
	w    *Writer
	// WriteErrors counts frames sent but not recorded.
	writeErrors atomic.Uint64
	now         func() time.Time
}

// NewTee records the frames l sends into w (created at path, which
// Reopen creates again). Closing the Tee closes both.
func NewTee(l link.Link, w *Writer, path string) *Tee {
	return &Tee{Link: l, w: w, path: path, now: time.Now}
}

// Drain drains the inner link when it can (see link.Drainer).
func (t *Tee) Drain() { link.Drain(t.Link) }

// Send sends frame on the inner link and records it. A recording error
// does not fail the send; it is counted (WriteErrors).
func (t *Tee) Send(frame []byte) error {
	if err := t.Link.Send(frame); err != nil {
		return err
	}
	t.mu.Lock()
	err := t.w.WriteFrame(t.now(), frame)
	t.mu.Unlock()
	if err != nil {
		t.writeErrors.Add(1)
	}
	return nil
}

// Path is the file the Tee writes to.
func (t *Tee) Path() string { return t.path }

// Reopen creates a new file at the Tee's path (after the old one was
// renamed, say) and closes the old one; if the new file cannot be created
// the old one stays in use.
func (t *Tee) Reopen() error {
	w, err := Create(t.path)
	if err != nil {
		return err
	}
	t.mu.Lock()
	old := t.w
	t.w = w
	t.mu.Unlock()
	return old.Close()
}

// WriteErrors is the number of sent frames that could not be recorded.
func (t *Tee) WriteErrors() uint64 { return t.writeErrors.Load() }

// Close closes the inner link, then flushes and closes the pcap file.
// Writer.Close is idempotent and serialised, so a second Close waits for
// the first one's flush.
func (t *Tee) Close() error {
	err := t.Link.Close()
	t.mu.Lock()
	w := t.w
	t.mu.Unlock()
	return errors.Join(err, w.Close())
}
