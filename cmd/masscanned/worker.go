package main

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/masscanned-go/masscanned/internal/capture"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/metrics"
	"github.com/masscanned-go/masscanned/internal/stack"
)

// maxOutFrames bounds the replies a worker collects before sending them:
// a batch of received frames is answered with one Send, cut into pieces
// of at most this many frames (a timer run that retransmits many SYN-ACKs
// too).
const maxOutFrames = 64

// worker is one worker's loop: a batch of frames in (link.Recv), each
// frame to the stack, its event to the metrics counters, the sink and the
// capture tap, in order, and the batch's replies out with one link.Send.
type worker struct {
	l    link.Link
	st   *stack.Stack
	mc   *metrics.Counters  // nil: no --metrics
	sink func(*event.Event) // nil: -q
	tap  *capture.Tap       // nil: no --capture
	log  *slog.Logger

	rx  []link.Frame
	tx  stack.Tx // the replies not yet sent
	win txWindow // the replies of the frame or timer run being handled
	out [][]byte // tx's frames, handed to Send
	ev  event.Event

	lastTick time.Time
}

// txWindow is the part of a worker's Tx from a given frame on: what the
// capture tap sees as the replies of one frame or one timer run, while the
// Tx holds the whole batch.
type txWindow struct {
	tx   *stack.Tx
	from int
}

func (w *txWindow) Len() int           { return w.tx.Len() - w.from }
func (w *txWindow) Frame(i int) []byte { return w.tx.Frame(w.from + i) }

func newWorker(l link.Link, st *stack.Stack, mc *metrics.Counters, sink func(*event.Event), tap *capture.Tap, log *slog.Logger) *worker {
	w := &worker{l: l, st: st, mc: mc, sink: sink, tap: tap, log: log}
	w.rx = make([]link.Frame, link.BatchSize(l))
	w.out = make([][]byte, 0, maxOutFrames)
	w.win.tx = &w.tx
	if tap != nil {
		tap.Bind(&w.win)
	}
	return w
}

// run loops until the link is drained or exhausted.
func (w *worker) run() error {
	for {
		n, err := w.l.Recv(w.rx, stack.TickInterval)
		if errors.Is(err, link.ErrTimeout) {
			// a quiet link or a wake-up: run the timers from the clock
			w.tick(time.Now())
			w.flush()
			continue
		}
		if err != nil {
			w.flush()
			if errors.Is(err, io.EOF) || errors.Is(err, link.ErrClosed) {
				return nil
			}
			return err
		}
		for i := range w.rx[:n] {
			w.frame(&w.rx[i])
		}
		w.flush()
	}
}

// frame handles one received frame; timers run from frame times (a
// capture replays its own clock).
func (w *worker) frame(fr *link.Frame) {
	w.win.from = w.tx.Len()
	w.ev.Reset()
	w.st.Handle(fr.Data, stack.Meta{Time: fr.Time, ChecksumNotReady: fr.ChecksumNotReady}, &w.tx, &w.ev)
	w.mc.Frame(&w.ev)
	if w.sink != nil {
		w.sink(&w.ev)
	}
	if w.tap != nil {
		w.tap.Frame(fr.Time, fr.Data, &w.ev)
	}
	w.tick(fr.Time)
	if w.tx.Len() >= maxOutFrames {
		w.flush()
	}
}

// tick runs the stack's timers at most every TickInterval, or at once when
// a library wrote to a connection.
func (w *worker) tick(now time.Time) {
	if !w.st.Ready() && now.Sub(w.lastTick) < stack.TickInterval {
		return
	}
	w.lastTick = now
	w.win.from = w.tx.Len()
	w.st.Tick(now, &w.tx)
	if w.tap != nil {
		w.tap.Tick(now)
	}
}

// flush sends the collected replies, at most maxOutFrames per Send.
func (w *worker) flush() {
	n := w.tx.Len()
	for i := 0; i < n; {
		w.out = w.out[:0]
		for ; i < n && len(w.out) < maxOutFrames; i++ {
			w.out = append(w.out, w.tx.Frame(i))
		}
		if _, err := w.l.Send(w.out); err != nil {
			w.log.Debug("send failed", "err", err)
		}
	}
	clear(w.out)
	w.tx.Reset()
	w.win.from = 0
}
