// Package mail plays Debian's Dovecot mail access server before login:
// POP3 (handler "pop3") and IMAP (handler "imap"). Both greet, list their
// capabilities, fail every login and record the credentials tried.
package mail

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "POP3 and IMAP servers (Dovecot, Debian) before login, records credentials"

// DefaultEnabled says whether the protocols are on by default.
const DefaultEnabled = true

const (
	product  = "Dovecot (Debian)"
	maxLine  = 8192 // longer input lines make Dovecot hang up
	maxBad   = 10   // bad commands before Dovecot hangs up
	maxField = 256
)

func field(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	return app.Printable(b)
}

func productText(c *app.Conn, key string) string {
	s := c.Banner(key, product)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// line returns the next CRLF- or LF-terminated line of data; n is 0 when
// more bytes are needed, -1 when the line is over the limit.
func line(data []byte) (l []byte, n int) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) >= maxLine {
			return nil, -1
		}
		return nil, 0
	}
	if i >= maxLine {
		return nil, -1
	}
	return bytes.TrimSuffix(data[:i], []byte{'\r'}), i + 1
}

// plain splits a SASL PLAIN response (RFC 4616) into fields.
func plain(proto string, b64 []byte) ([]event.Field, bool) {
	dec, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b64)))
	if err != nil {
		return nil, false
	}
	p := bytes.SplitN(dec, []byte{0}, 3)
	if len(p) != 3 {
		return []event.Field{{Key: "auth_response", Value: field(dec)}}, true
	}
	return []event.Field{{Key: "user", Value: field(p[1])}, {Key: "password", Value: field(p[2])},
		event.AuthField(proto, field(p[1]), field(p[2]), false)}, true
}

// POP3 is the POP3 handler.
type POP3 struct{}

// NewPOP3 returns the POP3 handler.
func NewPOP3() *POP3 { return &POP3{} }

// Name implements app.Handler.
func (*POP3) Name() string { return "pop3" }

// Service implements app.Greeter.
func (*POP3) Service() string { return "pop3" }

// Detect implements app.Handler: POP3 is server-first, reached through
// Greet only.
func (*POP3) Detect([]byte, app.Transport) app.Verdict { return app.No }

type pop3State struct {
	user     []byte
	hasUser  bool
	bad      int
	authWait bool // AUTH PLAIN sent without an initial response
}

const pop3Capa = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\n.\r\n"

// Greet implements app.Greeter.
func (*POP3) Greet(c *app.Conn) app.Result {
	c.State = &pop3State{}
	return app.Result{Reply: []byte("+OK " + productText(c, "pop3") + " ready.\r\n")}
}

// Serve implements app.Handler: one command line per call.
func (*POP3) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*pop3State)
	if !ok {
		st = &pop3State{}
		c.State = st
	}
	l, n := line(data)
	switch n {
	case 0:
		return app.Result{NeedMore: true}
	case -1:
		return app.Result{Consumed: len(data), Reply: []byte("-ERR Input line too long.\r\n"), Close: true}
	}
	res := app.Result{Consumed: n}
	reply := func(s string) { res.Reply = append(res.Reply, s+"\r\n"...) }
	authFail := func() {
		reply("-ERR [AUTH] Authentication failed.")
		st.user, st.hasUser = nil, false
	}
	if st.authWait {
		st.authWait = false
		if fs, ok := plain("pop3", l); ok && string(bytes.TrimSpace(l)) != "*" {
			res.Fields = fs
			authFail()
		} else {
			reply("-ERR Authentication aborted by client.")
		}
		return res
	}
	verb, arg, _ := bytes.Cut(l, []byte{' '})
	cmd := strings.ToUpper(string(verb))
	res.Fields = []event.Field{{Key: "command", Value: field(verb)}}
	if len(arg) > 0 && cmd != "PASS" && cmd != "AUTH" {
		res.Fields = append(res.Fields, event.Field{Key: "argument", Value: field(arg)})
	}
	switch cmd {
	case "CAPA":
		res.Reply = append(res.Reply, pop3Capa...)
	case "USER":
		st.user, st.hasUser = append([]byte(nil), arg[:min(len(arg), maxField)]...), true
		reply("+OK")
	case "PASS":
		if !st.hasUser {
			reply("-ERR No username given.")
			break
		}
		res.Fields = append(res.Fields, event.Field{Key: "user", Value: field(st.user)},
			event.Field{Key: "password", Value: field(arg)}, event.AuthField("pop3", field(st.user), field(arg), false))
		authFail()
	case "AUTH":
		mech, ir, _ := bytes.Cut(arg, []byte{' '})
		res.Fields = append(res.Fields, event.Field{Key: "auth_mechanism", Value: field(mech)})
		switch {
		case !strings.EqualFold(string(mech), "PLAIN"):
			reply("-ERR [AUTH] Unsupported authentication mechanism.")
		case len(ir) == 0:
			st.authWait = true
			reply("+ ")
		default:
			fs, ok := plain("pop3", ir)
			res.Fields = append(res.Fields, fs...)
			if !ok {
				reply("-ERR Invalid base64 data in initial response")
				break
			}
			authFail()
		}
	case "STLS":
		switch {
		case c.InTLS:
			reply("-ERR [IN-USE] TLS already active.")
		case c.CanStartTLS:
			reply("+OK Begin TLS negotiation now.")
			res.StartTLS = true
		default:
			reply("-ERR TLS support isn't enabled.")
		}
	case "QUIT":
		reply("+OK Logging out")
		res.Close = true
	default:
		st.bad++
		if st.bad >= maxBad {
			reply("-ERR Too many bad commands.")
			res.Close = true
			break
		}
		reply("-ERR Unknown command.")
	}
	return res
}

// IMAP is the IMAP handler.
type IMAP struct{}

// NewIMAP returns the IMAP handler.
func NewIMAP() *IMAP { return &IMAP{} }

// Name implements app.Handler.
func (*IMAP) Name() string { return "imap" }

// Service implements app.Greeter.
func (*IMAP) Service() string { return "imap" }

// Detect implements app.Handler: IMAP is server-first, reached through
// Greet only.
func (*IMAP) Detect([]byte, app.Transport) app.Verdict { return app.No }

const imapCaps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN"

type imapState struct {
	c       *app.Conn // of the current call (TLS state)
	bad     int
	pending []byte // command so far when it continues after a literal
	literal int    // literal bytes still to read
	authTag []byte // AUTHENTICATE waiting for the client's response
}

// Greet implements app.Greeter.
func (*IMAP) Greet(c *app.Conn) app.Result {
	c.State = &imapState{}
	return app.Result{Reply: []byte("* OK [CAPABILITY " + imapCaps + "] " + productText(c, "imap") + " ready.\r\n")}
}

const imapBad = " BAD Error in IMAP command received by server."

// Serve implements app.Handler: one line (or literal) per call.
func (*IMAP) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*imapState)
	if !ok {
		st = &imapState{}
		c.State = st
	}
	st.c = c
	if st.literal > 0 {
		if len(data) < st.literal {
			if len(data) >= maxLine {
				return app.Result{Consumed: len(data), Close: true}
			}
			return app.Result{NeedMore: true}
		}
		st.pending = append(st.pending, data[:st.literal]...)
		n := st.literal
		st.literal = 0
		return app.Result{Consumed: n}
	}
	l, n := line(data)
	switch n {
	case 0:
		return app.Result{NeedMore: true}
	case -1:
		return app.Result{Consumed: len(data), Reply: []byte("* BYE Input line too long.\r\n"), Close: true}
	}
	res := app.Result{Consumed: n}
	reply := func(s string) { res.Reply = append(res.Reply, s+"\r\n"...) }
	if st.authTag != nil {
		tag := st.authTag
		st.authTag = nil
		if fs, ok := plain("imap", l); ok && string(bytes.TrimSpace(l)) != "*" {
			res.Fields = fs
			reply(string(tag) + " NO [AUTHENTICATIONFAILED] Authentication failed.")
		} else {
			reply(string(tag) + " BAD Authentication aborted by client.")
		}
		return res
	}
	// A line ending in a literal announcement continues after the literal.
	if size, sync, ok := literalAt(l); ok {
		if len(st.pending)+len(l)+size > maxLine {
			reply("* BYE Input line too long.")
			res.Close = true
			return res
		}
		st.pending = append(append(st.pending, l...), '\r', '\n')
		st.literal = size
		if sync {
			reply("+ OK")
		}
		return res
	}
	full := l
	if st.pending != nil {
		full = append(st.pending, l...)
		st.pending = nil
	}
	st.command(full, &res)
	return res
}

// literalAt reports a trailing {n} or {n+} (RFC 7888).
func literalAt(l []byte) (size int, sync bool, ok bool) {
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false, false
	}
	num := l[i+1 : len(l)-1]
	sync = true
	if len(num) > 0 && num[len(num)-1] == '+' {
		num, sync = num[:len(num)-1], false
	}
	if len(num) == 0 || len(num) > 6 {
		return 0, false, false
	}
	for _, b := range num {
		if b < '0' || b > '9' {
			return 0, false, false
		}
		size = size*10 + int(b-'0')
	}
	return size, sync, true
}

func (st *imapState) command(l []byte, res *app.Result) {
	reply := func(s string) { res.Reply = append(res.Reply, s+"\r\n"...) }
	tagB, rest, _ := bytes.Cut(l, []byte{' '})
	tag := field(tagB)
	verb, args, _ := bytes.Cut(rest, []byte{' '})
	cmd := strings.ToUpper(string(verb))
	if len(tagB) > 0 {
		res.Fields = append(res.Fields, event.Field{Key: "tag", Value: tag})
	}
	if len(verb) > 0 {
		res.Fields = append(res.Fields, event.Field{Key: "command", Value: field(verb)})
	}
	if len(args) > 0 && cmd != "LOGIN" && cmd != "AUTHENTICATE" {
		res.Fields = append(res.Fields, event.Field{Key: "argument", Value: field(args)})
	}
	if len(tagB) == 0 {
		tag = "*"
	}
	bad := func() {
		st.bad++
		if st.bad >= maxBad {
			reply("* BYE Too many invalid IMAP commands.")
			res.Close = true
			return
		}
		reply(tag + imapBad)
	}
	if len(tagB) == 0 || len(verb) == 0 {
		bad()
		return
	}
	switch cmd {
	case "CAPABILITY":
		reply("* CAPABILITY " + imapCaps)
		reply(tag + " OK Pre-login capabilities listed, post-login capabilities have more.")
	case "NOOP":
		reply(tag + " OK NOOP completed.")
	case "ID":
		reply(`* ID ("name" "Dovecot")`)
		reply(tag + " OK ID completed.")
	case "LOGIN":
		user, r, ok1 := astring(args)
		pass, _, ok2 := astring(bytes.TrimLeft(r, " "))
		if !ok1 || !ok2 {
			bad()
			return
		}
		res.Fields = append(res.Fields, event.Field{Key: "user", Value: field(user)},
			event.Field{Key: "password", Value: field(pass)}, event.AuthField("imap", field(user), field(pass), false))
		reply(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
	case "AUTHENTICATE":
		mech, ir, _ := bytes.Cut(args, []byte{' '})
		res.Fields = append(res.Fields, event.Field{Key: "auth_mechanism", Value: field(mech)})
		switch {
		case !strings.EqualFold(string(mech), "PLAIN"):
			reply(tag + " NO Unsupported authentication mechanism.")
		case len(ir) == 0:
			st.authTag = []byte(tag)
			reply("+ ")
		default:
			fs, ok := plain("imap", ir)
			res.Fields = append(res.Fields, fs...)
			if !ok {
				reply(tag + " BAD Invalid base64 data in initial response")
				return
			}
			reply(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
		}
	case "STARTTLS":
		switch {
		case st.c.InTLS:
			reply(tag + " BAD TLS is already active.")
		case st.c.CanStartTLS:
			reply(tag + " OK Begin TLS negotiation now.")
			res.StartTLS = true
		default:
			reply(tag + " BAD TLS support isn't enabled.")
		}
	case "LOGOUT":
		reply("* BYE Logging out")
		reply(tag + " OK Logout completed.")
		res.Close = true
	default:
		bad()
	}
}

// astring parses an IMAP atom, quoted string or literal (RFC 3501 §4.3)
// at the start of b and returns it with the rest.
func astring(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	switch b[0] {
	case '"':
		var out []byte
		for i := 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				if i+1 >= len(b) {
					return nil, nil, false
				}
				i++
				out = append(out, b[i])
			case '"':
				return out, b[i+1:], true
			default:
				out = append(out, b[i])
			}
		}
		return nil, nil, false
	case '{':
		end := bytes.Index(b, []byte("}\r\n"))
		if end < 0 {
			return nil, nil, false
		}
		size, _, ok := literalAt(b[:end+1])
		if !ok || len(b) < end+3+size {
			return nil, nil, false
		}
		return b[end+3 : end+3+size], b[end+3+size:], true
	default:
		i := bytes.IndexAny(b, " ()")
		if i < 0 {
			i = len(b)
		}
		if i == 0 {
			return nil, nil, false
		}
		return b[:i], b[i:], true
	}
}
