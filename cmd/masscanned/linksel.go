package main

import (
	"fmt"
	"net"
	"os"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/link/afpacket"
	"github.com/masscanned-go/masscanned/internal/link/afxdp"
)

// openLive opens n workers' links on the interface as --link says: afxdp,
// afpacket, or auto (AF_XDP where the kernel and the driver allow it, else
// AF_PACKET). It logs which one runs, and for auto why AF_XDP did not.
// With AF_XDP there is one socket per receive queue and at most one
// worker per queue; everything is opened here, before privileges are
// dropped.
//
// auto keeps AF_PACKET when --workers asks for more workers than the
// interface has receive queues (AF_PACKET fanout gives them), and when
// the MTU is larger than an AF_XDP frame.
func (r *runner) openLive(opts afpacket.Options, n int, mac [6]byte, hw net.HardwareAddr) ([]link.Link, error) {
	o := r.o
	xo := afxdp.Options{Workers: n, Self: o.Self, Promisc: opts.Promisc, RingMB: o.RingMB}
	if len(hw) == 6 && [6]byte(hw) != mac {
		xo.OwnMAC = &mac // -m: every frame to that MAC is ours
	}
	if o.Link == "auto" && o.HostPorts != "" {
		r.log.Info("AF_XDP not used: --host-ports shares the host's address, whose own ports the XDP program would take")
	} else if q := afxdp.RxQueues(o.Iface); o.Link == "auto" && o.Workers > q {
		r.log.Warn("AF_XDP not used: more workers asked than receive queues, using AF_PACKET fanout", "workers", o.Workers, "queues", q)
	} else if o.Link == "afxdp" || o.Link == "auto" {
		x, err := afxdp.Open(o.Iface, xo)
		if err == nil {
			r.xdp = x
			r.log.Info("link", "type", "afxdp", "detail", x.Describe())
			if len(x.Links()) < n {
				r.log.Info("fewer workers than asked: one per receive queue at most", "workers", len(x.Links()), "queues", x.Queues())
			}
			ls := make([]link.Link, 0, len(x.Links()))
			for _, l := range x.Links() {
				ls = append(ls, l)
			}
			return ls, nil
		}
		if o.Link == "afxdp" {
			return nil, err
		}
		r.log.Warn("AF_XDP unavailable, using AF_PACKET", "reason", err)
	}
	if n > 1 {
		opts.FanoutGroup = uint16(os.Getpid())
		if opts.FanoutGroup == 0 {
			opts.FanoutGroup = 1
		}
	}
	var ls []link.Link
	for range n {
		l, err := afpacket.Open(o.Iface, opts)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	fanout := "none"
	if n > 1 {
		fanout = "PACKET_FANOUT_HASH"
	}
	r.log.Info("link", "type", "afpacket", "detail", fmt.Sprintf("AF_PACKET TPACKET_V3 on %s (%d MiB ring per worker, fanout %s, %d worker(s))",
		o.Iface, opts.BlockCount, fanout, n))
	return ls, nil
}

// reloadLink gives the XDP program the reloaded self list (SIGHUP).
func (r *runner) reloadLink(self *addrset.Set) {
	if r.xdp == nil {
		return
	}
	if err := r.xdp.SetSelf(self); err != nil {
		r.log.Error("reload of the XDP address map failed, keeping the previous one", "err", err)
	}
}
