package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/ssh"
	"github.com/masscanned-go/masscanned/internal/app/telnet"
	"github.com/masscanned-go/masscanned/internal/app/tlsd"
	"github.com/masscanned-go/masscanned/internal/capture"
	"github.com/masscanned-go/masscanned/internal/config"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/fleet"
	"github.com/masscanned-go/masscanned/internal/hostkeys"
	"github.com/masscanned-go/masscanned/internal/hostports"
	"github.com/masscanned-go/masscanned/internal/ivre"
	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/link/afpacket"
	"github.com/masscanned-go/masscanned/internal/link/afxdp"
	"github.com/masscanned-go/masscanned/internal/link/pcapfile"
	"github.com/masscanned-go/masscanned/internal/metrics"
	"github.com/masscanned-go/masscanned/internal/p0f"
	"github.com/masscanned-go/masscanned/internal/priv"
	"github.com/masscanned-go/masscanned/internal/profile"
	"github.com/masscanned-go/masscanned/internal/stack"
	xssh "golang.org/x/crypto/ssh"
)

type runner struct {
	o      *config.Options
	reg    *app.Registry
	budget *budget
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer

	links  []link.Link        // one per worker
	rec    *pcapfile.Recorder // --write-pcap in live mode
	stacks []*stack.Stack     // one per worker
	sink   *event.Async       // nil with -q
	capt   *capture.Capture   // --capture
	taps   []*capture.Tap     // one per worker with --capture
	table  *stack.ConnTable   // shared by the workers
	prom   *promMetrics       // nil without --metrics

	fw        *hostports.Firewall // --host-ports
	hostLinks []*hostports.Link   // --host-ports: r.links' filters
	ivre      *ivre.Writer        // --ivre
	stateDir  string              // --state-dir or a temporary one
	fleet     *fleet.Publisher    // --nats
	xdp       *afxdp.XDP          // --link afxdp (linksel.go)
}

// workers is the number of workers to run: one per CPU for 0, one for a
// capture file.
func (r *runner) workers() int {
	n := r.o.Workers
	if n == 0 {
		n = runtime.NumCPU()
	}
	if r.o.ReadPcap != "" || n < 1 {
		n = 1
	}
	return n
}

// openLinks opens the frame source(s) and returns the MAC to use. Live
// workers share the interface's traffic through a PACKET_FANOUT group
// (hashed by flow, so a connection stays on one worker).
func (r *runner) openLinks() ([6]byte, error) {
	o := r.o
	mac := config.DefaultMAC
	if o.ReadPcap != "" {
		rd, err := pcapfile.OpenReader(o.ReadPcap)
		if err != nil {
			return mac, err
		}
		var w *pcapfile.Writer
		if o.WritePcap != "" {
			if w, err = pcapfile.Create(o.WritePcap); err != nil {
				rd.Close()
				return mac, err
			}
		}
		if o.HasMAC {
			mac = o.MACAddr
		}
		r.links = []link.Link{pcapfile.NewOffline(rd, w)}
		return mac, nil
	}
	if err := afpacket.CheckInterface(o.Iface); err != nil {
		return mac, err
	}
	hw, err := afpacket.HardwareAddr(o.Iface)
	switch {
	case o.HasMAC:
		mac = o.MACAddr
	case err == nil && len(hw) == 6:
		mac = [6]byte(hw)
	}
	opts := afpacket.Options{BlockCount: o.RingMB, Promisc: o.Promisc || (len(hw) == 6 && [6]byte(hw) != mac)}
	if opts.TX, err = afpacketTX(); err != nil {
		return mac, err
	}
	if o.WritePcap != "" {
		if r.rec, err = pcapfile.NewRecorder(o.WritePcap); err != nil {
			return mac, err
		}
	}
	live, err := r.openLive(opts, r.workers(), mac, hw)
	if err != nil {
		r.closeLinks()
		return mac, err
	}
	for _, l := range live {
		if r.rec != nil {
			r.links = append(r.links, pcapfile.NewTee(l, r.rec))
		} else {
			r.links = append(r.links, l)
		}
	}
	return mac, nil
}

func (r *runner) closeLinks() error {
	var errs []error
	for _, l := range r.links {
		errs = append(errs, l.Close())
	}
	if r.rec != nil {
		errs = append(errs, r.rec.Close())
	}
	return errors.Join(errs...)
}

func (r *runner) run(ctx context.Context) error {
	o := r.o
	prom, err := r.listenMetrics()
	if err != nil {
		return err
	}
	r.prom = prom
	defer prom.close()
	mac, err := r.openLinks()
	if err != nil {
		return err
	}
	defer r.closeLinks()
	closeFw, err := r.hostPorts(mac)
	if err != nil {
		return err
	}
	defer closeFw()
	r.logLinks()
	prom.counters(r)
	if o.ReadPcap == "" {
		if o.User != "" {
			if err := priv.Drop(o.User, o.Promisc); err != nil {
				return err
			}
			r.log.Info("dropped privileges", "user", o.User)
		} else if priv.IsRoot() {
			r.log.Warn("running as root: use --user to drop to an unprivileged user keeping only CAP_NET_RAW")
		}
	}
	src := o.Iface
	if src == "" {
		src = o.ReadPcap
	}
	r.log.Info("configuration", "source", src, "mac", net.HardwareAddr(mac[:]).String(), "personality", o.Persona.Name, "workers", len(r.links))
	if o.Self == nil {
		r.log.Warn("no self-IP list: answering for EVERY address (ARP, ND and IP) seen on the link; give --self-ip-list or --self-ip-file unless this is the veth + DNAT deployment")
	} else {
		for _, e := range o.Self.Entries() {
			r.log.Info("binding", "ip", e)
		}
	}
	for _, e := range o.Deny.Entries() {
		r.log.Info("ignoring", "ip", e)
	}
	for _, p := range r.reg.List() {
		r.log.Debug("protocol", "name", p.Name, "enabled", p.Enabled)
	}

	if o.Profile != nil {
		for _, h := range o.Profile.Hosts {
			r.log.Info("host profile", "file", o.Profile.Path, "line", h.Line, "name", h.Name, "personality", h.Personality,
				"open_tcp", h.OpenTCPPorts(), "open_udp", h.OpenUDPPorts())
		}
	}
	gA := o.GreetAfter
	if gA == 0 {
		gA = -1 // never
	}
	if o.MaxPending == 0 {
		o.MaxPending = -1 // never retransmit
	}
	cleanup, err := r.hostKeys()
	if err != nil {
		return err
	}
	defer cleanup()
	r.table = stack.NewConnTable(r.reg, stack.ConnConfig{MaxConns: o.MaxConns, MaxBytes: o.MaxConnBytes, MaxBuffer: o.MaxBuffer,
		IdleTimeout: o.IdleTimeout, GreetAfter: gA})
	// a library (SSH, TLS) wrote to a connection: wake the workers so
	// that their Tick sends it now, not at the next timer tick
	r.table.SetWake(func() {
		for _, l := range r.links {
			link.Wake(l)
		}
	})
	var s event.Sink
	if !o.Quiet {
		if s, err = formatSink(o.Format, r.stdout); err != nil {
			return err
		}
	}
	if s, err = r.openNATS(s); err != nil {
		return err
	}
	if s, err = r.openIVRE(s); err != nil {
		return err
	}
	if s != nil && o.P0fDB != "" {
		db, err := p0f.Load(o.P0fDB)
		if err != nil {
			return fmt.Errorf("--p0f-db: %w", err)
		}
		r.log.Info("p0f database", "file", o.P0fDB, "signatures", db.Len())
		s = &p0f.Sink{Sink: s, DB: db} // labels before every output
	}
	if s != nil {
		r.sink = event.NewAsync(s, o.EventQueue)
	}
	if err := r.openCapture(); err != nil {
		return err
	}
	defer r.closeCapture()
	cfg := stack.Config{
		MAC:         mac,
		Self:        o.Self,
		Deny:        o.Deny,
		Personality: o.Persona,
		CookieKey:   o.CookieKey,
		Apps:        r.reg,
		Conns:       r.table,
		Profile:     o.Profile,
		UDPMaxRatio: o.UDPMaxRatio,
		Workers:     len(r.links),
		MaxPending:  max(o.MaxPending, -1),
	}
	if r.sink != nil {
		cfg.Emit = r.sink.Emit
	}
	if r.budget != nil {
		cfg.Budget = r.budget
	}
	emit := cfg.Emit
	for i := range r.links {
		if _, err := randRead(cfg.Seed[:]); err != nil {
			return err
		}
		cfg.Worker = i
		// events go to the capture tap (which queues them for the sink),
		// counted by the metrics first
		cfg.Emit = prom.emitter(i, r.captureEmit(emit))
		st, err := stack.New(cfg)
		if err != nil {
			return err
		}
		r.stacks = append(r.stacks, st)
	}
	prom.serve(r)

	// Stop: drain the links (frames already received are still handled),
	// which ends the workers; the deferred closeLinks releases them.
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			for _, l := range r.links {
				link.Drain(l)
			}
		case <-stopped:
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				r.reload()
			case <-stopped:
				return
			}
		}
	}()
	if o.Verbose > 0 {
		// counters every 10 s with -v
		go func() {
			tick := time.NewTicker(10 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					r.report("progress", slog.LevelInfo)
				case <-stopped:
					return
				}
			}
		}()
	}

	errs := make([]error, len(r.links))
	var wg sync.WaitGroup
	for i := range r.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.work(r.links[i], r.stacks[i], prom.worker(i), r.tap(i))
		}()
	}
	wg.Wait()
	close(stopped)
	var sinkErr error
	if r.sink != nil {
		sinkErr = r.sink.Close()
	}
	captErr := r.closeCapture()
	r.report("stopped", slog.LevelWarn)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reading frames: %v", err)
	}
	if sinkErr != nil {
		return fmt.Errorf("writing events: %v", sinkErr)
	}
	if captErr != nil {
		return fmt.Errorf("writing --capture: %v", captErr)
	}
	return nil
}

// work is one worker's loop (worker.go): a batch of frames in, replies
// out, each frame's event to the sink (counted by mc) and frame and
// replies to the capture tap (nil: none), until the link is drained or
// exhausted.
func (r *runner) work(l link.Link, st *stack.Stack, mc *metrics.Counters, tap *capture.Tap) error {
	var sink func(*event.Event)
	if r.sink != nil {
		sink = r.sink.Emit
	}
	return newWorker(l, st, mc, sink, tap, r.log).run()
}

// report logs counters summed over the workers; dropped events raise it
// to a warning.
func (r *runner) report(msg string, level slog.Level) {
	var ls link.Stats
	for _, l := range r.links {
		s := l.Stats()
		ls.Received += s.Received
		ls.Sent += s.Sent
		ls.SendErrors += s.SendErrors
		ls.KernelDrops += s.KernelDrops
	}
	ts := r.table.Stats()
	args := []any{"frames", ls.Received, "sent", ls.Sent, "send_errors", ls.SendErrors, "kernel_drops", ls.KernelDrops,
		"tcp_conns", ts.Conns, "tcp_evicted", ts.Evicted}
	if r.budget != nil {
		s := r.budget.l.Stats()
		args = append(args, "suppressed_synack", s.SYNACK.Suppressed, "suppressed_icmp", s.ICMP.Suppressed, "suppressed_udp", s.UDPBytes.Suppressed)
	}
	if r.rec != nil {
		args = append(args, "pcap_write_errors", r.rec.WriteErrors())
	}
	args = r.captureReport(args)
	args = r.hostPortsReport(args)
	args = r.ivreReport(args)
	if r.capt != nil && r.capt.Dropped()+r.capt.Errors() > 0 {
		level = max(level, slog.LevelWarn)
	}
	args, level = r.natsReport(args, level)
	if r.sink != nil {
		args = append(args, "events_written", r.sink.Written(), "events_dropped", r.sink.Dropped())
		if r.sink.Dropped() > 0 {
			level = max(level, slog.LevelWarn)
		}
	}
	r.log.Log(context.Background(), level, msg, args...)
}

// reload re-reads the self and deny lists and the host profile (on any
// error the old ones stay), reopens --write-pcap and starts the next
// --capture file.
func (r *runner) reload() {
	o := r.o
	if o.ProfileFile != "" {
		p, err := profile.Load(o.ProfileFile)
		for _, st := range r.stacks {
			if err == nil {
				err = st.SetProfile(p)
			}
		}
		if err != nil {
			r.log.Error("reload failed, keeping the previous host profile", "err", err)
		} else {
			r.log.Warn("reloaded host profile", "file", p.Path, "hosts", len(p.Hosts))
		}
	}
	self, err := addrset.Parse(o.SelfIPFile, o.SelfIPList)
	if err == nil {
		var deny *addrset.Set
		if deny, err = addrset.Parse(o.DenyFile, o.DenyList); err == nil {
			for _, st := range r.stacks {
				st.SetLists(self, deny)
			}
			r.reloadLink(self)
			r.log.Warn("reloaded address lists", "self", self.Len(), "deny", deny.Len())
		}
	}
	if err != nil {
		r.log.Error("reload failed, keeping the previous lists", "err", err)
	}
	if r.rec != nil {
		if err := r.rec.Reopen(); err != nil {
			r.log.Error("reopening --write-pcap failed, keeping the previous file", "err", err)
		} else {
			r.log.Warn("reopened --write-pcap", "path", r.rec.Path())
		}
	}
	if r.capt != nil {
		r.capt.Reopen()
	}
	r.reopenIVRE()
}

// hostKeys gives the SSH and TLS handlers each host's own keys and
// certificate, kept in --state-dir (or a temporary directory removed at
// exit: then they last as long as the process).
func (r *runner) hostKeys() (cleanup func(), err error) {
	dir, cleanup := r.o.StateDir, func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "masscanned-state-"); err != nil {
			return nil, fmt.Errorf("state directory: %v", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
	}
	store, err := hostkeys.Open(dir)
	if err != nil {
		cleanup()
		return nil, err
	}
	if h, ok := r.reg.Handler("ssh").(*ssh.Handler); ok {
		h.HostKeys = func(c *app.Conn) ([]xssh.Signer, error) { return store.SSHSigners(c.Host()) }
		h.AcceptAfter = r.o.SSHAcceptAfter
	}
	if h, ok := r.reg.Handler("telnet").(*telnet.Handler); ok {
		h.AcceptAfter = r.o.TelnetAcceptAfter
	}
	if h, ok := r.reg.Handler("tls").(*tlsd.Handler); ok {
		h.Certs = func(c *app.Conn, cn string) (*tls.Certificate, error) {
			return store.Certificate(c.Host(), hostkeys.CertParams{CommonName: cn})
		}
	}
	r.stateDir = dir
	r.log.Info("state directory", "dir", dir, "kept", r.o.StateDir != "")
	if r.o.Profile != nil {
		stop := r.pregenerate(store, r.o.Profile)
		removeDir := cleanup
		cleanup = func() { stop(); removeDir() }
	}
	return cleanup, nil
}

// pregenerate makes the SSH host keys and the TLS certificate of every
// profile host in the background, one host at a time, so that the first
// client of a host does not wait for an RSA key generation (the first
// connection to an address no profile names still does). The returned
// stop ends it between two hosts and waits for it.
func (r *runner) pregenerate(store *hostkeys.Store, p *profile.Profile) (stop func()) {
	enabled := map[string]bool{}
	for _, i := range r.reg.List() {
		enabled[i.Name] = i.Enabled
	}
	sh, _ := r.reg.Handler("ssh").(*ssh.Handler)
	wantSSH := enabled["ssh"] && sh != nil && !sh.BannerOnly
	_, wantTLS := r.reg.Handler("tls").(*tlsd.Handler)
	wantTLS = wantTLS && enabled["tls"]
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for _, h := range p.Hosts {
			select {
			case <-quit:
				return
			default:
			}
			if h.Personality == "masscanned" {
				continue // banner-only SSH, no TLS (the libraries' UseLibrary)
			}
			id := stack.HostID(h)
			if wantSSH {
				if _, err := store.SSHSigners(id); err != nil {
					r.log.Warn("SSH host keys", "host", id, "err", err)
				}
			}
			if wantTLS {
				// the common name the TLS handler asks for (tlsd.RunLibrary)
				cn := h.Banner("hostname")
				if cn == "" {
					cn = "localhost"
				}
				if _, err := store.Certificate(id, hostkeys.CertParams{CommonName: cn}); err != nil {
					r.log.Warn("TLS certificate", "host", id, "err", err)
				}
			}
			r.log.Debug("host keys ready", "host", id, "dir", store.HostDir(id))
		}
	}()
	return func() { close(quit); <-done }
}

// randRead fills b from the system's random source.
func randRead(b []byte) (int, error) {
	n, err := rand.Read(b)
	if err != nil {
		return n, fmt.Errorf("no randomness: %v", err)
	}
	return n, nil
}
