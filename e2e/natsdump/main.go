// Command natsdump prints the messages of a JetStream stream as JSON
// lines ({"seq", "subject", "id", "sensor", "data"}), or with -count only
// their number. The end-to-end tests run it inside the responder's
// network namespace, where their nats-server listens.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "server URL")
	stream := flag.String("stream", "masscanned", "stream name")
	count := flag.Bool("count", false, "print the number of messages only")
	flag.Parse()
	if err := dump(*url, *stream, *count); err != nil {
		fmt.Fprintln(os.Stderr, "natsdump:", err)
		os.Exit(1)
	}
}

func dump(url, name string, count bool) error {
	nc, err := nats.Connect(url, nats.Timeout(3*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	if count {
		fmt.Println(info.State.Msgs)
		return nil
	}
	enc := json.NewEncoder(os.Stdout)
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return fmt.Errorf("message %d: %v", seq, err)
		}
		if err := enc.Encode(map[string]any{"seq": m.Sequence, "subject": m.Subject, "id": m.Header.Get("Nats-Msg-Id"),
			"sensor": m.Header.Get("Masscanned-Sensor"), "data": string(m.Data)}); err != nil {
			return err
		}
	}
	return nil
}
