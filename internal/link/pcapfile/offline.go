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

// Recorder writes frames into a pcap file that can be reopened (log
// rotation) while frames flow. It is safe for concurrent use, so the links
// of several workers can share one.
type Recorder struct {
	path        string
	mu          sync.Mutex
	w           *Writer
	writeErrors atomic.Uint64
	now         func() time.Time
}

// NewRecorder creates the pcap file at path.
func NewRecorder(path string) (*Recorder, error) {
	w, err := Create(path)
	if err != nil {
		return nil, err
	}
	return &Recorder{path: path, w: w, now: time.Now}, nil
}

// Record writes frame, stamped with the current time. An error is
// counted (WriteErrors), not returned: recording never stops answering.
func (r *Recorder) Record(frame []byte) {
	r.mu.Lock()
	err := r.w.WriteFrame(r.now(), frame)
	r.mu.Unlock()
	if err != nil {
		r.writeErrors.Add(1)
	}
}

// Path is the file the Recorder writes to.
func (r *Recorder) Path() string { return r.path }

// Reopen creates a new file at the path (after the old one was renamed,
// say) and closes the old one; if the new file cannot be created the old
// one stays in use.
func (r *Recorder) Reopen() error {
	w, err := Create(r.path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.w
	r.w = w
	r.mu.Unlock()
	return old.Close()
}

// WriteErrors is the number of frames that could not be recorded.
func (r *Recorder) WriteErrors() uint64 { return r.writeErrors.Load() }

// Close flushes and closes the file (idempotent).
func (r *Recorder) Close() error {
	r.mu.Lock()
	w := r.w
	r.mu.Unlock()
	return w.Close()
}

// Tee is a link.Link that records every frame its inner link sent
// successfully.
type Tee struct {
	link.Link
	rec *Recorder
}

// NewTee records the frames l sends with rec. Closing the Tee closes the
// link, not the Recorder.
func NewTee(l link.Link, rec *Recorder) *Tee { return &Tee{Link: l, rec: rec} }

// Drain drains the inner link when it can (see link.Drainer).
func (t *Tee) Drain() { link.Drain(t.Link) }

// Wake wakes the inner link if it can.
func (t *Tee) Wake() { link.Wake(t.Link) }

// RecvTimeout receives from the inner link, giving up after d if it can.
func (t *Tee) RecvTimeout(f *link.Frame, d time.Duration) error {
	return link.RecvTimeout(t.Link, f, d)
}

// Send sends frame on the inner link and records it.
func (t *Tee) Send(frame []byte) error {
	if err := t.Link.Send(frame); err != nil {
		return err
	}
	t.rec.Record(frame)
	return nil
}
