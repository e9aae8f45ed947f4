package fleet

import (
	"testing"
	"time"
)

// BenchmarkWrite is the cost of --nats in the events' goroutine (never on
// the packet path): encoding the JSON line and appending it to the spool,
// with the broker up (the sending goroutine drains the spool meanwhile)
// or away (everything waits in the spool, the bound drops the oldest).
func BenchmarkWrite(b *testing.B) {
	for _, up := range []bool{true, false} {
		name := "broker-away"
		if up {
			name = "broker-up"
		}
		b.Run(name, func(b *testing.B) {
			br := &broker{t: b, dir: b.TempDir(), port: freePortB(b)}
			if up {
				br.start()
				defer br.stop()
			}
			p, _, err := Open(Config{URL: br.url(), Subject: "masscanned.events.s1", SensorID: "s1", Stream: DefaultStream,
				SpoolDir: b.TempDir(), SpoolSize: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			e := testEvent(1)
			start := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = p.Write(&e)
				if i%64 == 63 {
					_ = p.Flush()
				}
			}
			b.StopTimer()
			p.Close()
			s := p.Stats()
			if up {
				// the sending goroutine's pace: everything acknowledged
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/acked")
			}
			b.ReportMetric(float64(s.Acked)/float64(b.N), "acked/op")
		})
	}
}
