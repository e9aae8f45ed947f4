// Package ssh answers SSH clients with a server identification string (and,
// under the linux personality, the SSH_MSG_KEXINIT a Debian OpenSSH server
// sends), then records the client's KEXINIT algorithm lists and its HASSH
// fingerprint. As an app.Greeter it also speaks first, as sshd does, when
// the stack opens a connection on a port mapped to "ssh".
package ssh

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "SSH identification exchange and KEXINIT (OpenSSH 9.2p1 Debian), client HASSH"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	maxBanner  = 255   // RFC 4253 §4.2: at most 255 bytes including CRLF
	maxPacket  = 35000 // RFC 4253 §6.1: packets up to 35000 bytes must be handled
	msgKexinit = 20
)

// Server banners per personality.
const (
	upstreamBanner = "SSH-2.0-1\r\n"
	linuxBanner    = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
)

// The name-lists of OpenSSH 9.2p1 (Debian 12, with the Terrapin strict-kex
// fix) with its default rsa, ecdsa and ed25519 host keys.
var linuxKexinit = [10]string{
	"sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org," +
		"ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521," +
		"diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512," +
		"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com",
	"rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
	ciphers, ciphers,
	macs, macs,
	"none,zlib@openssh.com", "none,zlib@openssh.com",
	"", "",
}

const (
	ciphers = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr," +
		"aes128-gcm@openssh.com,aes256-gcm@openssh.com"
	macs = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com," +
		"hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com," +
		"umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"
)

// Handler is the SSH protocol handler.
type Handler struct {
	// HostKeys gives the host keys of a connection's host (nil: one
	// Ed25519 key per process).
	HostKeys HostKeys
	// BannerOnly: never run the complete server (RunLibrary); answer the
	// identification exchange and KEXINIT only.
	BannerOnly bool
	// AcceptAfter > 0: the AcceptAfter-th password attempt of a
	// connection is accepted, and the session's requests (pty, env,
	// shell, exec) are recorded before it ends.
	AcceptAfter int
}

// New returns the SSH handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "ssh" }

// Detect implements app.Handler.
func (*Handler) Detect(data []byte, _ app.Transport) app.Verdict {
	const p = "SSH-"
	if len(data) < len(p) {
		if strings.HasPrefix(p, string(data)) {
			return app.Maybe
		}
		return app.No
	}
	if string(data[:len(p)]) == p {
		return app.Yes
	}
	return app.No
}

// Service implements app.Greeter.
func (*Handler) Service() string { return "ssh" }

// state is kept per TCP connection. greeted: our identification was sent
// first (Greet) and the client's is awaited; otherwise the client's was
// answered and its KEXINIT is awaited.
type state struct{ greeted bool }

// Greet implements app.Greeter: the server sends its identification string
// first, as sshd does on accepting a connection.
func (*Handler) Greet(c *app.Conn) app.Result {
	c.State = &state{greeted: true}
	return app.Result{Reply: []byte(serverBanner(c))}
}

// serverBanner is the identification line for c: the profile's "ssh"
// banner, else the personality's.
func serverBanner(c *app.Conn) string {
	def := linuxBanner
	if c.Personality == "masscanned" {
		def = upstreamBanner
	}
	b, ok := c.Banners["ssh"]
	if !ok || b == "" {
		return def
	}
	if i := strings.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	if !strings.HasPrefix(b, "SSH-") {
		b = "SSH-2.0-" + b
	}
	if len(b) > maxBanner-2 {
		b = b[:maxBanner-2]
	}
	return b + "\r\n"
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	if st, ok := c.State.(*state); ok {
		if st.greeted {
			return serveGreeted(c, st, data)
		}
		return serveKexinit(data)
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) >= maxBanner || !bytes.HasPrefix(data, []byte("SSH-")) {
			return app.Result{}
		}
		return app.Result{NeedMore: true}
	}
	if i+1 > maxBanner {
		return app.Result{}
	}
	line := bytes.TrimSuffix(data[:i], []byte{'\r'})
	proto, software, comment, ok := parseBanner(line)
	if !ok {
		return app.Result{}
	}
	res := app.Result{Consumed: i + 1, Fields: bannerFields(line, proto, software, comment)}
	res.Reply = []byte(serverBanner(c))
	if c.Personality != "masscanned" && c.Transport == app.TCP {
		res.Reply = appendKexinit(res.Reply, c.Rand)
	}
	if c.Transport == app.TCP {
		c.State = &state{}
	} else {
		res.Close = true
	}
	return res
}

func bannerFields(line, proto, software, comment []byte) []event.Field {
	f := []event.Field{
		{Key: "banner", Value: app.Printable(line)},
		{Key: "version", Value: app.Printable(proto)},
		{Key: "software", Value: app.Printable(software)},
	}
	if comment != nil {
		f = append(f, event.Field{Key: "comment", Value: app.Printable(comment)})
	}
	return f
}

// Replies of OpenSSH's sshd to a bad identification exchange, each sent
// before it closes the connection.
const (
	invalidIdent  = "Invalid SSH identification string.\r\n"
	majorMismatch = "Protocol major versions differ.\r\n"
)

// maxIdentLine is how long a line sshd reads while waiting for the
// client's identification before it gives up.
const maxIdentLine = 8192

// serveGreeted reads the client's identification after our Greet: our
// banner was already sent, so only the KEXINIT follows (linux), as sshd
// sends it right after the exchange. Anything else gets sshd's error
// line and the connection closes.
func serveGreeted(c *app.Conn, st *state, data []byte) app.Result {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) >= maxIdentLine {
			return app.Result{Consumed: len(data), Reply: []byte(invalidIdent), Close: true,
				Fields: []event.Field{{Key: "error", Value: "identification too long"}}}
		}
		return app.Result{NeedMore: true}
	}
	line := bytes.TrimSuffix(data[:i], []byte{'\r'})
	if len(line) > app.RawCap {
		line = line[:app.RawCap]
	}
	proto, software, comment, ok := parseBanner(line)
	if !ok {
		return app.Result{Consumed: i + 1, Reply: []byte(invalidIdent), Close: true,
			Fields: []event.Field{{Key: "error", Value: "invalid identification"}, {Key: "line", Value: app.Printable(line)}}}
	}
	res := app.Result{Consumed: i + 1, Fields: bannerFields(line, proto, software, comment)}
	if p := string(proto); p != "2.0" && p != "1.99" {
		res.Reply = []byte(majorMismatch)
		res.Close = true
		return res
	}
	st.greeted = false
	if c.Personality != "masscanned" {
		res.Reply = appendKexinit(nil, c.Rand)
	}
	return res
}

// parseBanner splits "SSH-protoversion-softwareversion SP comments".
func parseBanner(line []byte) (proto, software, comment []byte, ok bool) {
	if !bytes.HasPrefix(line, []byte("SSH-")) {
		return nil, nil, nil, false
	}
	rest := line[4:]
	dash := bytes.IndexByte(rest, '-')
	if dash < 1 {
		return nil, nil, nil, false
	}
	proto = rest[:dash]
	for _, b := range proto {
		if (b < '0' || b > '9') && b != '.' {
			return nil, nil, nil, false
		}
	}
	software = rest[dash+1:]
	if sp := bytes.IndexByte(software, ' '); sp >= 0 {
		software, comment = software[:sp], software[sp+1:]
	}
	return proto, software, comment, true
}

// appendKexinit appends a server SSH_MSG_KEXINIT binary packet.
func appendKexinit(b []byte, rnd func([]byte)) []byte {
	payload := make([]byte, 0, 1024)
	payload = append(payload, msgKexinit)
	cookie := make([]byte, 16)
	if rnd != nil {
		rnd(cookie)
	}
	payload = append(payload, cookie...)
	for _, l := range linuxKexinit {
		payload = binary.BigEndian.AppendUint32(payload, uint32(len(l)))
		payload = append(payload, l...)
	}
	payload = append(payload, 0, 0, 0, 0, 0) // first_kex_packet_follows, reserved
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(payload)+pad))
	b = append(b, byte(pad))
	b = append(b, payload...)
	padding := make([]byte, pad)
	if rnd != nil {
		rnd(padding)
	}
	return append(b, padding...)
}

// serveKexinit reads the client's first binary packet after the banner.
func serveKexinit(data []byte) app.Result {
	if len(data) < 4 {
		return app.Result{NeedMore: true}
	}
	plen := int(binary.BigEndian.Uint32(data))
	if plen < 12 || plen > maxPacket {
		return app.Result{}
	}
	if len(data) < 4+plen {
		return app.Result{NeedMore: true}
	}
	res := app.Result{Consumed: 4 + plen, Close: true}
	padlen := int(data[4])
	if padlen < 4 || padlen > plen-2 {
		return res
	}
	payload := data[5 : 4+plen-padlen]
	if len(payload) < 17 || payload[0] != msgKexinit {
		return res
	}
	p := payload[17:]
	var lists [10][]byte
	for i := range lists {
		if len(p) < 4 {
			return res
		}
		n := binary.BigEndian.Uint32(p)
		if uint64(n) > uint64(len(p)-4) {
			return res
		}
		lists[i] = p[4 : 4+n]
		p = p[4+n:]
	}
	sum := md5.Sum([]byte(string(lists[0]) + ";" + string(lists[2]) + ";" + string(lists[4]) + ";" + string(lists[6])))
	res.Fields = []event.Field{
		{Key: "kex_algorithms", Value: nameList(lists[0])},
		{Key: "host_key_algorithms", Value: nameList(lists[1])},
		{Key: "encryption_c2s", Value: nameList(lists[2])},
		{Key: "mac_c2s", Value: nameList(lists[4])},
		{Key: "compression_c2s", Value: nameList(lists[6])},
		{Key: "hassh", Value: hex.EncodeToString(sum[:])},
	}
	return res
}

func nameList(b []byte) []string {
	if len(b) == 0 {
		return []string{}
	}
	parts := bytes.Split(b, []byte{','})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = app.Printable(p)
	}
	return out
}
