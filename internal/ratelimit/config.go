package ratelimit

import (
	"errors"
	"fmt"
	"math"
)

// Rate is one token bucket: PerSecond units are added every second, up to
// Burst units. A unit is a packet for ICMP and SYNACK and a byte for
// UDPBytes.
//
// PerSecond == 0 disables the bucket (it allows everything). Burst == 0
// means "one second's worth" (Burst = PerSecond). A single reply larger
// than Burst is never allowed, so for UDPBytes Burst must be at least the
// largest reply the stack can send.
type Rate struct {
	PerSecond float64
	Burst     float64
}

// Limits holds the buckets of one reply class. Every reply is charged to
// the bucket of its source host, of its source network and to the global
// bucket; it is sent only if all of them have enough tokens.
type Limits struct {
	PerIPv4Host Rate // per IPv4 /32 (IPv4-mapped IPv6 counts as IPv4)
	PerIPv4Net  Rate // per IPv4 /24
	PerIPv6Host Rate // per IPv6 /64 (what one host or subscriber usually holds)
	PerIPv6Net  Rate // per IPv6 /48 (what one site usually holds)
	Global      Rate // all sources together
}

// Config configures a Limiter. Each field is meant to become a CLI flag.
type Config struct {
	SYNACK   Limits // SYN-ACK replies, counted in packets
	ICMP     Limits // ICMP/ICMPv6 replies (echo replies, errors), in packets
	UDPBytes Limits // UDP reply payload+headers, counted in bytes

	// TableSize is the number of entries of each of the four prefix tables
	// (IPv4 /32, IPv4 /24, IPv6 /64, IPv6 /48). It is rounded up to a power
	// of two (minimum 64); 0 means the default. One entry is 40 bytes, so the
	// memory used is 4 * TableSize * 40 bytes, allocated once by New
	// (10 MiB for the default). Each entry holds the buckets of all three classes.
	//
	// When a table is full, the least recently used entry of the set the
	// new prefix hashes to is evicted. An evicted prefix comes back with
	// full buckets: a source can therefore get up to one extra burst each
	// time it is evicted. With a keyed hash (a random seed per Limiter)
	// and 8-way sets, an attacker cannot aim evictions at one victim; it
	// only gets them by churning the whole table, and the per-/24 (/48)
	// and global buckets still hold.
	TableSize int
}

// DefaultConfig returns the defaults. They are chosen so that what
// researchers want answered is answered in full and what a spoofed flood
// toward one victim produces is cut to a small, fixed budget:
//
// SYN-ACK, per /32 and /64: 20,000/s, burst 40,000. A vertical scan of one
// address at 10,000 packets/s from one source (nmap -T5, masscan --rate
// 10000) gets a SYN-ACK for every SYN, with 2x headroom. A spoofed SYN
// flood reflects at most 20k packets/s (~1.2 MB/s of 60-byte SYN-ACKs,
// no amplification: the SYN is as large) toward one victim.
// Per /24 and /48: 50,000/s, burst 100,000, so a scanning cluster sharing
// a /24 (research scanners usually do) can run a few such scans at once,
// while a flood spoofing a whole victim network is still capped.
// Global: 500,000/s, burst 1,000,000, above what one box answers in
// practice, a backstop for a flood spread across many victims.
//
// ICMP, per /32 and /64: 1,000/s, burst 2,000; per /24 and /48: 5,000/s,
// burst 10,000; global: 20,000/s, burst 40,000. ping, ping -f (flood ping
// sends 100/s, or one per reply: a few thousand/s on a LAN, which is cut
// to 1,000/s after the first 2,000) and ICMP sweeps (one echo per address)
// are answered; an echo flood spoofing one victim reflects at most
// 1,000 replies/s.
//
// UDP bytes, per /32 and /64: 64 KiB/s, burst 256 KiB; per /24 and /48:
// 256 KiB/s, burst 1 MiB; global: 4 MiB/s, burst 8 MiB. An ordinary
// client gets a few hundred to a couple of thousand replies (DNS, STUN,
// SSDP... are 50-500 bytes) before the sustained rate applies, and a UDP
// scan of one address (tens of replies/s) stays far below 64 KiB/s. A
// victim whose address is spoofed receives at most ~0.5 Mbit/s from
// masscanned (~2 Mbit/s for a whole /24), whatever the request rate, and
// since no reply is larger than --udp-max-ratio times its request, the
// amplification factor is bounded too.
//
// TableSize: 65,536 entries per table (10 MiB in all). Floods from random
// spoofed sources churn the table but a victim being flooded is touched on
// every packet and stays resident.
func DefaultConfig() Config {
	const kib = 1024
	return Config{
		SYNACK: Limits{
			PerIPv4Host: Rate{20000, 40000},
			PerIPv4Net:  Rate{50000, 100000},
			PerIPv6Host: Rate{20000, 40000},
			PerIPv6Net:  Rate{50000, 100000},
			Global:      Rate{500000, 1000000},
		},
		ICMP: Limits{
			PerIPv4Host: Rate{1000, 2000},
			PerIPv4Net:  Rate{5000, 10000},
			PerIPv6Host: Rate{1000, 2000},
			PerIPv6Net:  Rate{5000, 10000},
			Global:      Rate{20000, 40000},
		},
		UDPBytes: Limits{
			PerIPv4Host: Rate{64 * kib, 256 * kib},
			PerIPv4Net:  Rate{256 * kib, 1024 * kib},
			PerIPv6Host: Rate{64 * kib, 256 * kib},
			PerIPv6Net:  Rate{256 * kib, 1024 * kib},
			Global:      Rate{4096 * kib, 8192 * kib},
		},
		TableSize: 1 << 16,
	}
}

// Limits returns the limits of class c.
func (c *Config) Limits(class Class) *Limits {
	switch class {
	case UDPBytes:
		return &c.UDPBytes
	case ICMP:
		return &c.ICMP
	case SYNACK:
		return &c.SYNACK
	}
	return nil
}

// Validate reports the first invalid field, as one line.
func (c *Config) Validate() error {
	for class := Class(0); class < numClasses; class++ {
		l := c.Limits(class)
		for i, r := range [...]Rate{l.PerIPv4Host, l.PerIPv4Net, l.PerIPv6Host, l.PerIPv6Net, l.Global} {
			name := [...]string{"per-IPv4-/32", "per-IPv4-/24", "per-IPv6-/64", "per-IPv6-/48", "global"}[i]
			if r.PerSecond < 0 || math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0) {
				return fmt.Errorf("rate limit %s %s: rate %v must be >= 0", class, name, r.PerSecond)
			}
			if r.Burst < 0 || math.IsNaN(r.Burst) || math.IsInf(r.Burst, 0) {
				return fmt.Errorf("rate limit %s %s: burst %v must be >= 0", class, name, r.Burst)
			}
			if r.PerSecond > 0 && r.PerSecond < 1e-6 {
				return fmt.Errorf("rate limit %s %s: rate %v is too small", class, name, r.PerSecond)
			}
		}
	}
	if c.TableSize < 0 {
		return errors.New("rate limit table size must be >= 0")
	}
	if c.TableSize > 1<<26 {
		return fmt.Errorf("rate limit table size %d is too large (max %d)", c.TableSize, 1<<26)
	}
	return nil
}
