package hostports

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Socket is a host socket that serves a port: a listening TCP socket or
// an unconnected UDP socket.
type Socket struct {
	Proto uint8 // 6 or 17
	Addr  netip.Addr
	Port  uint16
}

func (s Socket) String() string {
	p := "tcp"
	if s.Proto == 17 {
		p = "udp"
	}
	return fmt.Sprintf("%s:%d (%s)", p, s.Port, s.Addr)
}

// covers reports whether a socket bound to s.Addr receives for a.
func (s Socket) covers(a netip.Addr) bool {
	return s.Addr.IsUnspecified() || s.Addr.Unmap() == a.Unmap()
}

// ParseProcNet reads /proc/net/{tcp,tcp6,udp,udp6} text: the listening
// TCP sockets (state 0A) or the unconnected UDP sockets (remote address
// zero).
func ParseProcNet(r io.Reader, proto uint8) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		local, remote, st := f[1], f[2], f[3]
		if proto == 6 && st != "0A" {
			continue
		}
		la, lp, err := procAddr(local)
		if err != nil {
			return nil, err
		}
		if proto == 17 {
			ra, rp, err := procAddr(remote)
			if err != nil {
				return nil, err
			}
			if !ra.IsUnspecified() || rp != 0 {
				continue // connected: a client socket
			}
		}
		out = append(out, Socket{Proto: proto, Addr: la, Port: lp})
	}
	return out, sc.Err()
}

// procAddr decodes "0100007F:0016": the address as 32-bit words printed
// in the machine's byte order, the port in hex.
func procAddr(s string) (netip.Addr, uint16, error) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil || (len(h) != 8 && len(h) != 32) {
		return netip.Addr{}, 0, fmt.Errorf("bad socket address %q", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("bad socket address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(b[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), uint16(port), nil
}

// HostSockets reads the sockets that serve ports in this process's
// network namespace.
func HostSockets() ([]Socket, error) {
	var all []Socket
	for _, f := range []struct {
		name  string
		proto uint8
	}{{"tcp", 6}, {"tcp6", 6}, {"udp", 17}, {"udp6", 17}} {
		fh, err := os.Open("/proc/self/net/" + f.name)
		if err != nil {
			if os.IsNotExist(err) && strings.HasSuffix(f.name, "6") {
				continue // no IPv6
			}
			return nil, fmt.Errorf("--host-ports: reading the host's sockets: %v", err)
		}
		s, err := ParseProcNet(fh, f.proto)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("--host-ports: /proc/self/net/%s: %v", f.name, err)
		}
		all = append(all, s...)
	}
	return all, nil
}

// CheckSockets refuses a split in which the host would lose a port: a
// port the host serves on a shared address (or on every address) that is
// not listed would be masscanned's; a listed port nothing serves on any
// shared address is kept for nothing, most likely a mistake (tcp:22 for
// an sshd on 2222, whose port masscanned would then answer). UDP sockets
// on the ephemeral range [ephLo, ephHi] are the host's clients, whose
// replies the kernel keeps.
func CheckSockets(socks []Socket, shared []netip.Addr, sp Spec, ephLo, ephHi uint16) error {
	served := map[[2]uint16]bool{}
	var lost []string
	for _, s := range socks {
		if !slices.ContainsFunc(shared, s.covers) {
			continue
		}
		if s.Proto == 17 && ephLo != 0 && s.Port >= ephLo && s.Port <= ephHi {
			continue
		}
		k := [2]uint16{uint16(s.Proto), s.Port}
		if served[k] {
			continue
		}
		served[k] = true
		listed := sp.TCP
		if s.Proto == 17 {
			listed = sp.UDP
		}
		if !slices.Contains(listed, s.Port) {
			lost = append(lost, s.String())
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("--host-ports: the host serves %s on its shared address but the list leaves it to masscanned: list it to keep it, or stop that service", strings.Join(lost, ", "))
	}
	var missing []string
	for _, p := range sp.TCP {
		if !served[[2]uint16{6, p}] {
			missing = append(missing, "tcp:"+strconv.Itoa(int(p)))
		}
	}
	for _, p := range sp.UDP {
		if !served[[2]uint16{17, p}] {
			missing = append(missing, "udp:"+strconv.Itoa(int(p)))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--host-ports: nothing on the host serves %s on %s: start the service first, or fix the list", strings.Join(missing, ", "), addrList(shared))
	}
	return nil
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
