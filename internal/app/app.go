// Package app is the application-protocol layer: the Handler interface that
// every protocol implements, the Registry that dispatches a payload to a
// handler by content (never by port), and the bounded per-connection state
// table that reassembles TCP streams.
package app

import (
	"net"
	"net/netip"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Transport is the L4 carrying an application payload.
type Transport uint8

const (
	TCP Transport = iota + 1
	UDP
)

func (t Transport) String() string {
	if t == TCP {
		return "tcp"
	}
	return "udp"
}

// Verdict is a handler's answer to "is this payload mine?".
type Verdict uint8

const (
	// No: the bytes cannot start a message of this protocol.
	No Verdict = iota
	// Maybe: the bytes are a prefix of a message of this protocol; more
	// bytes are needed to decide (TCP only: for UDP Maybe counts as No).
	Maybe
	// Yes: the bytes start a message of this protocol.
	Yes
)

// RawCap is the number of request bytes kept in an event.
const RawCap = 512

// Conn describes the exchange a payload belongs to. For TCP one Conn lives
// as long as the connection's entry in the table; for UDP it is per datagram.
type Conn struct {
	Transport Transport
	Client    netip.AddrPort // the remote peer
	Server    netip.AddrPort // our address and port the peer talked to

	// Personality is the name of the active personality ("linux" or
	// "masscanned"); handlers pick their banners and shapes from it.
	Personality string

	Now  time.Time
	Rand func(p []byte) // fills p with random bytes

	// State is the handler's own per-connection state (TCP only; nil on
	// each new connection and for every UDP datagram).
	State any

	// ReplyPort, when non-zero, is the source port the reply must come
	// from (STUN CHANGE-REQUEST). Handlers set it.
	ReplyPort uint16

	// MaxReply, when non-zero, is the largest reply allowed (UDP
	// anti-reflection cap). A handler that can give a compact reply that
	// fits should do so; a reply that does not fit is not sent.
	MaxReply int

	// HostID names the host the server address belongs to: its profile
	// host's name (or file position); empty without a profile (the
	// address is its own host). Per-host keys and certificates use it.
	HostID string

	// Service is the service the host profile maps the server port to
	// ("ssh", "ftp", ...); empty without a profile or mapping.
	Service string
	// CanStartTLS: the connection may switch to TLS (STARTTLS): a TLS
	// library is available. InTLS: the bytes are the decrypted stream of
	// a TLS connection. Resume names the handler that serves the stream
	// after a STARTTLS (the TLS library pins it).
	CanStartTLS, InTLS bool
	Resume             string

	// Banners are the host profile's values for the services to show
	// (keys such as "ssh", "http_server", "ftp", "smtp"; see package
	// profile). Nil without a profile: handlers use their defaults.
	Banners map[string]string
}

// Host is the identifier of c's host: HostID, else the server address.
func (c *Conn) Host() string {
	if c.HostID != "" {
		return c.HostID
	}
	return c.Server.Addr().String()
}

// Banner returns the profile's value for key, or def when the profile
// gives none.
func (c *Conn) Banner(key, def string) string {
	if v, ok := c.Banners[key]; ok && v != "" {
		return v
	}
	return def
}

// Result is what a handler did with the bytes it was given.
type Result struct {
	// NeedMore: the bytes hold an incomplete message; nothing consumed.
	NeedMore bool
	// Consumed is the number of bytes of the message handled (TCP: the
	// rest stays buffered for the next call). Zero with a nil Reply and
	// NeedMore false means the bytes were rejected as invalid.
	Consumed int
	// Reply is the bytes to send back (may be empty: ACK only).
	Reply []byte
	// Fields are recorded in the event (protocol-specific).
	Fields []event.Field
	// Close asks to close the connection after Reply (TCP: our FIN
	// follows the reply, as a server closing its socket); later bytes
	// are ACKed and ignored.
	Close bool
	// StartTLS: after Reply the connection continues in TLS (STARTTLS,
	// STLS); the handler then serves the decrypted stream with a fresh
	// State and Conn.InTLS set. Only when Conn.CanStartTLS.
	StartTLS bool
}

// Handler is one application protocol.
type Handler interface {
	// Name is the protocol's short name (http, ssh, stun, dns, smb, rpc, ghost).
	Name() string
	// Detect says whether data, the start of a UDP datagram or of a TCP
	// stream, belongs to this protocol. It must be cheap and must not
	// keep data.
	Detect(data []byte, t Transport) Verdict
	// Serve handles the bytes at the start of data (all buffered,
	// unconsumed bytes of the stream for TCP; the whole datagram for
	// UDP). It may be called again with the rest when Consumed < len(data).
	Serve(c *Conn, data []byte) Result
}

// Greeter is a Handler of a server-first protocol (SSH, FTP, SMTP, POP3,
// IMAP, Telnet, MySQL, VNC): when a connection to a port mapped to its
// service opens, or when the client stays silent, Greet gives the server's
// opening words. The handler then serves every byte of that connection
// (no content detection), including bytes of another protocol, which it
// answers the way the real server does.
type Greeter interface {
	Handler
	// Service is the profile service name the greeter speaks for.
	Service() string
	// Greet returns the greeting (Reply) and may set c.State. Close asks
	// to close after the greeting.
	Greet(c *Conn) Result
}

// LibraryHandler is a Handler that serves a TCP connection with a library
// that needs a net.Conn (golang.org/x/crypto/ssh, crypto/tls). The library
// runs in its own goroutine over a PipeConn; the packet path only hands
// bytes over.
type LibraryHandler interface {
	Handler
	// UseLibrary reports whether c is served by the library; false: by
	// Greet and Serve as a plain handler (e.g. upstream's banner-only SSH).
	UseLibrary(c *Conn) bool
	// RunLibrary serves the connection until it is done, in its own
	// goroutine (c is its own copy). rec records an application record
	// as an event of its own (Proto empty: the handler's name); nc's Close
	// asks for our FIN.
	RunLibrary(c *Conn, nc net.Conn, rec func(*event.App))
}

// ServiceDetector is a Handler that recognises more on a port the host
// profile maps to its service than Detect does anywhere (the Docker API
// answers every HTTP path on its own port). On such a port the registry
// asks only that handler, through DetectService.
type ServiceDetector interface {
	DetectService(data []byte, t Transport) Verdict
}

// Closer is implemented by handlers that want to learn that a connection
// ended (why is the end reason: fin, rst, idle, evicted, ...).
type Closer interface {
	Closed(c *Conn, why string)
}

// Info describes a registered handler.
type Info struct {
	Name        string
	Enabled     bool
	Description string
}
