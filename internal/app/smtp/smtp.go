// Package smtp plays Debian's Postfix 3.7 smtpd: it greets, advertises
// its ESMTP extensions, takes any envelope, reads the message and queues
// it (nowhere), and fails every AUTH. It records the HELO name, the
// envelope, the credentials tried and, for each message, its size,
// Subject and the SHA-256 of its content (never the content itself).
package smtp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "SMTP server (Postfix 3.7, Debian): envelope, AUTH credentials, message size/Subject/SHA-256"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	maxLine     = 2048     // Postfix line_length_limit
	maxMessage  = 10240000 // message_size_limit, advertised in EHLO
	maxErrors   = 20       // smtpd_hard_error_limit
	maxField    = 256      // recorded argument cap
	maxDataLine = 4096     // DATA is hashed in pieces of at most this
	defaultHost = "mail.example.com"
)

// Handler is the SMTP protocol handler.
type Handler struct{}

// New returns the SMTP handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "smtp" }

// Service implements app.Greeter.
func (*Handler) Service() string { return "smtp" }

// Detect implements app.Handler: SMTP clients wait for the greeting, so
// the handler is reached through Greet only.
func (*Handler) Detect([]byte, app.Transport) app.Verdict { return app.No }

type authStep uint8

const (
	authNone authStep = iota
	authPlain
	authLoginUser
	authLoginPass
)

type state struct {
	c        *app.Conn // of the current call (TLS state)
	host     string
	helo     bool
	mail     bool
	rcpts    int
	errors   int
	auth     authStep
	authUser string

	skipLine bool // discarding the rest of an overlong command line

	data     bool // reading the message
	midLine  bool // inside a DATA line (the previous piece had no LF)
	headers  bool // still in the header section
	size     int
	subject  string
	sum      hash.Hash
	tooLarge bool
}

// Greet implements app.Greeter.
func (*Handler) Greet(c *app.Conn) app.Result {
	st := newState(c)
	c.State = st
	text := oneLine(c.Banner("smtp", st.host+" ESMTP Postfix (Debian/GNU)"))
	return app.Result{Reply: []byte("220 " + text + "\r\n")}
}

func newState(c *app.Conn) *state {
	return &state{host: oneLine(c.Banner("hostname", defaultHost))}
}

func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func field(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	return app.Printable(b)
}

// Serve implements app.Handler: one line (or, in DATA, one piece of a
// line) per call.
func (h *Handler) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*state)
	if !ok {
		st = newState(c)
		c.State = st
	}
	st.c = c
	if st.data {
		return st.serveData(c, data)
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) < maxLine {
			return app.Result{NeedMore: true}
		}
		res := app.Result{Consumed: len(data)}
		if !st.skipLine {
			st.skipLine = true
			res.Reply = []byte("500 5.5.2 Error: line too long\r\n")
			res.Fields = []event.Field{{Key: "error", Value: "line too long"}}
			st.fail(&res)
		}
		return res
	}
	res := app.Result{Consumed: i + 1}
	if st.skipLine {
		st.skipLine = false
		return res
	}
	if i >= maxLine {
		res.Reply = []byte("500 5.5.2 Error: line too long\r\n")
		st.fail(&res)
		return res
	}
	line := bytes.TrimSuffix(data[:i], []byte{'\r'})
	if st.auth != authNone {
		st.authResponse(line, &res)
		return res
	}
	st.command(line, &res)
	return res
}

func (st *state) reply(res *app.Result, s string) {
	res.Reply = append(res.Reply, s+"\r\n"...)
}

// fail counts an error reply; Postfix hangs up at the hard limit.
func (st *state) fail(res *app.Result) {
	st.errors++
	if st.errors >= maxErrors {
		st.reply(res, "421 4.7.0 "+st.host+" Error: too many errors")
		res.Close = true
	}
}

func (st *state) command(line []byte, res *app.Result) {
	verb, arg, _ := bytes.Cut(line, []byte{' '})
	cmd := strings.ToUpper(string(verb))
	arg = bytes.TrimSpace(arg)
	res.Fields = []event.Field{{Key: "command", Value: field(verb)}}
	if len(arg) > 0 && cmd != "AUTH" {
		res.Fields = append(res.Fields, event.Field{Key: "argument", Value: field(arg)})
	}
	switch cmd {
	case "EHLO", "HELO":
		if len(arg) == 0 {
			st.reply(res, "501 Syntax: "+cmd+" hostname")
			st.fail(res)
			return
		}
		st.helo = true
		st.mail, st.rcpts = false, 0
		res.Fields = append(res.Fields, event.Field{Key: "helo", Value: field(arg)})
		if cmd == "HELO" {
			st.reply(res, "250 "+st.host)
			return
		}
		st.reply(res, "250-"+st.host)
		for _, ext := range []string{"PIPELINING", "SIZE " + strconv.Itoa(maxMessage), "VRFY", "ETRN",
			"STARTTLS", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"} {
			st.reply(res, "250-"+ext)
		}
		st.reply(res, "250 CHUNKING")
	case "AUTH":
		st.startAuth(arg, res)
	case "MAIL":
		addr, ok := cutPrefixFold(arg, "FROM:")
		switch {
		case !st.helo:
			st.reply(res, "503 5.5.1 Error: send HELO/EHLO first")
			st.fail(res)
		case st.mail:
			st.reply(res, "503 5.5.1 Error: nested MAIL command")
			st.fail(res)
		case !ok:
			st.reply(res, "501 5.5.4 Syntax: MAIL FROM:<address>")
			st.fail(res)
		default:
			st.mail = true
			res.Fields = append(res.Fields, event.Field{Key: "mail_from", Value: field(bytes.TrimSpace(addr))})
			st.reply(res, "250 2.1.0 Ok")
		}
	case "RCPT":
		addr, ok := cutPrefixFold(arg, "TO:")
		switch {
		case !st.mail:
			st.reply(res, "503 5.5.1 Error: need MAIL command")
			st.fail(res)
		case !ok:
			st.reply(res, "501 5.5.4 Syntax: RCPT TO:<address>")
			st.fail(res)
		default:
			st.rcpts++
			res.Fields = append(res.Fields, event.Field{Key: "rcpt_to", Value: field(bytes.TrimSpace(addr))})
			st.reply(res, "250 2.1.5 Ok")
		}
	case "DATA":
		switch {
		case !st.mail:
			st.reply(res, "503 5.5.1 Error: need RCPT command")
			st.fail(res)
		case st.rcpts == 0:
			st.reply(res, "554 5.5.1 Error: no valid recipients")
			st.fail(res)
		default:
			st.data, st.midLine, st.headers = true, false, true
			st.size, st.subject, st.tooLarge = 0, "", false
			st.sum = sha256.New()
			st.reply(res, "354 End data with <CR><LF>.<CR><LF>")
		}
	case "RSET":
		st.mail, st.rcpts = false, 0
		st.reply(res, "250 2.0.0 Ok")
	case "NOOP":
		st.reply(res, "250 2.0.0 Ok")
	case "VRFY":
		if len(arg) == 0 {
			st.reply(res, "501 5.5.4 Syntax: VRFY address")
			st.fail(res)
			return
		}
		st.reply(res, "252 2.0.0 "+field(arg))
	case "QUIT":
		st.reply(res, "221 2.0.0 Bye")
		res.Close = true
	case "STARTTLS":
		switch {
		case st.c.InTLS:
			st.reply(res, "554 5.5.1 Error: TLS already active")
		case st.c.CanStartTLS:
			// RFC 3207: the session starts over inside TLS
			st.reply(res, "220 2.0.0 Ready to start TLS")
			res.StartTLS = true
		default:
			st.reply(res, "454 4.7.0 TLS not available due to local problem")
		}
	case "CONNECT", "GET", "POST":
		// smtpd_forbidden_commands: a proxy or browser request.
		st.reply(res, "221 2.7.0 Error: I can break rules, too. Goodbye.")
		res.Close = true
	default:
		st.reply(res, "502 5.5.2 Error: command not recognized")
		st.fail(res)
	}
}

func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || !strings.EqualFold(string(b[:len(prefix)]), prefix) {
		return nil, false
	}
	return b[len(prefix):], true
}

func (st *state) startAuth(arg []byte, res *app.Result) {
	mech, initial, _ := bytes.Cut(arg, []byte{' '})
	m := strings.ToUpper(string(mech))
	res.Fields = append(res.Fields, event.Field{Key: "auth_mechanism", Value: field(mech)})
	switch {
	case !st.helo:
		st.reply(res, "503 5.5.1 Error: send HELO/EHLO first")
		st.fail(res)
	case len(mech) == 0:
		st.reply(res, "501 5.5.4 Syntax: AUTH mechanism")
		st.fail(res)
	case m == "PLAIN":
		if len(initial) == 0 {
			st.auth = authPlain
			st.reply(res, "334 ")
			return
		}
		st.auth = authPlain
		st.authResponse(initial, res)
	case m == "LOGIN":
		if len(initial) == 0 {
			st.auth = authLoginUser
			st.reply(res, "334 VXNlcm5hbWU6") // "Username:"
			return
		}
		st.auth = authLoginUser
		st.authResponse(initial, res)
	default:
		st.reply(res, "535 5.7.8 Error: authentication failed: Invalid authentication mechanism")
		st.fail(res)
	}
}

// authResponse takes one base64 line of a SASL exchange.
func (st *state) authResponse(line []byte, res *app.Result) {
	step := st.auth
	if string(bytes.TrimSpace(line)) == "*" {
		st.auth, st.authUser = authNone, ""
		st.reply(res, "501 5.7.0 Authentication aborted")
		st.fail(res)
		return
	}
	dec, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(line)))
	if err != nil {
		st.auth, st.authUser = authNone, ""
		st.reply(res, "501 5.5.2 Cannot decode response")
		st.fail(res)
		return
	}
	switch step {
	case authLoginUser:
		st.authUser = field(dec)
		st.auth = authLoginPass
		st.reply(res, "334 UGFzc3dvcmQ6") // "Password:"
		return
	case authLoginPass:
		res.Fields = append(res.Fields,
			event.Field{Key: "user", Value: st.authUser},
			event.Field{Key: "password", Value: field(dec)},
			event.AuthField("smtp", st.authUser, field(dec), false))
	case authPlain:
		parts := bytes.SplitN(dec, []byte{0}, 3)
		if len(parts) == 3 {
			if len(parts[0]) > 0 {
				res.Fields = append(res.Fields, event.Field{Key: "authzid", Value: field(parts[0])})
			}
			res.Fields = append(res.Fields,
				event.Field{Key: "user", Value: field(parts[1])},
				event.Field{Key: "password", Value: field(parts[2])},
				event.AuthField("smtp", field(parts[1]), field(parts[2]), false))
		} else {
			res.Fields = append(res.Fields, event.Field{Key: "auth_response", Value: field(dec)})
		}
	}
	st.auth, st.authUser = authNone, ""
	st.reply(res, "535 5.7.8 Error: authentication failed: authentication failure")
	st.fail(res)
}

// serveData reads the message a piece at a time, so that a message larger
// than the connection buffer streams through; it ends at a line holding a
// single dot.
func (st *state) serveData(c *app.Conn, data []byte) app.Result {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) < maxDataLine {
			return app.Result{NeedMore: true}
		}
		st.body(data)
		st.midLine = true
		return app.Result{Consumed: len(data)}
	}
	piece := data[:i+1]
	res := app.Result{Consumed: i + 1}
	if !st.midLine {
		line := bytes.TrimSuffix(bytes.TrimSuffix(piece, []byte{'\n'}), []byte{'\r'})
		if string(line) == "." {
			return st.endData(c, res)
		}
		if st.headers {
			if len(line) == 0 {
				st.headers = false
			} else if k, v, ok := bytes.Cut(line, []byte{':'}); ok && st.subject == "" && strings.EqualFold(string(k), "Subject") {
				st.subject = field(bytes.TrimSpace(v))
			}
		}
		if len(piece) > 1 && piece[0] == '.' {
			piece = piece[1:] // dot-stuffing (RFC 5321 §4.5.2)
		}
	}
	st.body(piece)
	st.midLine = false
	return res
}

func (st *state) body(b []byte) {
	st.size += len(b)
	if st.size > maxMessage {
		st.tooLarge = true
		return
	}
	st.sum.Write(b)
}

func (st *state) endData(c *app.Conn, res app.Result) app.Result {
	st.data = false
	st.mail, st.rcpts = false, 0
	res.Fields = []event.Field{
		{Key: "message_size", Value: st.size},
		{Key: "subject", Value: st.subject},
	}
	if st.tooLarge {
		st.reply(&res, "552 5.3.4 Error: message file too big")
		return res
	}
	res.Fields = append(res.Fields, event.Field{Key: "body_sha256", Value: hex.EncodeToString(st.sum.Sum(nil))})
	id := make([]byte, 5)
	if c.Rand != nil {
		c.Rand(id)
	}
	st.reply(&res, "250 2.0.0 Ok: queued as "+strings.ToUpper(hex.EncodeToString(id)))
	st.sum = nil
	return res
}
