// Package config turns the command line into a validated configuration.
// Every problem is reported as one error line; nothing here exits.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/masscanned-go/masscanned/internal/addrset"
	"github.com/masscanned-go/masscanned/internal/capture"
	"github.com/masscanned-go/masscanned/internal/fleet"
	"github.com/masscanned-go/masscanned/internal/hostports"
	"github.com/masscanned-go/masscanned/internal/metrics"
	"github.com/masscanned-go/masscanned/internal/personality"
	"github.com/masscanned-go/masscanned/internal/profile"
)

// Version is the program version.
const Version = "0.3.0-go"

// DefaultMAC is used when neither -m nor the interface gives one.
var DefaultMAC = [6]byte{0xc0, 0xff, 0xee, 0xc0, 0xff, 0xee}

// Options is the parsed command line.
type Options struct {
	Iface          string
	MAC            string
	SelfIPFile     string
	SelfIPList     string
	DenyFile       string
	DenyList       string
	Verbose        int
	Quiet          bool
	Format         string
	Personality    string
	ReadPcap       string
	WritePcap      string
	CookieKeyFile  string
	ListProtocols  bool
	EnableProto    []string
	DisableProto   []string
	UDPMaxRatio    int
	NoRateLimit    bool
	MaxConns       int
	MaxConnBytes   int
	MaxBuffer      int
	User           string
	EventQueue     int
	Promisc        bool
	RingMB         int
	Workers        int
	Link           string // --link: auto, afxdp or afpacket
	ProfileFile    string
	IdleTimeout    time.Duration
	GreetAfter     time.Duration
	MaxPending     int
	StateDir       string
	SSHAcceptAfter int
	// TelnetAcceptAfter: the Nth password on a Telnet connection logs in
	// to the recording shell; 0: never.
	TelnetAcceptAfter int
	// P0fDB is a p0f v3 database labelling SYN fingerprints with an OS.
	P0fDB       string
	ShowVersion bool
	ShowHelp    bool

	// Metrics is the --metrics listen address ("": off).
	Metrics string
	// IVRE is the --ivre file of passive recon records ("": off).
	IVRE string

	// HostPorts: share the host's address, the kernel keeping these
	// ports (see internal/hostports).
	HostPorts     string
	HostPortsSpec hostports.Spec

	// --capture: full-duplex pcapng (see internal/capture).
	Capture            string
	CaptureRotateSize  string
	CaptureRotateEvery time.Duration
	CaptureQueue       int
	CaptureRotateBytes int64 // CaptureRotateSize parsed

	// --nats: the fleet stream (see internal/fleet).
	NATS           string
	NATSSubject    string
	SensorID       string
	NATSCreds      string
	NATSStream     string
	NATSSpoolSize  string
	NATSSpoolBytes int64        // NATSSpoolSize parsed
	NATSCredsData  *fleet.Creds // NATSCreds read at start

	// Derived
	Self, Deny   *addrset.Set
	Persona      *personality.Personality
	Profile      *profile.Profile // nil without --profile
	CookieKey    [16]byte
	HasCookieKey bool
	MACAddr      [6]byte
	HasMAC       bool

	// RateFlags are registered by the caller (see Register).
	flags *pflag.FlagSet
}

// ErrHelp is returned when -h was given (usage already printed).
var ErrHelp = errors.New("help requested")

// NewFlagSet registers every option into a new flag set bound to o.
func NewFlagSet(o *Options, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("masscanned", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SortFlags = false
	fs.StringVarP(&o.Iface, "iface", "i", "", "network interface to receive and send raw Ethernet frames on (required unless --read-pcap)")
	fs.StringVarP(&o.MAC, "mac-addr", "m", "", "MAC address to answer with (default: the interface's, else c0:ff:ee:c0:ff:ee)")
	fs.StringVar(&o.SelfIPFile, "self-ip-file", "", "file of IP addresses/prefixes to answer for, one per line ('#' comments)")
	fs.StringVar(&o.SelfIPList, "self-ip-list", "", "comma-separated IP addresses/prefixes to answer for")
	fs.StringVar(&o.DenyFile, "remote-ip-deny-file", "", "file of remote IP addresses/prefixes to ignore")
	fs.StringVar(&o.DenyList, "remote-ip-deny-list", "", "comma-separated remote IP addresses/prefixes to ignore")
	fs.CountVarP(&o.Verbose, "verbose", "v", "more diagnostics on stderr (-v info, -vv debug, -vvv trace)")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "write no events to stdout")
	fs.StringVar(&o.Format, "format", "console", "event format on stdout: console, logfmt or json")
	fs.StringVar(&o.Personality, "personality", "linux", "reply shapes: linux, windows (Windows Server) or masscanned (upstream's wire shape)")
	fs.StringVar(&o.ReadPcap, "read-pcap", "", "read frames from a pcap/pcapng file instead of an interface (no root needed)")
	fs.StringVar(&o.WritePcap, "write-pcap", "", "write every reply frame to this pcap file")
	fs.StringVar(&o.CookieKeyFile, "cookie-key-file", "", "file holding the 128-bit SYN-cookie key as 32 hex digits (default: random per start)")
	fs.BoolVar(&o.ListProtocols, "list-protocols", false, "list application protocols and whether they are enabled, then exit")
	fs.StringSliceVar(&o.EnableProto, "enable-proto", nil, "enable application protocols (comma-separated names, or all)")
	fs.StringSliceVar(&o.DisableProto, "disable-proto", nil, "disable application protocols (comma-separated names, or all)")
	fs.IntVar(&o.UDPMaxRatio, "udp-max-ratio", 3, "largest UDP reply as a multiple of its request's payload (0: no cap)")
	fs.BoolVar(&o.NoRateLimit, "no-rate-limit", false, "lift the per-source reply budgets (lab use only)")
	fs.IntVar(&o.MaxConns, "max-conns", 65536, "most TCP connections with buffered state (oldest evicted)")
	fs.IntVar(&o.MaxConnBytes, "max-conn-bytes", 64<<20, "most bytes buffered across all TCP connections")
	fs.IntVar(&o.MaxBuffer, "max-conn-buffer", 64<<10, "most bytes buffered for one TCP connection's unfinished request")
	fs.StringVar(&o.User, "user", "", "after opening the interface, switch to this user keeping only CAP_NET_RAW")
	fs.IntVar(&o.EventQueue, "event-queue", 65536, "events buffered for the output; beyond it events are counted as dropped")
	fs.BoolVar(&o.Promisc, "promisc", false, "put the interface in promiscuous mode (needed when -m differs from the interface's MAC)")
	fs.IntVar(&o.RingMB, "ring-mb", 32, "size of each AF_PACKET receive ring in MiB")
	fs.StringVar(&o.Link, "link", "auto", "live link: afxdp (an XDP program hands masscanned's frames to AF_XDP sockets, one per receive queue; the rest stays with the kernel), afpacket (TPACKET_V3 ring), or auto: afxdp where the kernel and driver allow, else afpacket")
	fs.IntVar(&o.Workers, "workers", 1, "workers, each with its own receive ring, sharing the interface by flow (PACKET_FANOUT); 0: one per CPU")
	fs.StringVar(&o.ProfileFile, "profile", "", "TOML file of host profiles: per address, personality, open TCP ports (others reset), answered UDP ports, services, banners (SIGHUP reloads it)")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 60*time.Second, "end a TCP connection that sends nothing for this long (we send FIN)")
	fs.DurationVar(&o.GreetAfter, "greet-after", 2*time.Second, "greet a silent client on a port whose well-known service speaks first (ssh, ftp, smtp, ...) after this long; 0: never")
	fs.IntVar(&o.MaxPending, "max-half-open", 4096, "handshakes per worker whose SYN-ACK is retransmitted (linux, windows personalities); beyond, pure SYN cookies; 0: never retransmit")
	fs.StringVar(&o.StateDir, "state-dir", "", "directory keeping each host's SSH host keys and TLS certificate across restarts (default: a temporary one, removed at exit)")
	fs.IntVar(&o.SSHAcceptAfter, "ssh-accept-after", 0, "accept the Nth password tried on an SSH connection and record the session's requests (shell, exec commands); 0: refuse every login")
	fs.IntVar(&o.TelnetAcceptAfter, "telnet-accept-after", 0, "accept the Nth password tried on a Telnet connection and give a shell that records every command line and the URLs in it (never executed, never fetched); 0: refuse every login")
	fs.StringVar(&o.P0fDB, "p0f-db", "", "p0f v3 fingerprint database (Debian: /etc/p0f/p0f.fp) naming the OS of each SYN's TCP/IP fingerprint in events (tcp_fp.os); the raw p0f signature is always recorded")
	fs.StringVar(&o.Metrics, "metrics", "", "serve Prometheus metrics over HTTP at ADDR:PORT/metrics (a management address: the host's own socket, not the responder's addresses; off by default)")
	fs.StringVar(&o.IVRE, "ivre", "", "append IVRE passive recon records (the JSON lines of IVRE's zeek passiverecon script, for `ivre passiverecon2db`) of every event to FILE; SIGHUP reopens it")
	fs.StringVar(&o.Capture, "capture", "", "write every frame received and every reply sent, in order, to pcapng files FILE-000001.pcapng, FILE-000002.pcapng... (FILE's extension kept), each packet commented with its event; SIGHUP starts the next file")
	fs.StringVar(&o.CaptureRotateSize, "capture-rotate-size", "", "start the next --capture file before this size is exceeded (suffixes K, M, G, T: powers of 1024)")
	fs.DurationVar(&o.CaptureRotateEvery, "capture-rotate-every", 0, "start the next --capture file when the current one is this old (e.g. 1h)")
	fs.IntVar(&o.CaptureQueue, "capture-queue", capture.DefaultQueue, "records (a frame and its replies) per worker buffered for --capture; beyond it packets are counted as dropped")
	fs.StringVar(&o.HostPorts, "host-ports", "", "share the host's own address on -i: the host keeps these ports (e.g. tcp:22,tcp:443,udp:53) and the replies to its own connections, masscanned answers the rest; installs an nftables table for the run (needs CAP_NET_ADMIN and --self-ip-list naming the address)")
	fs.StringVar(&o.NATS, "nats", "", "publish every event (its JSON line) to NATS JetStream at this URL (nats://host:4222, tls://..., comma-separated for a cluster), through a spool in --state-dir while the broker is unreachable")
	fs.StringVar(&o.NATSSubject, "nats-subject", "", "subject of the events (default "+fleet.DefaultSubjectPrefix+".<sensor id>)")
	fs.StringVar(&o.SensorID, "sensor-id", "", "this sensor's name in the Masscanned-Sensor header and message ids (default: the host name)")
	fs.StringVar(&o.NATSCreds, "nats-creds", "", "NATS credentials file (user JWT and nkey seed, as nsc writes it)")
	fs.StringVar(&o.NATSStream, "nats-stream", fleet.DefaultStream, "JetStream stream created (capturing "+fleet.DefaultSubjectPrefix+".>) if it does not exist; empty: never create one")
	fs.StringVar(&o.NATSSpoolSize, "nats-spool-size", "256M", "bound of the --nats spool (suffixes K, M, G); beyond it the oldest events are dropped and counted")
	fs.BoolVarP(&o.ShowVersion, "version", "V", false, "print the version and exit")
	fs.BoolVarP(&o.ShowHelp, "help", "h", false, "show this help and exit")
	o.flags = fs
	return fs
}

// Finish validates the options after parsing and loads the files they name.
func (o *Options) Finish() error {
	if o.ListProtocols {
		return nil
	}
	if fs := o.flags; fs != nil && fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch o.Format {
	case "console", "logfmt", "json":
	default:
		return fmt.Errorf("invalid --format %q (want console, logfmt or json)", o.Format)
	}
	p, err := personality.ByName(o.Personality)
	if err != nil {
		return err
	}
	o.Persona = p
	if o.Iface == "" && o.ReadPcap == "" {
		return errors.New("no interface: give -i/--iface NAME (or --read-pcap FILE)")
	}
	if o.Iface != "" && o.ReadPcap != "" {
		return errors.New("-i/--iface and --read-pcap cannot be used together")
	}
	if o.MAC != "" {
		hw, err := net.ParseMAC(o.MAC)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("invalid MAC address %q for -m/--mac-addr", o.MAC)
		}
		if hw[0]&1 != 0 {
			return fmt.Errorf("invalid MAC address %q for -m/--mac-addr: it is a multicast address", o.MAC)
		}
		o.MACAddr = [6]byte(hw)
		o.HasMAC = true
	}
	if o.Self, err = addrset.Parse(o.SelfIPFile, o.SelfIPList); err != nil {
		return fmt.Errorf("self IPs: %v", err)
	}
	if o.Deny, err = addrset.Parse(o.DenyFile, o.DenyList); err != nil {
		return fmt.Errorf("remote deny list: %v", err)
	}
	if o.CookieKeyFile != "" {
		k, err := ReadKeyFile(o.CookieKeyFile)
		if err != nil {
			return err
		}
		o.CookieKey, o.HasCookieKey = k, true
	}
	if o.UDPMaxRatio < 0 {
		return errors.New("--udp-max-ratio must be 0 or more")
	}
	if o.MaxConns < 1 || o.MaxConnBytes < 1 || o.MaxBuffer < 1 {
		return errors.New("--max-conns, --max-conn-bytes and --max-conn-buffer must be positive")
	}
	if o.EventQueue < 1 {
		return errors.New("--event-queue must be positive")
	}
	if o.Workers < 0 || o.Workers > 64 {
		return errors.New("--workers must be between 0 and 64")
	}
	if o.Link != "auto" && o.Link != "afxdp" && o.Link != "afpacket" {
		return fmt.Errorf("--link must be auto, afxdp or afpacket, not %q", o.Link)
	}
	if o.Link == "afxdp" && o.HostPorts != "" {
		return errors.New("--host-ports needs --link afpacket (or auto): the XDP program would take the shared address's frames, the host's own ports included")
	}
	if o.RingMB < 1 || o.RingMB > 1024 {
		return errors.New("--ring-mb must be between 1 and 1024")
	}
	if o.IdleTimeout <= 0 {
		return errors.New("--idle-timeout must be positive")
	}
	if o.GreetAfter < 0 {
		return errors.New("--greet-after must be 0 (never) or positive")
	}
	if o.SSHAcceptAfter < 0 || o.SSHAcceptAfter > 6 {
		return errors.New("--ssh-accept-after must be between 0 (never) and 6 (MaxAuthTries)")
	}
	if o.TelnetAcceptAfter < 0 || o.TelnetAcceptAfter > 3 {
		return errors.New("--telnet-accept-after must be between 0 (never) and 3 (login gives up after 3 failures)")
	}
	if o.MaxPending < 0 {
		return errors.New("--max-half-open must be 0 (no SYN-ACK retransmission) or positive")
	}
	if o.Metrics != "" {
		if err := metrics.CheckAddr(o.Metrics); err != nil {
			return err
		}
	}
	if o.CaptureRotateSize != "" {
		if o.CaptureRotateBytes, err = capture.ParseSize(o.CaptureRotateSize); err != nil || o.CaptureRotateBytes == 0 {
			return fmt.Errorf("--capture-rotate-size: invalid size %q (want a positive number of bytes with an optional K, M, G or T suffix)", o.CaptureRotateSize)
		}
	}
	if o.CaptureRotateEvery < 0 || o.CaptureQueue < 1 {
		return errors.New("--capture-rotate-every must not be negative and --capture-queue must be positive")
	}
	if o.Capture == "" && (o.CaptureRotateSize != "" || o.CaptureRotateEvery != 0) {
		return errors.New("--capture-rotate-size and --capture-rotate-every need --capture FILE")
	}
	if o.HostPorts != "" {
		if o.HostPortsSpec, err = hostports.ParseSpec(o.HostPorts); err != nil {
			return err
		}
		if o.Iface == "" || o.Self == nil {
			return errors.New("--host-ports needs -i IFACE and --self-ip-list or --self-ip-file naming the host's address(es) on it")
		}
	}
	if err := o.finishNATS(); err != nil {
		return err
	}
	if o.ProfileFile != "" {
		if o.Profile, err = profile.Load(o.ProfileFile); err != nil {
			return err
		}
	}
	return nil
}

// ReadKeyFile reads a 128-bit key written as 32 hexadecimal digits
// (surrounding whitespace ignored).
func ReadKeyFile(path string) ([16]byte, error) {
	var k [16]byte
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return k, fmt.Errorf("cannot read cookie key file %s: %v", path, err)
	}
	s := strings.TrimSpace(string(b))
	d, err := hex.DecodeString(s)
	if err != nil || len(d) != 16 {
		return k, fmt.Errorf("cookie key file %s: want 32 hexadecimal digits (a 128-bit key)", path)
	}
	copy(k[:], d)
	return k, nil
}

// finishNATS validates the --nats options and reads the credentials file
// (at start, before privileges are dropped).
func (o *Options) finishNATS() error {
	if o.NATS == "" {
		if o.NATSSubject != "" || o.NATSCreds != "" {
			return errors.New("--nats-subject and --nats-creds need --nats URL")
		}
		return nil
	}
	if err := fleet.CheckURL(o.NATS); err != nil {
		return err
	}
	if o.SensorID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return errors.New("--sensor-id: no host name to default to: give one")
		}
		o.SensorID = h
	}
	if err := fleet.CheckSensorID(o.SensorID); err != nil {
		return err
	}
	if o.NATSSubject == "" {
		o.NATSSubject = fleet.DefaultSubjectPrefix + "." + fleet.Token(o.SensorID)
	}
	if err := fleet.CheckSubject(o.NATSSubject); err != nil {
		return err
	}
	if err := fleet.CheckStreamName(o.NATSStream); err != nil {
		return err
	}
	n, err := capture.ParseSize(o.NATSSpoolSize)
	if err != nil || n < 64<<10 {
		return fmt.Errorf("--nats-spool-size: invalid size %q (want at least 64K)", o.NATSSpoolSize)
	}
	o.NATSSpoolBytes = n
	if o.NATSCreds != "" {
		if o.NATSCredsData, err = fleet.ReadCreds(o.NATSCreds); err != nil {
			return err
		}
	}
	return nil
}
