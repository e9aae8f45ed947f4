package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/masscanned-go/masscanned/internal/hostports"
)

// hostPorts sets up --host-ports after the links are open and before
// privileges are dropped: it checks that the host loses none of the
// ports it serves, installs the nftables table (the kernel drops what
// masscanned answers on the shared address) and puts the filter in front
// of each link (masscanned leaves the host's frames alone). The returned
// close removes the table; the kernel removes it too if the process dies.
func (r *runner) hostPorts(mac [6]byte) (closeFn func(), err error) {
	o := r.o
	if o.HostPorts == "" {
		return func() {}, nil
	}
	ifi, err := net.InterfaceByName(o.Iface)
	if err != nil {
		return nil, fmt.Errorf("--host-ports: %v", err)
	}
	if len(ifi.HardwareAddr) != 6 || [6]byte(ifi.HardwareAddr) != mac {
		return nil, fmt.Errorf("--host-ports: masscanned must answer with %s's own MAC %s (the kernel answers ARP and ND for the shared address with it): drop -m", o.Iface, ifi.HardwareAddr)
	}
	ifAddrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("--host-ports: addresses of %s: %v", o.Iface, err)
	}
	var shared, all []netip.Addr
	for _, a := range ifAddrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		all = append(all, ip)
		if o.Self.Contains(ip) {
			shared = append(shared, ip)
		}
	}
	if len(shared) == 0 {
		return nil, fmt.Errorf("--host-ports: none of the self IPs is an address of %s (it has %v): name the host's address in --self-ip-list", o.Iface, all)
	}
	lo, hi, err := hostports.EphemeralRange()
	if err != nil {
		return nil, fmt.Errorf("--host-ports: %v", err)
	}
	socks, err := hostports.HostSockets()
	if err != nil {
		return nil, err
	}
	sp := o.HostPortsSpec
	if err := hostports.CheckSockets(socks, shared, sp, lo, hi); err != nil {
		return nil, err
	}
	fw, err := hostports.Install(hostports.Rules{Iface: o.Iface, Ifindex: ifi.Index, Shared: shared, Spec: sp})
	if err != nil {
		return nil, err
	}
	if fw.Stale {
		r.log.Warn("removed a stale nftables table left by a masscanned that was killed", "table", "inet "+hostports.TableName(o.Iface))
	}
	if !fw.Owned {
		r.log.Warn("this kernel has no process-owned nftables tables (Linux < 5.12): if masscanned is killed, its table stays until the next start", "table", "inet "+hostports.TableName(o.Iface))
	}
	f := hostports.NewFilter(shared, sp, lo, hi)
	r.hostLinks = r.hostLinks[:0]
	for i, l := range r.links {
		hl := hostports.NewLink(l, f)
		r.hostLinks = append(r.hostLinks, hl)
		r.links[i] = hl
	}
	r.fw = fw
	r.log.Info("sharing the host's address", "iface", o.Iface, "shared", shared, "host_ports", sp.String(),
		"host_ephemeral", fmt.Sprintf("%d-%d", lo, hi), "table", "inet "+hostports.TableName(o.Iface), "owned", fw.Owned)
	return func() {
		if err := fw.Close(); err != nil {
			r.log.Error("removing the nftables table", "err", err)
		}
	}, nil
}

// hostPortsReport adds the frames left to the host to report's arguments.
func (r *runner) hostPortsReport(args []any) []any {
	if len(r.hostLinks) == 0 {
		return args
	}
	var n uint64
	for _, l := range r.hostLinks {
		n += l.HostFrames()
	}
	return append(args, "host_frames", n)
}
