package ivre

import (
	"io"
	"testing"

	"github.com/masscanned-go/masscanned/internal/event"
)

// BenchmarkWriter: the sink goroutine's cost per event, for a SYN (one
// record) and for an HTTP request (first bytes, request, headers).
func BenchmarkWriter(b *testing.B) {
	syn := event.Event{Time: t0, Verdict: event.Answered, Layer: "tcp", SrcIP: client, DstIP: us, IPProto: 6,
		SrcPort: 40000, DstPort: 8080, TCPFlags: 0x02, Reply: "syn-ack"}
	raw := "GET / HTTP/1.1\r\nHost: 192.0.2.2\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
	http := tcpEv(80, 62, &event.App{Proto: "http", Raw: []byte(raw),
		Fields: []event.Field{f("method", "GET"), f("path", "/"), f("version", "HTTP/1.1"), f("user_agent", "curl/7.88.1")}})
	for _, bc := range []struct {
		name string
		ev   *event.Event
	}{{"SYN", &syn}, {"HTTP", &http}} {
		b.Run(bc.name, func(b *testing.B) {
			w := NewWriter(io.Discard)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bc.ev.UID = uint64(i) | 1 // a new connection each time
				if err := w.Write(bc.ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
