package capture

import (
	"slices"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Tap is one worker's side of the capture. The worker's stack emits its
// events through Tap.Emit (Config.Emit), which passes them on and notes
// which reply frames each timer action put in the worker's Tx; after
// sending, the worker calls Frame (after Handle) or Tick (after Tick) and
// the Tap queues the packets with their events' comments.
//
// Frame, Tick and Bind belong to the worker's goroutine; Emit may also be
// called from library goroutines (application records of SSH, TLS), which
// only queue a note attached to the next reply sent on the connection.
type Tap struct {
	q     ring
	idx   int // in Capture.taps
	c     *Capture
	next  func(*event.Event)
	tx    Frames
	marks []mark
	timer event.Event
}

// mark: frames tx[from:to] are the replies of the timer action ev.
type mark struct {
	from, to int
	ev       event.Event
}

// NewTap returns a tap passing events on to next (nil: none).
func (c *Capture) NewTap(next func(*event.Event)) *Tap {
	t := &Tap{c: c, next: next, timer: event.Event{Kind: event.KindTimer, Verdict: event.Answered}}
	n := 1
	for n < c.o.Queue {
		n <<= 1
	}
	t.q.slots = make([]record, n)
	t.q.mask = uint64(n - 1)
	c.tapMu.Lock()
	defer c.tapMu.Unlock()
	t.idx = len(*c.taps.Load())
	taps := append(slices.Clone(*c.taps.Load()), t)
	c.taps.Store(&taps)
	return t
}

// Bind names the worker's reply frames (its stack.Tx).
func (t *Tap) Bind(tx Frames) { t.tx = tx }

// Emit is the stack's Config.Emit.
func (t *Tap) Emit(ev *event.Event) {
	if t.next != nil {
		t.next(ev)
	}
	switch {
	case ev.Kind == event.KindApp:
		t.c.note(ev)
	case ev.Kind == event.KindTimer && ev.ReplyLen > 0 && t.tx != nil:
		// the action's replies are the last frames, ReplyLen bytes
		to := t.tx.Len()
		from, sum := to, 0
		for from > 0 && sum < ev.ReplyLen {
			from--
			sum += len(t.tx.Frame(from))
		}
		if sum != ev.ReplyLen {
			return
		}
		if n := len(t.marks); n > 0 && from < t.marks[n-1].to {
			return
		}
		t.marks = append(t.marks, mark{from: from, to: to})
		t.marks[len(t.marks)-1].ev = *ev
	}
}

// Frame queues the received frame in and the replies in the bound Tx,
// stamped at, under ev's comment (timer actions' replies under theirs).
func (t *Tap) Frame(at time.Time, in []byte, ev *event.Event) { t.flush(at, in, ev) }

// Tick queues the replies Tick put in the bound Tx.
func (t *Tap) Tick(at time.Time) {
	if t.tx.Len() == 0 && len(t.marks) == 0 {
		return
	}
	t.timer.Time = at
	t.flush(at, nil, &t.timer)
}

// flush queues in and the bound Tx's frames: each timer action's under
// its event, the others under def.
func (t *Tap) flush(at time.Time, in []byte, def *event.Event) {
	n, pos := t.tx.Len(), 0
	for i := range t.marks {
		m := &t.marks[i]
		if m.to > n {
			break // not this Tx's frames any more
		}
		if m.from > pos || in != nil {
			t.c.add(t, at, def, in, t.tx, pos, m.from)
			in = nil
		}
		t.c.add(t, m.ev.Time, &m.ev, nil, t.tx, m.from, m.to)
		pos = m.to
	}
	clear(t.marks)
	t.marks = t.marks[:0]
	if pos < n || in != nil {
		t.c.add(t, at, def, in, t.tx, pos, n)
	}
}
