package pcapfile

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masscanned-go/masscanned/internal/link"
)

// Offline is a link.Link that replays a capture: Recv returns its frames
// in order, one per call (BatchSize 1; io.EOF at the end), and Send writes
// replies into a pcap file, stamped with the time of the frame most
// recently received, so a replay is deterministic. Without a writer,
// replies are only counted.
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

// BatchSize is 1: each frame is answered before the next is read, so its
// replies carry its time.
func (o *Offline) BatchSize() int { return 1 }

// Recv returns the next frame of the capture in frames[0]; it never
// waits, so the timeout does not apply.
func (o *Offline) Recv(frames []link.Frame, _ time.Duration) (int, error) {
	if o.closed.Load() {
		return 0, link.ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	data, t, err := o.r.Next()
	if err != nil {
		return 0, err
	}
	o.last = t
	frames[0] = link.Frame{Data: data, Time: t}
	o.received.Add(1)
	return 1, nil
}

// Send records replies.
func (o *Offline) Send(frames [][]byte) (int, error) {
	if o.closed.Load() {
		return 0, link.ErrClosed
	}
	for i, f := range frames {
		if o.w != nil {
			if err := o.w.WriteFrame(o.last, f); err != nil {
				o.sendErrors.Add(uint64(len(frames) - i))
				return i, err
			}
		}
		o.sent.Add(1)
	}
	return len(frames), nil
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

var (
	_ link.Drainer    = (*Tee)(nil)
	_ link.Waker      = (*Tee)(nil)
	_ link.BatchSizer = (*Tee)(nil)
)

// NewTee records the frames l sends with rec. Closing the Tee closes the
// link, not the Recorder.
func NewTee(l link.Link, rec *Recorder) *Tee { return &Tee{Link: l, rec: rec} }

// Drain drains the inner link when it can (see link.Drainer).
func (t *Tee) Drain() { link.Drain(t.Link) }

// Wake wakes the inner link if it can.
func (t *Tee) Wake() { link.Wake(t.Link) }

// BatchSize is the inner link's.
func (t *Tee) BatchSize() int { return link.BatchSize(t.Link) }

// Interface describes the inner link's interface (zero if it has none).
func (t *Tee) Interface() link.Info {
	if i, ok := t.Link.(link.Interfacer); ok {
		return i.Interface()
	}
	return link.Info{}
}

// Send sends frames on the inner link and records those it sent.
func (t *Tee) Send(frames [][]byte) (int, error) {
	n, err := t.Link.Send(frames)
	for _, f := range frames[:n] {
		t.rec.Record(f)
	}
	return n, err
}
