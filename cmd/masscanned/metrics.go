package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/masscanned-go/masscanned/internal/config"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/metrics"
)

// promMetrics is --metrics: the listener opened at start, the workers'
// counters, and the registry served once the workers exist.
type promMetrics struct {
	srv *metrics.Server
	set *metrics.Set
	reg *prometheus.Registry
}

// listenMetrics opens the --metrics listener (before the links and before
// dropping privileges, so that a bad address or a port in use stops
// masscanned at start). It returns nil when --metrics is off.
func (r *runner) listenMetrics() (*promMetrics, error) {
	if r.o.Metrics == "" {
		return nil, nil
	}
	srv, err := metrics.Listen(r.o.Metrics)
	if err != nil {
		return nil, err
	}
	return &promMetrics{srv: srv}, nil
}

// counters makes one Counters per worker; call once the links are open.
func (m *promMetrics) counters(r *runner) {
	if m == nil {
		return
	}
	m.set = metrics.NewSet(len(r.links), r.reg.Names())
}

// worker is worker i's counters (nil when --metrics is off).
func (m *promMetrics) worker(i int) *metrics.Counters {
	if m == nil {
		return nil
	}
	return m.set.Worker(i)
}

// emitter is the stack's Emit for worker i: counted, then to emit.
func (m *promMetrics) emitter(i int, emit func(*event.Event)) func(*event.Event) {
	return m.worker(i).Wrap(emit)
}

// serve starts serving; the runner's links, table and sink must be set.
func (m *promMetrics) serve(r *runner) {
	if m == nil {
		return
	}
	m.reg = metrics.NewRegistry(metrics.NewCollector(m.set, r.stats), config.Version)
	m.srv.Serve(m.reg)
	r.log.Info("serving metrics", "url", "http://"+m.srv.Addr().String()+metrics.Path)
}

func (m *promMetrics) close() {
	if m != nil {
		_ = m.srv.Close()
	}
}

// stats reads the counters that the exit summary (report) prints.
func (r *runner) stats() metrics.Stats {
	var s metrics.Stats
	for _, l := range r.links {
		ls := l.Stats()
		s.Received += ls.Received
		s.Sent += ls.Sent
		s.SendErrors += ls.SendErrors
		s.KernelDrops += ls.KernelDrops
	}
	ts := r.table.Stats()
	s.Conns, s.ConnBytes, s.Evicted, s.MaxConns = ts.Conns, ts.Bytes, ts.Evicted, r.o.MaxConns
	s.Libraries = r.reg.Libraries()
	if r.budget != nil {
		b := r.budget.l.Stats()
		s.Budget = &metrics.BudgetStats{SYNACK: b.SYNACK.Suppressed, ICMP: b.ICMP.Suppressed, UDP: b.UDPBytes.Suppressed, Evictions: b.Evictions}
	}
	if r.sink != nil {
		s.Outputs = append(s.Outputs, metrics.Output{Name: "events", Written: r.sink.Written(), Dropped: r.sink.Dropped()})
	}
	if r.rec != nil {
		// the Tee records every frame sent (written synchronously: never dropped)
		errs := r.rec.WriteErrors()
		s.Outputs = append(s.Outputs, metrics.Output{Name: "pcap", Written: s.Sent - min(errs, s.Sent), Error: errs})
	}
	if r.capt != nil {
		s.Outputs = append(s.Outputs, metrics.Output{Name: "capture", Written: r.capt.Written(), Dropped: r.capt.Dropped(), Error: r.capt.Errors()})
	}
	s.Outputs = append(s.Outputs, r.natsOutput()...)
	return s
}
