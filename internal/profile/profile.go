// Package profile loads host profiles from a TOML file (--profile FILE):
// per group of addresses, the personality to answer with, which TCP ports
// are open and which UDP ports are answered, which service each port
// speaks and the banners those services show.
//
// A file is a list of [[host]] tables. An address is matched against the
// hosts in file order and the first match wins; an address no host lists
// keeps the default behaviour (Lookup returns nil):
//
//	[[host]]
//	name        = "web1"                  # optional, for logs
//	addresses   = ["192.0.2.1", "2001:db8::1", "198.51.100.0/24"]
//	personality = "linux"                 # linux | windows | masscanned
//	tcp = [22, 80, 443, "8000-8100"]      # or "all" (the default); [] = none
//	udp = [53, 123]                       # same syntax; default "all"
//	[host.services]                       # port -> service, over WellKnown
//	2222 = "ssh"
//	[host.banners]                        # keys: KnownBanners
//	ssh = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
//
// Every error names the file and the line of the offending key or value:
// "web.toml:7: host 1: tcp: port 70000 out of range 1-65535".
package profile

import (
	"math/bits"
	"net/netip"
	"os"
	"slices"
)

// Personalities are the accepted personality names.
var Personalities = []string{"linux", "windows", "masscanned"}

// DefaultPersonality is the personality of a host that names none.
const DefaultPersonality = "linux"

// WellKnown maps a port to the service it speaks when the profile does not
// say otherwise. It is shared: do not modify it.
var WellKnown = map[uint16]string{
	21:    "ftp",
	22:    "ssh",
	23:    "telnet",
	25:    "smtp",
	53:    "dns",
	80:    "http",
	110:   "pop3",
	111:   "rpc",
	123:   "ntp",
	135:   "msrpc",
	139:   "netbios-ssn",
	143:   "imap",
	161:   "snmp",
	389:   "ldap",
	443:   "https",
	445:   "smb",
	465:   "smtps",
	502:   "modbus",
	554:   "rtsp",
	587:   "submission",
	993:   "imaps",
	995:   "pop3s",
	1433:  "mssql",
	1883:  "mqtt",
	2375:  "docker",
	3306:  "mysql",
	3389:  "rdp",
	3478:  "stun",
	5060:  "sip",
	5432:  "postgresql",
	5555:  "adb",
	5900:  "vnc",
	6379:  "redis",
	8080:  "http",
	8443:  "https",
	9200:  "elasticsearch",
	11211: "memcached",
	27017: "mongodb",
}

// KnownServices is every service name accepted in [host.services], sorted:
// the values of WellKnown.
var KnownServices = knownServices()

func knownServices() []string {
	var s []string
	for _, v := range WellKnown {
		if !slices.Contains(s, v) {
			s = append(s, v)
		}
	}
	slices.Sort(s)
	return s
}

// KnownBanners are the keys accepted in [host.banners], sorted.
var KnownBanners = []string{"adb", "docker", "ftp", "hostname", "http_server", "imap", "modbus", "mqtt", "mqtt_auth", "mssql", "mysql", "pop3", "redis", "redis_auth", "sip", "smtp", "ssh", "telnet", "uname", "vnc"}

// MaxBanner is the longest banner value accepted, in bytes.
const MaxBanner = 255

// portSet is a bitmap of the ports 0..65535 (port 0 is never set).
type portSet [1024]uint64

func (s *portSet) add(lo, hi uint16) {
	for p := uint32(lo); p <= uint32(hi); p++ {
		s[p>>6] |= 1 << (p & 63)
	}
}

func (s *portSet) has(p uint16) bool { return s[p>>6]&(1<<(p&63)) != 0 }

func (s *portSet) count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// Host is one [[host]] table of a profile.
type Host struct {
	// Name is the optional name of the host, for logs ("" if none).
	Name string
	// Line is the line of this host's [[host]] header in the file.
	Line int
	// Prefixes are the host's addresses; a single address is a /32 or
	// /128. They are masked, and IPv4-mapped IPv6 ones are given as IPv4.
	Prefixes []netip.Prefix
	// Personality is the validated personality name, in lower case.
	Personality string
	// Services are the file's port -> service overrides only (see
	// Service for the effective mapping). Nil when there are none.
	Services map[uint16]string
	// Banners are the values the services show, by KnownBanners key. Nil
	// when there are none.
	Banners map[string]string

	tcp, udp       portSet
	tcpAll, udpAll bool
}

// TCPOpen reports whether TCP port is open on the host. Port 0 never is.
// A nil Host is the default: every port is open.
func (h *Host) TCPOpen(port uint16) bool {
	if h == nil || h.tcpAll {
		return port != 0
	}
	return h.tcp.has(port)
}

// UDPOpen reports whether UDP port is answered on the host. Port 0 never
// is. A nil Host is the default: every port is answered.
func (h *Host) UDPOpen(port uint16) bool {
	if h == nil || h.udpAll {
		return port != 0
	}
	return h.udp.has(port)
}

// Service is the service the host speaks on port: the file's mapping,
// else WellKnown's, else "".
func (h *Host) Service(port uint16) string {
	if h != nil {
		if s, ok := h.Services[port]; ok {
			return s
		}
	}
	return WellKnown[port]
}

// Banner returns the host's banner for key, or "".
func (h *Host) Banner(key string) string {
	if h == nil {
		return ""
	}
	return h.Banners[key]
}

// OpenTCPPorts is the number of open TCP ports (65535 when all of 1-65535
// are).
func (h *Host) OpenTCPPorts() int {
	if h == nil || h.tcpAll {
		return 65535
	}
	return h.tcp.count()
}

// OpenUDPPorts is the number of answered UDP ports (65535 when all of
// 1-65535 are).
func (h *Host) OpenUDPPorts() int {
	if h == nil || h.udpAll {
		return 65535
	}
	return h.udp.count()
}

// Profile is a loaded profile file.
type Profile struct {
	// Path is the file name the profile was loaded from.
	Path string
	// Hosts are the hosts in file order.
	Hosts []*Host
}

// Lookup returns the first host whose prefixes contain a (an IPv4-mapped
// IPv6 address is looked up as IPv4), or nil if none does or p is nil. It
// does not allocate.
func (p *Profile) Lookup(a netip.Addr) *Host {
	if p == nil {
		return nil
	}
	a = a.Unmap()
	for _, h := range p.Hosts {
		for _, pf := range h.Prefixes {
			if pf.Contains(a) {
				return h
			}
		}
	}
	return nil
}

// Load reads and parses the profile file at path. An unreadable file gives
// the OS error; any other error is "path:line: problem".
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}
