// Package hostports lets masscanned share the host's own address: the
// host's kernel keeps a few listed ports (and the replies to its own
// connections), masscanned answers everything else on that address.
//
// Three parts do it:
//
//   - Spec: the --host-ports list (tcp:22,tcp:443,udp:53).
//   - Filter and Link: in front of the stack, the frames that are the
//     host's (its listed ports, its ephemeral ports where the replies to
//     its own connections arrive, ARP and neighbour solicitations for its
//     address) never reach masscanned, which would otherwise answer them
//     too. masscanned's packet socket sees every frame before netfilter,
//     so this filter is its half of the split.
//   - Firewall: an nftables table (through netlink, owned by the process:
//     the kernel deletes it when masscanned exits, even on SIGKILL) that
//     drops in the kernel's input path everything for the shared address
//     but the listed ports, the established and related flows and
//     neighbour discovery, so that the kernel does not answer (with RSTs,
//     port unreachables, echo replies) what masscanned answers. This is
//     the kernel's half.
package hostports

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Spec is the --host-ports list: the ports the host's kernel keeps.
type Spec struct {
	TCP, UDP []uint16 // sorted, without duplicates
}

// ParseSpec parses "tcp:22,tcp:443,udp:53" (also "tcp:22,443": a port
// without a protocol takes the previous one's; ranges "tcp:8000-8010").
func ParseSpec(s string) (Spec, error) {
	var sp Spec
	proto := ""
	if strings.TrimSpace(s) == "" {
		return sp, fmt.Errorf("--host-ports: empty list (want e.g. tcp:22,udp:53)")
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		ports := item
		if p, rest, ok := strings.Cut(item, ":"); ok {
			proto, ports = strings.ToLower(p), rest
		}
		if proto != "tcp" && proto != "udp" {
			return sp, fmt.Errorf("--host-ports: %q: want tcp:PORT or udp:PORT", item)
		}
		lo, hi, err := portRange(ports)
		if err != nil {
			return sp, fmt.Errorf("--host-ports: %q: %v", item, err)
		}
		for p := int(lo); p <= int(hi); p++ {
			if proto == "tcp" {
				sp.TCP = append(sp.TCP, uint16(p))
			} else {
				sp.UDP = append(sp.UDP, uint16(p))
			}
		}
	}
	slices.Sort(sp.TCP)
	slices.Sort(sp.UDP)
	sp.TCP = slices.Compact(sp.TCP)
	sp.UDP = slices.Compact(sp.UDP)
	return sp, nil
}

func portRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = port(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = port(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %s: the first port is larger than the last", s)
		}
	}
	return lo, hi, nil
}

func port(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q (want 1 to 65535)", s)
	}
	return uint16(n), nil
}

// String writes the spec back in the flag's syntax.
func (sp Spec) String() string {
	var b strings.Builder
	for _, p := range sp.TCP {
		fmt.Fprintf(&b, ",tcp:%d", p)
	}
	for _, p := range sp.UDP {
		fmt.Fprintf(&b, ",udp:%d", p)
	}
	return strings.TrimPrefix(b.String(), ",")
}
