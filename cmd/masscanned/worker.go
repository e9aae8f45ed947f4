package main

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/capture"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/metrics"
	"github.com/masscanned-go/masscanned/internal/stack"
)

// Output pacing. A scanner reads our replies from a small ring: masscan
// 1.3 (libpcap, immediate mode, snaplen 65536) gets a TPACKET_V2 ring of
// 32 frames of 64 KiB, and loses every reply that arrives while the ring
// is full. Replies sent in one burst (the frames of a ring block, or a
// timer run retransmitting every pending SYN-ACK) overflow it. So a worker
// sends at most txBurst replies per Send, and leaves at least txGap
// between two full bursts, as long as it keeps up with its input.
//
// Keeping up is the link's backlog (link.Backlogger: frames received and
// not yet handled): below pacedBacklog frames (a scanner's burst: masscan
// catches up with about 300 SYNs) replies are paced; above it the worker
// has fallen behind a flood, and pacing stops until it has caught up, or
// the receive ring would overflow. A link that cannot tell its backlog
// (a capture file, a test link) is never paced. Unpaced, a worker reads
// and sends whole batches (the link's batch size, up to maxOutFrames
// replies per Send): fewer system calls per frame while it catches up.
//
// A wait that lasts far longer than asked (overshoot) means other threads
// took the core. That is the point when the scanner's reader is one of
// them; but when frames piled up meanwhile (contentionBacklog), the
// machine is busy, each further wait would cost a time slice and the
// worker would fall behind its input (nmap's 20 kpps full scan then went
// unanswered on a loaded CI machine): pacing then stops for
// contentionHold.
const (
	txBurst           = 16
	txGap             = 20 * time.Microsecond
	pacedBacklog      = 512
	maxOvershoot      = 500 * time.Microsecond
	contentionBacklog = 64
	contentionHold    = 100 * time.Millisecond
)

// maxOutFrames bounds the replies a worker collects before sending them
// (a timer run can make many): they are sent, paced, once it is reached.
const maxOutFrames = 64

// worker is one worker's loop: a batch of frames in (link.Recv), each
// frame to the stack, its event to the metrics counters, the sink and the
// capture tap, in order, and the batch's replies out with one link.Send
// (paced: see txBurst).
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
	lastFull time.Time           // when the last full burst was sent (zero: the last was not)
	bl       link.Backlogger     // nil: the link cannot tell its backlog, no pacing
	paced    bool                // the current batch's replies are paced
	noPace   time.Time           // no pacing before this (a wait overshot)
	sleep    func(time.Duration) // the pacing wait
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
	w.bl, _ = l.(link.Backlogger)
	w.paced = w.bl != nil
	w.sleep = yieldWait
	if tap != nil {
		tap.Bind(&w.win)
	}
	return w
}

// run loops until the link is drained or exhausted.
func (w *worker) run() error {
	for {
		rx := w.rx
		if w.paced {
			// paced: a batch is at most one burst, and the handling
			// of the next batch is part of the gap
			rx = rx[:min(len(rx), txBurst)]
		}
		n, err := w.l.Recv(rx, stack.TickInterval)
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
		w.paced = w.bl != nil && w.bl.Backlog() < pacedBacklog && (w.noPace.IsZero() || time.Now().After(w.noPace))
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

// flush sends the collected replies: when paced, at most txBurst per Send
// and txGap after a full burst before the next one (the wait yields the
// CPU to others: on one machine, the scanner's reader); unpaced, up to
// maxOutFrames per Send with no wait.
func (w *worker) flush() {
	n := w.tx.Len()
	if n == 0 {
		return
	}
	burst := maxOutFrames
	if w.paced {
		burst = txBurst
	}
	for i := 0; i < n; {
		w.out = w.out[:0]
		for ; i < n && len(w.out) < burst; i++ {
			w.out = append(w.out, w.tx.Frame(i))
		}
		if w.paced && !w.lastFull.IsZero() {
			if d := txGap - time.Since(w.lastFull); d > 0 {
				t0 := time.Now()
				w.sleep(d)
				if now := time.Now(); now.Sub(t0)-d > maxOvershoot && w.bl.Backlog() >= contentionBacklog {
					w.noPace = now.Add(contentionHold)
					w.paced = false
				}
			}
		}
		if _, err := w.l.Send(w.out); err != nil {
			w.log.Debug("send failed", "err", err)
		}
		w.lastFull = time.Time{}
		if len(w.out) >= txBurst {
			w.lastFull = time.Now()
		}
	}
	clear(w.out)
	w.tx.Reset()
	w.win.from = 0
}

// yieldWait waits d (at most txGap: a few microseconds, as handling the
// batch took most of the gap), giving the CPU to any other runnable
// thread (sched_yield) meanwhile. A sleep does worse on both counts: a
// 20 µs time.Sleep lasted 1.1 ms on the development VM, and a nanosleep(2)
// 65 µs at best (timer slack off), at about 20 µs of CPU each for the
// timer and the two context switches. Spinning on runtime.Gosched (no
// system call) cost less CPU but kept the core from a scanner's reader on
// the same machine: masscan then heard 862-984 of 1000 replies.
func yieldWait(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		_, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}
