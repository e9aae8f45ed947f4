package main

import (
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/fleet"
	"github.com/masscanned-go/masscanned/internal/metrics"
)

// openNATS starts --nats (after hostKeys: its spool lives in the state
// directory) and returns the events' sink: s (stdout; nil with -q), the
// publisher, or both.
func (r *runner) openNATS(s event.Sink) (event.Sink, error) {
	o := r.o
	if o.NATS == "" {
		return s, nil
	}
	dir := filepath.Join(r.stateDir, "nats-spool")
	p, rec, err := fleet.Open(fleet.Config{
		URL:       o.NATS,
		Subject:   o.NATSSubject,
		SensorID:  o.SensorID,
		Creds:     o.NATSCredsData,
		Stream:    o.NATSStream,
		SpoolDir:  dir,
		SpoolSize: o.NATSSpoolBytes,
		Log:       r.log,
	})
	if err != nil {
		return nil, err
	}
	for _, t := range rec.Truncated {
		r.log.Warn("nats: spool damaged (a crash?): cut off", "where", t)
	}
	if rec.Records > 0 {
		r.log.Warn("nats: events left in the spool by the previous run are sent first", "events", rec.Records, "bytes", rec.Bytes)
	}
	r.log.Info("nats", "url", o.NATS, "subject", o.NATSSubject, "sensor", o.SensorID, "stream", o.NATSStream, "spool", dir, "spool_size", o.NATSSpoolBytes)
	r.fleet = p
	if s == nil {
		return p, nil
	}
	return fanout{s, p}, nil
}

// fanout writes every event to each sink in turn.
type fanout []event.Sink

func (f fanout) Write(e *event.Event) error {
	var errs []error
	for _, s := range f {
		if err := s.Write(e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f fanout) Flush() error {
	var errs []error
	for _, s := range f {
		errs = append(errs, s.Flush())
	}
	return errors.Join(errs...)
}

func (f fanout) Close() error {
	var errs []error
	for _, s := range f {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// natsReport adds the publisher's counters to report's arguments and
// raises the level when events were lost or are left unsent.
func (r *runner) natsReport(args []any, level slog.Level) ([]any, slog.Level) {
	if r.fleet == nil {
		return args, level
	}
	s := r.fleet.Stats()
	if s.Dropped > 0 || s.Unsent > 0 {
		level = max(level, slog.LevelWarn)
	}
	return append(args, "nats_published", s.Published, "nats_acked", s.Acked, "nats_spooled", s.Spooled,
		"nats_dropped", s.Dropped, "nats_unsent", s.Unsent), level
}

// natsOutput is the "nats" entry of the metrics' outputs: events
// acknowledged by the stream, and lost.
func (r *runner) natsOutput() []metrics.Output {
	if r.fleet == nil {
		return nil
	}
	s := r.fleet.Stats()
	return []metrics.Output{{Name: "nats", Written: s.Acked, Dropped: s.Dropped}}
}
