package event

import (
	"io"
	"testing"
)

func BenchmarkAsyncEmit(b *testing.B) {
	a := NewAsync(NewConsole(io.Discard), 4096)
	e := testEvents()[1].ev
	b.ReportAllocs()
	for b.Loop() {
		a.Emit(&e)
	}
	b.StopTimer()
	_ = a.Close()
}

func BenchmarkSinks(b *testing.B) {
	for _, name := range []string{"console", "logfmt", "json"} {
		b.Run(name, func(b *testing.B) {
			mk, _ := ParseFormat(name)
			s := mk(io.Discard)
			evs := testEvents()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = s.Write(&evs[i%len(evs)].ev)
				i++
			}
		})
	}
}
