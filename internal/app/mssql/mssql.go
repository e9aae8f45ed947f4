// Package mssql plays SQL Server 2019 over TDS (any port): it answers the
// PRELOGIN with the server's version and encryption choice, reads the
// Login7 (user, password, host, application, server, library, client
// version and PID; or an NTLM logon through SSPI) and refuses it with
// error 18456, "Login failed for user '...'.", as SQL Server does for a
// wrong password.
package mssql

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/ntlm"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "SQL Server 2019 over TDS: PRELOGIN, Login7 (SQL or NTLM); records users, passwords and NetNTLMv2 hashes, refuses the login (18456)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// TDS packet types.
const (
	pktReply    = 0x04
	pktLogin7   = 0x10
	pktSSPI     = 0x11
	pktPrelogin = 0x12
)

// PRELOGIN ENCRYPTION values.
const (
	encryptOff    = 0
	encryptOn     = 1
	encryptNotSup = 2
	encryptReq    = 3
)

var encryptNames = []string{"off", "on", "not_supported", "required"}

// defaultVersion is SQL Server 2019 RTM.
const defaultVersion = "15.0.2000"

// maxPacket is the largest TDS packet accepted (the default negotiated
// packet size is 4096; a Login7 is far smaller than this).
const maxPacket = 16 << 10

// Handler is the TDS handler.
type Handler struct{}

// New returns the SQL Server handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "mssql" }

// Detect implements app.Handler: a TDS PRELOGIN (0x12) or Login7 (0x10)
// packet header with a plausible length and a zero window byte; a PRELOGIN
// must start with an option token, a Login7 give its own length and a TDS
// 7.x version.
func (*Handler) Detect(b []byte, t app.Transport) app.Verdict {
	if t != app.TCP || len(b) == 0 {
		return app.No
	}
	if b[0] != pktPrelogin && b[0] != pktLogin7 {
		return app.No
	}
	if len(b) > 1 && b[1]&^0x19 != 0 { // EOM, RESETCONNECTION(SKIPTRAN), IGNORE
		return app.No
	}
	if len(b) >= 4 {
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 9 || n > maxPacket {
			return app.No
		}
	}
	if len(b) >= 8 && b[7] != 0 {
		return app.No
	}
	if b[0] == pktPrelogin {
		if len(b) < 9 {
			return app.Maybe
		}
		if b[8] > 8 && b[8] != 0xff {
			return app.No
		}
		return app.Yes
	}
	if len(b) < 16 {
		return app.Maybe
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if int(binary.LittleEndian.Uint32(b[8:])) < 94 || b[1]&1 != 0 && int(binary.LittleEndian.Uint32(b[8:])) != n-8 || b[15]&0xf0 != 0x70 {
		return app.No
	}
	return app.Yes
}

// state is kept per connection.
type state struct {
	prelogin  bool
	challenge [8]byte
	sspi      bool // a CHALLENGE was sent
	login     []byte
	tds       uint32 // the client's TDS version (Login7)
}

// Serve implements app.Handler: one TDS packet per call (a Login7 split
// over several packets is reassembled, bounded).
func (h *Handler) Serve(c *app.Conn, b []byte) app.Result {
	if c.Transport != app.TCP {
		return app.Result{}
	}
	st, _ := c.State.(*state)
	if st == nil {
		st = &state{}
		c.State = st
	}
	if len(b) < 8 {
		return app.Result{NeedMore: true}
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 8 || n > maxPacket {
		return app.Result{Consumed: len(b), Close: true, Fields: []event.Field{{Key: "error", Value: "bad TDS packet length"}}}
	}
	if len(b) < n {
		return app.Result{NeedMore: true}
	}
	typ, status, payload := b[0], b[1], b[8:n]
	res := app.Result{Consumed: n}
	switch typ {
	case pktPrelogin:
		if st.prelogin {
			// a TLS handshake inside PRELOGIN packets: we offered none
			res.Fields = []event.Field{{Key: "command", Value: "tls_in_prelogin"}}
			res.Close = true
			return res
		}
		st.prelogin = true
		return h.prelogin(c, payload, res)
	case pktLogin7:
		if len(st.login)+len(payload) > maxPacket {
			res.Close = true
			res.Fields = []event.Field{{Key: "error", Value: "Login7 too large"}}
			return res
		}
		st.login = append(st.login, payload...)
		if status&1 == 0 {
			return res // more packets of the Login7 follow
		}
		login := st.login
		st.login = nil
		return h.login7(c, st, login, res)
	case pktSSPI:
		return h.sspi(c, st, payload, res)
	}
	res.Fields = []event.Field{{Key: "command", Value: "packet_type_" + strconv.Itoa(int(typ))}}
	res.Close = true
	return res
}

// packet frames a server reply (tabular result, end of message, packet 1).
func packet(payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0], b[1] = pktReply, 1
	binary.BigEndian.PutUint16(b[2:], uint16(8+len(payload)))
	b[6] = 1
	return append(b, payload...)
}

// version parses "major.minor.build[.sub]" (the profile's mssql banner).
func version(s string) [6]byte {
	var v [6]byte
	parts := strings.Split(s, ".")
	num := func(i int, max int) int {
		if i >= len(parts) {
			return 0
		}
		x, err := strconv.Atoi(parts[i])
		if err != nil || x < 0 || x > max {
			return 0
		}
		return x
	}
	v[0], v[1] = byte(num(0, 255)), byte(num(1, 255))
	binary.BigEndian.PutUint16(v[2:], uint16(num(2, 65535)))
	binary.BigEndian.PutUint16(v[4:], uint16(num(3, 65535)))
	return v
}

// prelogin answers a PRELOGIN with the options the client sent, as SQL
// Server does: VERSION, ENCRYPTION, INSTOPT (0: the instance matched),
// THREADID (empty), MARS (off), FEDAUTHREQUIRED (off) and NONCEOPT only
// when asked. Without a certificate the server cannot encrypt:
// ENCRYPT_NOT_SUP, which a client that requires encryption refuses.
func (h *Handler) prelogin(c *app.Conn, p []byte, res app.Result) app.Result {
	type opt struct {
		token byte
		data  []byte
	}
	var f []event.Field
	var asked []byte
	var enc = -1
	for i := 0; i+5 <= len(p) && p[i] != 0xff; i += 5 {
		tok := p[i]
		off := int(binary.BigEndian.Uint16(p[i+1:]))
		l := int(binary.BigEndian.Uint16(p[i+3:]))
		var d []byte
		if off <= len(p) && l <= len(p)-off {
			d = p[off : off+l]
		}
		asked = append(asked, tok)
		switch tok {
		case 0:
			if len(d) >= 6 {
				f = append(f, event.Field{Key: "client_version", Value: strconv.Itoa(int(d[0])) + "." + strconv.Itoa(int(d[1])) + "." +
					strconv.Itoa(int(binary.BigEndian.Uint16(d[2:]))) + "." + strconv.Itoa(int(binary.BigEndian.Uint16(d[4:])))})
			}
		case 1:
			if len(d) >= 1 {
				enc = int(d[0])
				name := strconv.Itoa(enc)
				if enc&0x0f < len(encryptNames) {
					name = encryptNames[enc&0x0f]
				}
				f = append(f, event.Field{Key: "encryption", Value: name})
			}
		case 2:
			s := string(d)
			if i := strings.IndexByte(s, 0); i >= 0 {
				s = s[:i]
			}
			f = append(f, event.Field{Key: "instance", Value: app.Printable([]byte(s))})
		case 3:
			if len(d) >= 4 {
				f = append(f, event.Field{Key: "thread_id", Value: int(binary.BigEndian.Uint32(d))})
			}
		case 4:
			if len(d) >= 1 {
				f = append(f, event.Field{Key: "mars", Value: d[0] == 1})
			}
		case 6:
			if len(d) >= 1 {
				f = append(f, event.Field{Key: "fedauth_required", Value: d[0] == 1})
			}
		}
	}
	f = append([]event.Field{{Key: "command", Value: "prelogin"}}, f...)
	ver := version(c.Banner("mssql", defaultVersion))
	var opts []opt
	has := func(t byte) bool {
		for _, a := range asked {
			if a == t {
				return true
			}
		}
		return false
	}
	opts = append(opts, opt{0, ver[:]})
	answer := byte(encryptNotSup)
	opts = append(opts, opt{1, []byte{answer}})
	opts = append(opts, opt{2, []byte{0}})
	opts = append(opts, opt{3, nil})
	if has(4) {
		opts = append(opts, opt{4, []byte{0}})
	}
	if has(6) {
		opts = append(opts, opt{6, []byte{0}})
	}
	body := make([]byte, 0, 64)
	dataOff := 5*len(opts) + 1
	var data []byte
	for _, o := range opts {
		body = append(body, o.token)
		body = binary.BigEndian.AppendUint16(body, uint16(dataOff+len(data)))
		body = binary.BigEndian.AppendUint16(body, uint16(len(o.data)))
		data = append(data, o.data...)
	}
	body = append(body, 0xff)
	body = append(body, data...)
	res.Reply = packet(body)
	f = append(f, event.Field{Key: "encryption_answer", Value: encryptNames[answer]})
	if enc == encryptOn || enc == encryptReq {
		// the client will not go on without TLS: it closes (FreeTDS,
		// ODBC Driver 18 with Encrypt=yes)
		f = append(f, event.Field{Key: "client_requires_encryption", Value: true})
	}
	res.Fields = f
	return res
}

// Login7 OptionFlags2: integrated security (SSPI).
const fIntSecurity = 0x80

// login7 parses a Login7 (MS-TDS 2.2.6.4) and refuses it.
func (h *Handler) login7(c *app.Conn, st *state, p []byte, res app.Result) app.Result {
	f := []event.Field{{Key: "command", Value: "login7"}}
	if len(p) < 94 {
		res.Close = true
		res.Fields = append(f, event.Field{Key: "error", Value: "truncated Login7"})
		return res
	}
	st.tds = binary.LittleEndian.Uint32(p[4:])
	f = append(f,
		event.Field{Key: "tds_version", Value: tdsVersion(st.tds)},
		event.Field{Key: "packet_size", Value: int(binary.LittleEndian.Uint32(p[8:]))},
		event.Field{Key: "client_prog_version", Value: hex32(binary.BigEndian.Uint32(p[12:]))},
		event.Field{Key: "client_pid", Value: int(binary.LittleEndian.Uint32(p[16:]))})
	str := func(at int) string {
		off := int(binary.LittleEndian.Uint16(p[at:]))
		l := 2 * int(binary.LittleEndian.Uint16(p[at+2:]))
		if off > len(p) || l > len(p)-off || l > 1024 {
			return ""
		}
		return fromUTF16(p[off : off+l])
	}
	host, user, app_, server, lib, lang, db := str(36), str(40), str(48), str(52), str(60), str(64), str(68)
	pw := ""
	if off, l := int(binary.LittleEndian.Uint16(p[44:])), 2*int(binary.LittleEndian.Uint16(p[46:])); off <= len(p) && l <= len(p)-off && l <= 1024 {
		pw = fromUTF16(unscramble(p[off : off+l]))
	}
	for _, kv := range []struct{ k, v string }{{"hostname", host}, {"user", user}, {"app_name", app_}, {"server_name", server},
		{"library", lib}, {"language", lang}, {"database", db}} {
		if kv.v != "" {
			f = append(f, event.Field{Key: kv.k, Value: kv.v})
		}
	}
	if p[25]&fIntSecurity != 0 {
		// NTLM through SSPI: the NEGOTIATE is in the Login7
		off, l := int(binary.LittleEndian.Uint16(p[78:])), int(binary.LittleEndian.Uint16(p[80:]))
		var blob []byte
		if off <= len(p) && l <= len(p)-off {
			blob = p[off : off+l]
		}
		m := ntlm.Parse(ntlm.Find(blob))
		f = append(f, event.Field{Key: "integrated_security", Value: true})
		f = append(f, m.Fields(nil)...)
		if m.Type == ntlm.TypeNegotiate {
			if c.Rand != nil {
				c.Rand(st.challenge[:])
			}
			st.sspi = true
			id := identity(c)
			msg := ntlm.Challenge(&id, st.challenge, c.Now)
			tok := []byte{0xed}
			tok = binary.LittleEndian.AppendUint16(tok, uint16(len(msg)))
			res.Reply = packet(append(tok, msg...))
			res.Fields = f
			return res
		}
		res.Reply = loginFailed(c, st.tds, "")
		res.Close = true
		res.Fields = append(f, event.Field{Key: "error", Value: "no NTLM NEGOTIATE"})
		return res
	}
	f = append(f, event.AuthField("mssql", user, pw, false))
	res.Reply = loginFailed(c, st.tds, user)
	res.Close = true
	res.Fields = f
	return res
}

// sspi handles the client's SSPI message: the NTLM AUTHENTICATE.
func (h *Handler) sspi(c *app.Conn, st *state, p []byte, res app.Result) app.Result {
	f := []event.Field{{Key: "command", Value: "sspi"}}
	m := ntlm.Parse(ntlm.Find(p))
	var ch *[8]byte
	if st.sspi {
		ch = &st.challenge
	}
	f = append(f, m.Fields(ch)...)
	if a, ok := m.AuthField("mssql", ch, false); ok {
		f = append(f, a)
	}
	user := m.User
	if m.Domain != "" {
		user = m.Domain + `\` + m.User
	}
	res.Reply = loginFailed(c, st.tds, user)
	res.Close = true
	res.Fields = f
	return res
}

// identity is the NTLM identity of the host (a workgroup Windows Server
// 2019 named after the profile's hostname banner).
func identity(c *app.Conn) ntlm.Identity {
	nb := serverName(c)
	return ntlm.Identity{Target: nb, NBDomain: nb, NBComputer: nb, DNSDomain: nb, DNSComputer: nb,
		Flags: 0xe28a8235, Version: ntlm.WindowsVersion(10, 0, 17763)}
}

// serverName is @@SERVERNAME of the default instance: the computer's
// NetBIOS name.
func serverName(c *app.Conn) string {
	host := c.Banner("hostname", "")
	if host == "" {
		return ntlm.DefaultComputerName(c.Host())
	}
	label, _, _ := strings.Cut(host, ".")
	label = strings.ToUpper(label)
	if len(label) > 15 {
		label = label[:15]
	}
	return label
}

// loginFailed is SQL Server's answer to a refused login: ERROR 18456,
// state 1, class 14, then DONE with the error bit.
func loginFailed(c *app.Conn, tds uint32, user string) []byte {
	msg := "Login failed for user '" + user + "'."
	if user == "" {
		msg = "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication."
	}
	srv := serverName(c)
	tok := binary.LittleEndian.AppendUint32(nil, 18456)
	tok = append(tok, 1, 14)
	m := utf16le(msg)
	tok = binary.LittleEndian.AppendUint16(tok, uint16(len(m)/2))
	tok = append(tok, m...)
	s := utf16le(srv)
	tok = append(tok, byte(len(s)/2))
	tok = append(tok, s...)
	tok = append(tok, 0) // procedure name
	modern := tds >= 0x72090002 || tds == 0
	if modern {
		tok = binary.LittleEndian.AppendUint32(tok, 1)
	} else {
		tok = binary.LittleEndian.AppendUint16(tok, 1)
	}
	b := []byte{0xaa}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tok)))
	b = append(b, tok...)
	b = append(b, 0xfd, 2, 0, 0, 0) // DONE, DONE_ERROR, CurCmd 0
	if modern {
		b = append(b, make([]byte, 8)...)
	} else {
		b = append(b, make([]byte, 4)...)
	}
	return packet(b)
}

// unscramble decodes a Login7 password: each byte XOR 0xA5, then its
// nibbles swapped.
func unscramble(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		c ^= 0xa5
		out[i] = c<<4 | c>>4
	}
	return out
}

func tdsVersion(v uint32) string {
	switch v {
	case 0x70000000:
		return "7.0"
	case 0x71000000:
		return "7.1"
	case 0x71000001:
		return "7.1.1"
	case 0x72090002:
		return "7.2"
	case 0x730a0003:
		return "7.3a"
	case 0x730b0003:
		return "7.3b"
	case 0x74000004:
		return "7.4"
	}
	return hex32(v)
}

func hex32(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	return "0x" + strings.Repeat("0", 8-len(s)) + s
}

func utf16le(s string) []byte { return ntlm.UTF16LE(s) }

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return ntlm.Clean(string(utf16.Decode(u)))
}
