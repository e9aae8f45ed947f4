package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/masscanned-go/masscanned/internal/report"
)

// natsSource is where "report --nats" reads events: a JetStream stream
// as the fleet publishes it (every message one JSON event line).
type natsSource struct {
	url, stream, subject, creds string
}

// readNATS aggregates the stream's messages, from its first to the last
// one it held when reading began (optionally those of one subject: one
// sensor), through an ordered consumer: a live stream is read up to that
// point, not followed.
func readNATS(agg *report.Aggregator, src natsSource) error {
	opts := []nats.Option{nats.Timeout(5 * time.Second), nats.Name("masscanned report")}
	if src.creds != "" {
		opts = append(opts, nats.UserCredentials(src.creds))
	}
	nc, err := nats.Connect(src.url, opts...)
	if err != nil {
		return fmt.Errorf("--nats %s: %v", src.url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
	st, err := js.Stream(ictx, src.stream)
	if err == nil {
		_, err = st.Info(ictx)
	}
	icancel()
	if err != nil {
		return fmt.Errorf("--nats %s: stream %q: %v", src.url, src.stream, err)
	}
	last := st.CachedInfo().State.LastSeq
	if st.CachedInfo().State.Msgs == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if src.subject != "" {
		cfg.FilterSubjects = []string{src.subject}
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("--nats: consumer: %v", err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	name := "nats:" + src.stream
	if src.subject != "" {
		name += "/" + src.subject
	}
	go func() {
		err := agg.Read(name, pr)
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe)) // unblock the writer on an error
		done <- err
	}()
	var werr error
	for werr == nil {
		// with a subject filter the last message may be another
		// subject's: an idle wait ends the reading
		m, err := c.Next(jetstream.FetchMaxWait(3 * time.Second))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				break
			}
			werr = fmt.Errorf("--nats: reading %q: %v", src.stream, err)
			break
		}
		data := m.Data()
		if len(data) == 0 || data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		if _, err := pw.Write(data); err != nil {
			break // the aggregator stopped: its error is reported
		}
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
			break
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		return err
	}
	return werr
}
