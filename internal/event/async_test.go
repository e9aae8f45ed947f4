package event

import (
	"errors"
	"runtime"
	"sync"
	"testing"
)

// recSink records the sequence numbers (Seq) of written events.
type recSink struct {
	mu      sync.Mutex
	seqs    []uint32
	flushes int
	closed  bool
	block   chan struct{} // when non-nil, Write waits for it to be closed
	entered chan struct{} // closed at the first Write
	once    sync.Once
	err     error
}

func (s *recSink) Write(e *Event) error {
	if s.entered != nil {
		s.once.Do(func() { close(s.entered) })
	}
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seqs = append(s.seqs, e.Seq)
	return s.err
}

func (s *recSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	return nil
}

func (s *recSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func TestAsyncOrderAndDrain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue int
		n     int
	}{
		{"small", 4, 3},
		{"exact", 16, 16},
		{"many", 1024, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &recSink{}
			a := NewAsync(s, tc.queue)
			var e Event
			for i := range tc.n {
				e.Seq = uint32(i)
				a.Emit(&e)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if got := a.Written() + a.Dropped(); got != uint64(tc.n) {
				t.Fatalf("written %d + dropped %d != emitted %d", a.Written(), a.Dropped(), tc.n)
			}
			if a.Dropped() == 0 && a.Written() != uint64(tc.n) {
				t.Fatalf("written %d, want %d", a.Written(), tc.n)
			}
			// Whatever was written is in emission order.
			for i := 1; i < len(s.seqs); i++ {
				if s.seqs[i] <= s.seqs[i-1] {
					t.Fatalf("out of order at %d: %v", i, s.seqs[:i+1])
				}
			}
			if !s.closed || s.flushes == 0 {
				t.Fatalf("closed=%v flushes=%d", s.closed, s.flushes)
			}
		})
	}
}

// A sink that keeps up loses nothing: emit at the pace the sink writes.
func TestAsyncNoLossWhenSinkKeepsUp(t *testing.T) {
	s := &recSink{}
	a := NewAsync(s, 8)
	var e Event
	const n = 200
	for i := range n {
		e.Seq = uint32(i)
		a.Emit(&e)
		for a.Written() < uint64(i+1) && a.Dropped() == 0 {
			// wait for the writer; no clock involved
			runtimeGosched()
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Written() != n || a.Dropped() != 0 || len(s.seqs) != n {
		t.Fatalf("written %d dropped %d recorded %d", a.Written(), a.Dropped(), len(s.seqs))
	}
}

func TestAsyncBlockedSinkDrops(t *testing.T) {
	s := &recSink{block: make(chan struct{}), entered: make(chan struct{})}
	const queue, n = 4, 100
	a := NewAsync(s, queue)
	var e Event
	a.Emit(&e)
	<-s.entered // the writer holds one event and is stuck in Write
	for i := 1; i < n; i++ {
		e.Seq = uint32(i)
		a.Emit(&e) // must not block
	}
	if want := uint64(n - 1 - queue); a.Dropped() != want {
		t.Fatalf("dropped %d, want %d", a.Dropped(), want)
	}
	close(s.block)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Written() != 1+queue {
		t.Fatalf("written %d, want %d", a.Written(), 1+queue)
	}
	// After Close, Emit counts drops and does not panic.
	a.Emit(&e)
	if a.Dropped() != n-1-queue+1 {
		t.Fatalf("dropped after close %d", a.Dropped())
	}
}

func TestAsyncSinkError(t *testing.T) {
	boom := errors.New("boom")
	s := &recSink{err: boom}
	a := NewAsync(s, 4)
	a.Emit(&Event{})
	if err := a.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close() = %v, want %v", err, boom)
	}
	if a.Written() != 0 {
		t.Fatalf("written %d", a.Written())
	}
	if err := a.Close(); !errors.Is(err, boom) { // idempotent
		t.Fatalf("second Close() = %v", err)
	}
}

func TestAsyncEmitAllocs(t *testing.T) {
	s := &recSink{block: make(chan struct{}), entered: make(chan struct{})}
	a := NewAsync(s, 64)
	e := Event{Layer: "tcp", App: &App{Proto: "http"}}
	allocs := testing.AllocsPerRun(1000, func() { a.Emit(&e) })
	if allocs != 0 {
		t.Fatalf("Emit allocates %v times", allocs)
	}
	close(s.block)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func runtimeGosched() { runtime.Gosched() }
