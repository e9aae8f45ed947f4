package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/config"
	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/link/afpacket"
	"github.com/masscanned-go/masscanned/internal/link/pcapfile"
	"github.com/masscanned-go/masscanned/internal/priv"
	"github.com/masscanned-go/masscanned/internal/stack"
)

type runner struct {
	o      *config.Options
	reg    *app.Registry
	budget *budget
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
}

// openLink opens the frame source and returns it with the MAC to use.
func (r *runner) openLink() (link.Link, [6]byte, error) {
	o := r.o
	mac := config.DefaultMAC
	if o.ReadPcap != "" {
		rd, err := pcapfile.OpenReader(o.ReadPcap)
		if err != nil {
			return nil, mac, err
		}
		var w *pcapfile.Writer
		if o.WritePcap != "" {
			if w, err = pcapfile.Create(o.WritePcap); err != nil {
				return nil, mac, err
			}
		}
		if o.HasMAC {
			mac = o.MACAddr
		}
		return pcapfile.NewOffline(rd, w), mac, nil
	}
	if err := afpacket.CheckInterface(o.Iface); err != nil {
		return nil, mac, err
	}
	hw, err := afpacket.HardwareAddr(o.Iface)
	switch {
	case o.HasMAC:
		mac = o.MACAddr
	case err == nil && len(hw) == 6:
		mac = [6]byte(hw)
	}
	promisc := o.Promisc || (len(hw) == 6 && [6]byte(hw) != mac)
	l, err := afpacket.Open(o.Iface, afpacket.Options{BlockCount: o.RingMB, Promisc: promisc})
	if err != nil {
		return nil, mac, err
	}
	if o.WritePcap != "" {
		w, err := pcapfile.Create(o.WritePcap)
		if err != nil {
			l.Close()
			return nil, mac, err
		}
		return pcapfile.NewTee(l, w, o.WritePcap), mac, nil
	}
	return l, mac, nil
}

func (r *runner) run(ctx context.Context) error {
	o := r.o
	l, mac, err := r.openLink()
	if err != nil {
		return err
	}
	defer l.Close()
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
	r.log.Info("configuration", "source", src, "mac", net.HardwareAddr(mac[:]).String(), "personality", o.Persona.Name)
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

	table := app.NewTable(r.reg, app.TableConfig{MaxConns: o.MaxConns, MaxBytes: o.MaxConnBytes, MaxBuffer: o.MaxBuffer})
	cfg := stack.Config{
		MAC:         mac,
		Self:        o.Self,
		Deny:        o.Deny,
		Personality: o.Persona,
		CookieKey:   o.CookieKey,
		Apps:        r.reg,
		Table:       table,
		UDPMaxRatio: o.UDPMaxRatio,
	}
	if r.budget != nil {
		cfg.Budget = r.budget
	}
	if _, err := randRead(cfg.Seed[:]); err != nil {
		return err
	}
	st, err := stack.New(cfg)
	if err != nil {
		return err
	}

	var sink *event.Async
	if !o.Quiet {
		s, err := formatSink(o.Format, r.stdout)
		if err != nil {
			return err
		}
		sink = event.NewAsync(s, o.EventQueue)
	}

	// Stop: drain the link (frames already received are still handled),
	// which ends the loop; the deferred Close releases it.
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			link.Drain(l)
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
				r.reload(st)
				if pt, ok := l.(*pcapfile.Tee); ok {
					if err := pt.Reopen(); err != nil {
						r.log.Error("reopening --write-pcap failed, keeping the previous file", "err", err)
					} else {
						r.log.Warn("reopened --write-pcap", "path", pt.Path())
					}
				}
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
					r.report(l, sink, table, "progress", slog.LevelInfo)
				case <-stopped:
					return
				}
			}
		}()
	}
	var (
		fr link.Frame
		tx stack.Tx
		ev event.Event
	)
	var loopErr error
	for {
		if err := l.Recv(&fr); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, link.ErrClosed) {
				loopErr = err
			}
			break
		}
		ev.Reset()
		tx.Reset()
		st.Handle(fr.Data, stack.Meta{Time: fr.Time, ChecksumNotReady: fr.ChecksumNotReady}, &tx, &ev)
		for i := 0; i < tx.Len(); i++ {
			if err := l.Send(tx.Frame(i)); err != nil {
				r.log.Debug("send failed", "err", err)
			}
		}
		if sink != nil {
			sink.Emit(&ev)
		}
	}
	close(stopped)
	var sinkErr error
	if sink != nil {
		sinkErr = sink.Close()
	}
	r.report(l, sink, table, "stopped", slog.LevelWarn)
	if loopErr != nil {
		return fmt.Errorf("reading frames: %v", loopErr)
	}
	if sinkErr != nil {
		return fmt.Errorf("writing events: %v", sinkErr)
	}
	return nil
}

// report logs counters; dropped events are a warning.
func (r *runner) report(l link.Link, sink *event.Async, table *app.Table, msg string, level slog.Level) {
	ls := l.Stats()
	ts := table.Stats()
	args := []any{"frames", ls.Received, "sent", ls.Sent, "send_errors", ls.SendErrors, "kernel_drops", ls.KernelDrops,
		"tcp_conns", ts.Conns, "tcp_evicted", ts.Evicted}
	if r.budget != nil {
		s := r.budget.l.Stats()
		args = append(args, "suppressed_synack", s.SYNACK.Suppressed, "suppressed_icmp", s.ICMP.Suppressed, "suppressed_udp", s.UDPBytes.Suppressed)
	}
	if sink != nil {
		args = append(args, "events_written", sink.Written(), "events_dropped", sink.Dropped())
		if sink.Dropped() > 0 {
			level = max(level, slog.LevelWarn)
		}
	}
	r.log.Log(context.Background(), level, msg, args...)
}

// reload re-reads the self and deny lists; on any error the old lists stay.
func (r *runner) reload(st *stack.Stack) {
	o := r.o
	self, err := addrset.Parse(o.SelfIPFile, o.SelfIPList)
	if err != nil {
		r.log.Error("reload failed, keeping the previous lists", "err", err)
		return
	}
	deny, err := addrset.Parse(o.DenyFile, o.DenyList)
	if err != nil {
		r.log.Error("reload failed, keeping the previous lists", "err", err)
		return
	}
	st.SetLists(self, deny)
	r.log.Warn("reloaded address lists", "self", self.Len(), "deny", deny.Len())
}

// randRead fills b from the system's random source.
func randRead(b []byte) (int, error) {
	n, err := rand.Read(b)
	if err != nil {
		return n, fmt.Errorf("no randomness: %v", err)
	}
	return n, nil
}
