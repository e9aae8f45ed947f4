// Package ftp plays an FTP server that greets first and never lets anyone
// in: vsftpd 3.0.3 as Debian ships it by default, or ProFTPD when the host
// profile's "ftp" banner names it. It answers the commands a client may
// send before logging in the way that server does and records each
// command line and every user/password pair tried.
package ftp

import (
	"bytes"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "FTP server greeting and login (vsftpd 3.0.3, or ProFTPD per profile), records commands and credentials"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	// maxLine is vsftpd's command line limit (VSFTP_MAX_COMMAND_LINE);
	// a client that sends more without a line end is disconnected.
	maxLine = 4096
	// maxFails is the failed logins after which both servers hang up
	// (vsftpd max_login_fails, ProFTPD MaxLoginAttempts: 3).
	maxFails = 3
	// maxField caps a recorded argument.
	maxField = 256
)

const vsftpdGreeting = "220 (vsFTPd 3.0.3)\r\n"

// vsftpd's FEAT answer with Debian's defaults (no TLS, no UTF8 tunable).
const vsftpdFeat = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n"

// ProFTPD 1.3.8's FEAT answer without mod_tls enabled.
const proftpdFeat = "211-Features:\r\n LANG en-US*\r\n MFMT\r\n UTF8\r\n" +
	" MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;\r\n" +
	" SITE COPY\r\n SITE MKDIR\r\n SITE RMDIR\r\n SITE SYMLINK\r\n SITE UTIME\r\n" +
	" EPRT\r\n EPSV\r\n MDTM\r\n REST STREAM\r\n SIZE\r\n MFF modify;UNIX.group;UNIX.mode;\r\n TVFS\r\n211 End\r\n"

// ProFTPD's HELP answer (mod_core's command table).
const proftpdHelp = "214-The following commands are recognized (* =>'s unimplemented):\r\n" +
	" CWD     XCWD    CDUP    XCUP    SMNT*   QUIT    PORT    PASV    \r\n" +
	" EPRT    EPSV    ALLO*   RNFR    RNTO    DELE    MDTM    RMD     \r\n" +
	" XRMD    MKD     XMKD    PWD     XPWD    SIZE    SYST    HELP    \r\n" +
	" NOOP    FEAT    OPTS    HOST    CLNT    AUTH*   CCC*    CONF*   \r\n" +
	" ENC*    MIC*    PBSZ*   PROT*   TYPE    STRU    MODE    RETR    \r\n" +
	" STOR    STOU    APPE    REST    ABOR    RANG    USER    PASS    \r\n" +
	" ACCT*   REIN*   LIST    NLST    STAT    SITE    MLSD    MLST    \r\n" +
	"214 Direct comments to root@localhost\r\n"

// Handler is the FTP protocol handler.
type Handler struct{}

// New returns the FTP handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "ftp" }

// Service implements app.Greeter.
func (*Handler) Service() string { return "ftp" }

// Detect implements app.Handler. FTP clients wait for the greeting, so
// content never identifies FTP: the stack reaches this handler through
// Greet.
func (*Handler) Detect([]byte, app.Transport) app.Verdict { return app.No }

// state is the per-connection login state.
type state struct {
	proftpd bool
	user    string
	hasUser bool
	fails   int
}

// Greet implements app.Greeter.
func (*Handler) Greet(c *app.Conn) app.Result {
	st := &state{}
	c.State = st
	b := c.Banner("ftp", "")
	b = strings.TrimRight(b, "\r\n")
	if i := strings.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	switch {
	case b == "":
		return app.Result{Reply: []byte(vsftpdGreeting)}
	case strings.Contains(strings.ToLower(b), "proftpd"):
		st.proftpd = true
		ident := "ProFTPD Server (Debian)"
		if strings.Contains(b, "Server") {
			ident = b
		}
		return app.Result{Reply: []byte("220 " + ident + " [" + serverAddr(c) + "]\r\n")}
	default:
		return app.Result{Reply: []byte("220 " + b + "\r\n")}
	}
}

// serverAddr is our address as ProFTPD shows it from its dual-stack
// socket: IPv4 as an IPv4-mapped IPv6 address.
func serverAddr(c *app.Conn) string {
	a := c.Server.Addr()
	if a.Is4() {
		return "::ffff:" + a.String()
	}
	return a.String()
}

// Serve implements app.Handler: one command line per call.
func (h *Handler) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*state)
	if !ok {
		st = &state{}
		c.State = st
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) >= maxLine {
			return app.Result{Consumed: len(data), Close: true,
				Fields: []event.Field{{Key: "error", Value: "line too long"}}}
		}
		return app.Result{NeedMore: true}
	}
	if i >= maxLine {
		return app.Result{Consumed: i + 1, Close: true,
			Fields: []event.Field{{Key: "error", Value: "line too long"}}}
	}
	line := bytes.TrimSuffix(data[:i], []byte{'\r'})
	cmdB, argB, _ := bytes.Cut(line, []byte{' '})
	cmd := strings.ToUpper(string(cmdB))
	arg := string(argB)
	res := app.Result{Consumed: i + 1}
	if len(line) == 0 {
		return res // both servers ignore empty lines (NAT helpers send them)
	}
	res.Fields = []event.Field{
		{Key: "command", Value: field(cmdB)},
		{Key: "argument", Value: field(argB)},
	}
	if st.proftpd {
		h.proftpd(st, cmd, arg, &res)
	} else {
		h.vsftpd(st, cmd, arg, &res)
	}
	return res
}

func field(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	return app.Printable(b)
}

func (st *state) pass(arg string, res *app.Result) {
	res.Fields = append(res.Fields,
		event.Field{Key: "user", Value: field([]byte(st.user))},
		event.Field{Key: "password", Value: field([]byte(arg))},
		event.AuthField("ftp", field([]byte(st.user)), field([]byte(arg)), false))
	st.user, st.hasUser = "", false
	st.fails++
	res.Close = st.fails >= maxFails
}

// vsftpd answers before login: USER, PASS, QUIT, FEAT and OPTS are
// handled, an empty line is ignored, anything else (SYST, PASV, LIST, an
// HTTP request line...) is refused with 530.
func (*Handler) vsftpd(st *state, cmd, arg string, res *app.Result) {
	reply := func(s string) { res.Reply = append(res.Reply, s+"\r\n"...) }
	switch cmd {
	case "USER":
		if strings.EqualFold(arg, "root") {
			st.user, st.hasUser = "", false
			reply("530 Permission denied.")
			res.Fields = append(res.Fields, event.Field{Key: "user", Value: field([]byte(arg))})
			return
		}
		st.user, st.hasUser = arg, true
		reply("331 Please specify the password.")
	case "PASS":
		if !st.hasUser {
			reply("503 Login with USER first.")
			return
		}
		reply("530 Login incorrect.")
		st.pass(arg, res)
	case "QUIT":
		reply("221 Goodbye.")
		res.Close = true
	case "FEAT":
		res.Reply = append(res.Reply, vsftpdFeat...)
	case "OPTS":
		if strings.EqualFold(arg, "UTF8 ON") {
			reply("200 Always in UTF8 mode.")
		} else {
			reply("501 Option not understood.")
		}
	default:
		reply("530 Please login with USER and PASS.")
	}
}

// commands ProFTPD knows (and refuses before login with 530); others get
// "500 X not understood".
var proftpdKnown = map[string]bool{}

func init() {
	for _, c := range strings.Fields("CWD XCWD CDUP XCUP SMNT PORT PASV EPRT EPSV ALLO RNFR RNTO DELE MDTM RMD XRMD MKD XMKD PWD XPWD SIZE TYPE STRU MODE RETR STOR STOU APPE REST ABOR RANG ACCT REIN LIST NLST STAT SITE MLSD MLST MFMT MFF LANG AUTH CCC CONF ENC MIC PBSZ PROT") {
		proftpdKnown[c] = true
	}
}

// proftpd answers before login the way ProFTPD 1.3.8 does: SYST, FEAT,
// HELP, NOOP, HOST, CLNT and OPTS need no login; an HTTP request line
// makes it hang up.
func (*Handler) proftpd(st *state, cmd, arg string, res *app.Result) {
	reply := func(s string) { res.Reply = append(res.Reply, s+"\r\n"...) }
	switch cmd {
	case "USER":
		st.user, st.hasUser = arg, true
		reply("331 Password required for " + firstLine(arg))
	case "PASS":
		if !st.hasUser {
			reply("503 Login with USER first")
			return
		}
		reply("530 Login incorrect.")
		st.pass(arg, res)
	case "QUIT":
		reply("221 Goodbye.")
		res.Close = true
	case "SYST":
		reply("215 UNIX Type: L8")
	case "FEAT":
		res.Reply = append(res.Reply, proftpdFeat...)
	case "HELP":
		res.Reply = append(res.Reply, proftpdHelp...)
	case "NOOP":
		reply("200 NOOP command successful")
	case "OPTS":
		if strings.EqualFold(arg, "UTF8 ON") {
			reply("200 UTF8 set to on")
		} else {
			reply("501 OPTS " + firstWord(arg) + " not understood")
		}
	case "GET", "POST", "HEAD", "PUT", "DELETE", "CONNECT", "OPTIONS", "PATCH":
		res.Close = true // HTTP request to an FTP port: ProFTPD disconnects
	default:
		if proftpdKnown[cmd] {
			reply("530 Please login with USER and PASS")
		} else {
			reply("500 " + printableCmd(cmd) + " not understood")
		}
	}
}

func firstLine(s string) string {
	if len(s) > maxField {
		s = s[:maxField]
	}
	return app.Printable([]byte(s))
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return printableCmd(strings.ToUpper(w))
}

func printableCmd(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return app.Printable([]byte(s))
}
