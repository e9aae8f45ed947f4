package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Stats are the counters the process keeps outside the workers' Counters,
// read at each scrape (the same ones masscanned's exit summary prints).
type Stats struct {
	// Links, summed over the workers' links.
	Received, Sent, SendErrors, KernelDrops uint64
	// The TCP connection table: open connections, buffered bytes, its
	// bound (--max-conns) and connections evicted to make room.
	Conns, ConnBytes, MaxConns int
	Evicted                    uint64
	// Libraries is the number of connections served by an application
	// library (SSH, TLS) right now.
	Libraries int
	// Budget is nil when the reply budgets are lifted.
	Budget *BudgetStats
	// Outputs are the record outputs (events, capture, ...).
	Outputs []Output
}

// BudgetStats counts the replies each anti-reflection budget refused.
type BudgetStats struct {
	SYNACK, ICMP, UDP uint64
	// Evictions counts prefix-table entries evicted for a new prefix.
	Evictions uint64
}

// Output is one record output: records written and dropped (the queue was
// full), and write errors.
type Output struct {
	Name                    string
	Written, Dropped, Error uint64
}

// Collector is the prometheus.Collector of a Set and of the process's
// Stats.
type Collector struct {
	set   *Set
	stats func() Stats

	frames, drops, unanswered, replies, suppressed, ends, hits, creds, commands *prometheus.Desc

	received, sent, sendErrors, kernelDrops             *prometheus.Desc
	conns, connBytes, maxConns, evicted, libraries      *prometheus.Desc
	budgetSuppressed, budgetEvictions                   *prometheus.Desc
	outputWritten, outputDropped, outputErrors, workers *prometheus.Desc
}

// NewCollector collects set (nil: no per-frame counters) and, at each
// scrape, stats() (nil: none).
func NewCollector(set *Set, stats func() Stats) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("masscanned_"+name, help, labels, nil)
	}
	return &Collector{
		set:   set,
		stats: stats,

		frames:     d("frames_total", "Frames handled, by the deepest layer parsed and the verdict (recv: accepted, no reply; send: answered; drop: rejected).", "layer", "verdict"),
		drops:      d("drops_total", "Frames dropped, by reason.", "reason"),
		unanswered: d("unanswered_total", "Frames accepted without a reply, by reason (closed-port, no-app-answer, rate-limited, udp-ratio, ...).", "reason"),
		replies:    d("replies_total", "Replies sent, by kind (one per answered frame or timer action; a data reply may span several frames).", "kind"),
		suppressed: d("replies_suppressed_total", "Replies built but not sent, by kind and reason (rate-limited: a reply budget; udp-ratio: larger than --udp-max-ratio times the request).", "kind", "reason"),
		ends:       d("tcp_connections_ended_total", "TCP connections ended, by end reason and the application protocol that served them (none: no application).", "end", "service"),
		hits:       d("app_requests_total", "Application records (requests recognised by a protocol handler), by service.", "service"),
		creds:      d("credentials_total", "Application records carrying a credential (an auth field), by service and whether the login was accepted.", "service", "success"),
		commands:   d("commands_total", "Application records carrying a command (a command field: protocol commands and shell command lines), by service.", "service"),

		received:    d("link_frames_received_total", "Frames received from the link(s)."),
		sent:        d("link_frames_sent_total", "Frames sent on the link(s)."),
		sendErrors:  d("link_send_errors_total", "Frames the link failed to send."),
		kernelDrops: d("link_kernel_drops_total", "Frames the kernel dropped before masscanned read them (AF_PACKET ring full: PACKET_STATISTICS)."),
		conns:       d("tcp_connections", "TCP connections in the connection table."),
		connBytes:   d("tcp_buffered_bytes", "Bytes buffered across the connection table."),
		maxConns:    d("tcp_connections_limit", "Bound of the connection table (--max-conns)."),
		evicted:     d("tcp_connections_evicted_total", "TCP connections evicted from a full connection table."),
		libraries:   d("library_connections", "Connections served by an application library (SSH, TLS) now."),

		budgetSuppressed: d("budget_suppressed_total", "Replies refused by an anti-reflection budget, by class (synack, icmp, udp).", "class"),
		budgetEvictions:  d("budget_table_evictions_total", "Prefix-table entries of the reply budgets evicted to make room."),

		outputWritten: d("output_records_written_total", "Records written, by output (events: the event stream).", "output"),
		outputDropped: d("output_records_dropped_total", "Records dropped because the output's queue was full, by output.", "output"),
		outputErrors:  d("output_write_errors_total", "Records an output failed to write, by output.", "output"),
		workers:       d("workers", "Workers handling frames."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.frames, c.drops, c.unanswered, c.replies, c.suppressed, c.ends, c.hits, c.creds, c.commands,
		c.received, c.sent, c.sendErrors, c.kernelDrops, c.conns, c.connBytes, c.maxConns, c.evicted, c.libraries,
		c.budgetSuppressed, c.budgetEvictions, c.outputWritten, c.outputDropped, c.outputErrors, c.workers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if s := c.set; s != nil {
		c.collectSet(ch, s)
	}
	if c.stats == nil {
		return
	}
	st := c.stats()
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(c.received, st.Received)
	counter(c.sent, st.Sent)
	counter(c.sendErrors, st.SendErrors)
	counter(c.kernelDrops, st.KernelDrops)
	gauge(c.conns, st.Conns)
	gauge(c.connBytes, st.ConnBytes)
	gauge(c.maxConns, st.MaxConns)
	counter(c.evicted, st.Evicted)
	gauge(c.libraries, st.Libraries)
	if b := st.Budget; b != nil {
		counter(c.budgetSuppressed, b.SYNACK, "synack")
		counter(c.budgetSuppressed, b.ICMP, "icmp")
		counter(c.budgetSuppressed, b.UDP, "udp")
		counter(c.budgetEvictions, b.Evictions)
	}
	for _, o := range st.Outputs {
		counter(c.outputWritten, o.Written, o.Name)
		counter(c.outputDropped, o.Dropped, o.Name)
		counter(c.outputErrors, o.Error, o.Name)
	}
}

// collectSet sums the workers' counters. Families with one label list
// every known value (zeros included, so that rate() has a start); those
// with two list the non-zero combinations; "other" appears when non-zero.
func (c *Collector) collectSet(ch chan<- prometheus.Metric, s *Set) {
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(len(s.workers)))
	total := func(n int, pick func(*Counters) []atomic.Uint64) []uint64 {
		vals := make([]uint64, n)
		for _, w := range s.workers {
			a := pick(w)
			for i := range a {
				vals[i] += a[i].Load()
			}
		}
		return vals
	}
	one := func(d *prometheus.Desc, l *labels, pick func(*Counters) []atomic.Uint64) {
		for i, v := range total(l.len(), pick) {
			if v == 0 && l.names[i] == other {
				continue
			}
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l.names[i])
		}
	}
	two := func(d *prometheus.Desc, l1, l2 *labels, pick func(*Counters) []atomic.Uint64) {
		for i, v := range total(l1.len()*l2.len(), pick) {
			if v != 0 {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l1.names[i/l2.len()], l2.names[i%l2.len()])
			}
		}
	}
	two(c.frames, s.layers, s.verdicts, func(w *Counters) []atomic.Uint64 { return w.frames })
	one(c.drops, s.reasons, func(w *Counters) []atomic.Uint64 { return w.drops })
	one(c.unanswered, s.reasons, func(w *Counters) []atomic.Uint64 { return w.unanswered })
	one(c.replies, s.replies, func(w *Counters) []atomic.Uint64 { return w.replies })
	two(c.suppressed, s.replies, s.reasons, func(w *Counters) []atomic.Uint64 { return w.suppressed })
	two(c.ends, s.ends, s.services, func(w *Counters) []atomic.Uint64 { return w.ends })
	one(c.hits, s.services, func(w *Counters) []atomic.Uint64 { return w.hits })
	two(c.creds, s.services, successLabels, func(w *Counters) []atomic.Uint64 { return w.creds })
	one(c.commands, s.services, func(w *Counters) []atomic.Uint64 { return w.commands })
}

// successLabels are the values of the success label (no "other").
var successLabels = &labels{names: []string{"false", "true"}}

// NewRegistry is a registry with c, the Go runtime's and the process's
// collectors, and masscanned_build_info.
func NewRegistry(c *Collector, version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "masscanned_build_info", Help: "Always 1; the version label is masscanned's version.",
			ConstLabels: prometheus.Labels{"version": version}}, func() float64 { return 1 }),
	)
	return reg
}
