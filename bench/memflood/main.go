// Command memflood completes TCP handshakes with masscanned as fast as it
// can from random 4-tuples (valid SYN cookies: it answers each SYN-ACK)
// and leaves a partial HTTP request on each connection, so that every
// connection holds state in masscanned's table. It runs in a lab's client
// namespace (bench/memflood.sh) on a raw AF_PACKET socket; the client
// kernel must drop incoming TCP.
//
// usage: memflood -i IFACE -dst-mac MAC -dst IP -duration 60s -pps 20000
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/wire"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// frame builds eth+IPv4+TCP with checksums.
func frame(b []byte, dmac, smac net.HardwareAddr, src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags byte, payload []byte) []byte {
	n := 14 + 20 + 20 + len(payload)
	b = b[:n]
	clear(b)
	copy(b, dmac)
	copy(b[6:], smac)
	b[12], b[13] = 8, 0
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	ip[6], ip[8], ip[9] = 0x40, 64, 6
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[10:], wire.Fold(wire.Sum(0, ip)))
	t := b[34:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12], t[13] = 5<<4, flags
	binary.BigEndian.PutUint16(t[14:], 64240)
	copy(t[20:], payload)
	ph := wire.Sum(wire.Sum(0, src[:]), dst[:]) + 6 + uint32(len(t))
	binary.BigEndian.PutUint16(t[16:], wire.Fold(wire.Sum(ph, t)))
	return b
}

func main() {
	iface := flag.String("i", "", "interface")
	dmacS := flag.String("dst-mac", "", "masscanned's MAC")
	dstS := flag.String("dst", "198.51.100.2", "masscanned's address")
	srcNet := flag.String("src-net", "203.0.113.0", "random sources in this /24")
	dur := flag.Duration("duration", 60*time.Second, "how long to run")
	pps := flag.Int("pps", 20000, "SYNs per second")
	pad := flag.Int("pad", 1000, "bytes of X-Pad header per connection")
	flag.Parse()
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dmac, _ := net.ParseMAC(*dmacS)
	dst := netip.MustParseAddr(*dstS).As4()
	snet := netip.MustParseAddr(*srcNet).As4()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_IP)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	req := []byte("GET / HTTP/1.1\r\nHost: 198.51.100.2\r\nX-Pad: ")
	for i := 0; i < *pad; i++ {
		req = append(req, 'a'+byte(i%26))
	}
	end := time.Now().Add(*dur)
	var syns, acks uint64
	go func() { // SYN sender
		b := make([]byte, 2048)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		per := max(*pps/1000, 1)
		for time.Now().Before(end) {
			<-tick.C
			for i := 0; i < per; i++ {
				src := snet
				src[3] = byte(1 + rng.IntN(254))
				f := frame(b, dmac, ifi.HardwareAddr, src, dst, uint16(1024+rng.IntN(64000)), 80, rng.Uint32(), 0, 0x02, nil)
				if unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index}) == nil {
					syns++
				}
			}
		}
	}()
	rb := make([]byte, 2048)
	wb := make([]byte, 4096)
	start := time.Now()
	last := start
	for time.Now().Before(end.Add(500 * time.Millisecond)) {
		n, _, err := unix.Recvfrom(fd, rb, 0)
		if now := time.Now(); now.Sub(last) >= 5*time.Second {
			last = now
			fmt.Fprintf(os.Stderr, "memflood: %3.0fs syns=%d conns=%d\n", now.Sub(start).Seconds(), syns, acks)
		}
		if err != nil || n < 54 || rb[23] != 6 || rb[47]&0x12 != 0x12 {
			continue
		}
		t := rb[34:]
		sport, dport := binary.BigEndian.Uint16(t[0:]), binary.BigEndian.Uint16(t[2:])
		seq, ack := binary.BigEndian.Uint32(t[4:]), binary.BigEndian.Uint32(t[8:])
		var src, d [4]byte
		copy(src[:], rb[26:30])
		copy(d[:], rb[30:34])
		// ACK + partial request in one segment: valid cookie, state created
		f := frame(wb, dmac, ifi.HardwareAddr, d, src, dport, sport, ack, seq+1, 0x18, req)
		if unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index}) == nil {
			acks++
		}
	}
	fmt.Printf("memflood: %d SYNs, %d connections with a partial request in %v\n", syns, acks, *dur)
}
