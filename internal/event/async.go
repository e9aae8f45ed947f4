package event

import (
	"sync"
	"sync/atomic"
	"time"
)

// flushEvery bounds how long a written event may sit in a sink's buffer
// while events keep arriving.
const flushEvery = 200 * time.Millisecond

// Async decouples the packet path from a Sink. Emit copies the event into
// a bounded queue and never blocks: when the queue is full the event is
// counted as dropped. One goroutine writes queued events to the sink,
// flushing whenever the queue is momentarily empty and at least every
// 200 ms.
type Async struct {
	sink    Sink
	ch      chan Event
	done    chan struct{}
	exited  chan struct{}
	closed  atomic.Bool
	dropped atomic.Uint64
	written atomic.Uint64
	once    sync.Once
	err     error // first sink error, read after exited
}

// NewAsync starts a writer goroutine for s with a queue of queue events
// (at least 1).
func NewAsync(s Sink, queue int) *Async {
	if queue < 1 {
		queue = 1
	}
	a := &Async{
		sink:   s,
		ch:     make(chan Event, queue),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go a.run()
	return a
}

// Emit queues a copy of e, or counts it as dropped when the queue is full
// or the Async is closed. It never blocks and does not allocate. The event
// is copied by value: an App it points to must not be modified afterwards.
func (a *Async) Emit(e *Event) {
	if a.closed.Load() {
		a.dropped.Add(1)
		return
	}
	select {
	case a.ch <- *e:
	default:
		a.dropped.Add(1)
	}
}

// Dropped is the number of events Emit could not queue.
func (a *Async) Dropped() uint64 { return a.dropped.Load() }

// Written is the number of events the sink accepted.
func (a *Async) Written() uint64 { return a.written.Load() }

// Close writes every queued event, flushes and closes the sink, and
// returns the first error the sink reported. Emit must not race with
// Close: events emitted concurrently with it may be neither written nor
// counted; events emitted after it are counted as dropped.
func (a *Async) Close() error {
	a.once.Do(func() {
		a.closed.Store(true)
		close(a.done)
	})
	<-a.exited
	return a.err
}

func (a *Async) run() {
	defer close(a.exited)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	var (
		e     Event
		dirty bool
	)
	setErr := func(err error) {
		if err != nil && a.err == nil {
			a.err = err
		}
	}
	write := func() {
		if err := a.sink.Write(&e); err != nil {
			setErr(err)
		} else {
			a.written.Add(1)
		}
		e = Event{} // do not keep the App alive
		dirty = true
	}
	for {
		select {
		case e = <-a.ch:
			write()
			if len(a.ch) == 0 {
				setErr(a.sink.Flush())
				dirty = false
			}
		case <-tick.C:
			if dirty {
				setErr(a.sink.Flush())
				dirty = false
			}
		case <-a.done:
			for {
				select {
				case e = <-a.ch:
					write()
					continue
				default:
				}
				break
			}
			setErr(a.sink.Flush())
			setErr(a.sink.Close())
			return
		}
	}
}
