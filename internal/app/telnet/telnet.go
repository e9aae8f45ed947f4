// Package telnet plays a Telnet server that never lets anyone in: Linux
// telnetd (netkit/inetutils) in front of login(1), or BusyBox telnetd when
// the host profile's "telnet" banner names BusyBox. It negotiates options
// the way that server does, parses the client's stream as Telnet
// (RFC 854), shows the login dialogue and records every user/password pair
// tried, the terminal type and the environment the client sends.
package telnet

import (
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "Telnet server (Linux telnetd, or BusyBox telnetd per profile): option negotiation and login, records credentials, terminal and environment"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	// maxLine caps an input line; a longer line is cut there, processed,
	// and the rest of it, up to its end, discarded.
	maxLine = 1024
	// maxSB caps a subnegotiation's content; the rest is dropped.
	maxSB = 512
	// maxFails is the failed logins after which the connection closes
	// (BusyBox login gives up after 3).
	maxFails = 3
	// maxField caps a recorded value, in bytes before escaping.
	maxField = 256
	// maxName caps the hostname and banner shown.
	maxName = 200
)

// Telnet commands (RFC 854).
const (
	cmdSE   = 240
	cmdSB   = 250
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255
)

// Telnet options.
const (
	optEcho     = 1  // RFC 857
	optSGA      = 3  // RFC 858
	optTType    = 24 // RFC 1091
	optNAWS     = 31 // RFC 1073
	optTSpeed   = 32 // RFC 1079
	optLFlow    = 33 // RFC 1372
	optXDisploc = 35 // RFC 1096
	optOldEnv   = 36 // RFC 1408
	optNewEnv   = 39 // RFC 1572
)

// Subnegotiation qualifiers and NEW-ENVIRON codes.
const (
	qualIS   = 0
	qualSEND = 1
	qualINFO = 2

	envVAR     = 0
	envVALUE   = 1
	envESC     = 2
	envUSERVAR = 3
)

// linuxNeg is Linux telnetd's opening: DO TERMINAL-TYPE, DO TERMINAL-SPEED,
// DO X-DISPLAY-LOCATION, DO NEW-ENVIRON.
var linuxNeg = []byte{
	cmdIAC, cmdDO, optTType,
	cmdIAC, cmdDO, optTSpeed,
	cmdIAC, cmdDO, optXDisploc,
	cmdIAC, cmdDO, optNewEnv,
}

// busyboxNeg is BusyBox telnetd's opening: DO ECHO, DO NAWS, DO LFLOW,
// WILL ECHO, WILL SGA.
var busyboxNeg = []byte{
	cmdIAC, cmdDO, optEcho,
	cmdIAC, cmdDO, optNAWS,
	cmdIAC, cmdDO, optLFlow,
	cmdIAC, cmdWILL, optEcho,
	cmdIAC, cmdWILL, optSGA,
}

const defaultHost = "localhost"

// Handler is the Telnet protocol handler.
type Handler struct {
	// AcceptAfter > 0: the AcceptAfter-th password tried on a connection
	// logs in, and the client gets a shell whose command lines go to the
	// command recorder (package shell); 0: every login fails.
	AcceptAfter int
}

// New returns the Telnet handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "telnet" }

// Service implements app.Greeter.
func (*Handler) Service() string { return "telnet" }

// Detect implements app.Handler. Telnet servers speak first, so content
// never identifies Telnet: the stack reaches this handler through Greet.
func (*Handler) Detect([]byte, app.Transport) app.Verdict { return app.No }

// Per-option negotiation flags (state.opts).
const (
	usOn       = 1 << iota // we WILL
	usAsked                // we sent WILL, no answer yet
	himOn                  // the client WILL
	himAsked               // we sent DO, no answer yet
	refusedUs              // we answered a DO with WONT
	refusedHim             // we answered a WILL with DONT
	recorded               // the option's subnegotiation was recorded
	usOffered              // we sent WILL once: we agree to a DO
	himOffered             // we sent DO once: we agree to a WILL
)

// Dialogue phases.
const (
	phaseUser  = iota // waiting for the user name
	phasePass         // waiting for the password
	phaseShell        // logged in: command lines
	phaseDone         // closed
)

// state is the per-connection Telnet and login state.
type state struct {
	busybox  bool
	host     string
	uname    string // the profile's uname line, "" for the default
	banner   string // shown once before the first prompt (Linux)
	prompted bool   // the first login prompt was sent
	phase    int
	user     string
	fails    int
	accept   int            // Handler.AcceptAfter
	sh       *shell.Session // the shell after a login

	opts [256]uint16

	inSB bool   // inside IAC SB ... IAC SE
	sb   []byte // subnegotiation content (option first), capped at maxSB

	line    []byte // the input line so far
	cr      bool   // the last data byte was CR: a LF or NUL after it is its pair
	discard bool   // dropping the rest of an overlong line
}

func newState(c *app.Conn, accept int) *state {
	st := &state{host: clean(c.Banner("hostname", defaultHost)), accept: accept}
	if st.host == "" {
		st.host = defaultHost
	}
	st.uname = clean(c.Banner("uname", ""))
	b := clean(c.Banner("telnet", ""))
	if strings.Contains(strings.ToLower(b), "busybox") {
		st.busybox = true
	} else {
		st.banner = b
	}
	return st
}

// clean keeps the first line of s, without control bytes (nor IAC), at
// most maxName bytes.
func clean(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < maxName; i++ {
		if c := s[i]; c >= 0x20 && c != 0x7f && c != cmdIAC {
			b = append(b, c)
		}
	}
	return strings.TrimSpace(string(b))
}

// Greet implements app.Greeter. Linux telnetd sends its option requests
// and waits for the answers before it starts login; BusyBox telnetd starts
// login at once, so its prompt follows the options.
func (h *Handler) Greet(c *app.Conn) app.Result {
	st := newState(c, h.AcceptAfter)
	c.State = st
	if st.busybox {
		for _, o := range []byte{optEcho, optNAWS, optLFlow} {
			st.opts[o] |= himAsked | himOffered
		}
		st.opts[optEcho] |= usAsked | usOffered
		st.opts[optSGA] |= usAsked | usOffered
		st.prompted = true
		reply := append([]byte(nil), busyboxNeg...)
		return app.Result{Reply: append(reply, st.host+" login: "...)}
	}
	for _, o := range []byte{optTType, optTSpeed, optXDisploc, optNewEnv} {
		st.opts[o] |= himAsked | himOffered
	}
	return app.Result{Reply: append([]byte(nil), linuxNeg...)}
}

// Serve implements app.Handler. It parses every complete Telnet unit of
// data (commands, subnegotiations, data bytes) and answers them. A partial
// command stays unconsumed; so does a partial line that started in data
// with no command among its bytes (it is parsed again with what follows).
func (h *Handler) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*state)
	if !ok {
		st = newState(c, h.AcceptAfter)
		c.State = st
	}
	if st.phase == phaseDone {
		return app.Result{Consumed: len(data), Close: true}
	}
	var res app.Result
	pos := 0
	lineStart := -1 // where in data the pending line began, -1: none or earlier
loop:
	for pos < len(data) && st.phase != phaseDone {
		empty := len(st.line) == 0
		var n int
		isData := false
		switch {
		case st.inSB:
			n = st.subByte(data[pos:], &res)
			if n == 0 && !st.inSB {
				continue // ended by the command at pos
			}
		case data[pos] != cmdIAC:
			n, isData = 1, true
			st.dataByte(data[pos], &res)
		case len(data)-pos >= 2 && data[pos+1] == cmdIAC:
			n, isData = 2, true
			st.dataByte(cmdIAC, &res) // IAC IAC: a literal 255
		default:
			n = st.command(data[pos:], &res)
		}
		if n == 0 {
			break loop // a partial command: wait for the rest
		}
		switch {
		case len(st.line) == 0:
			lineStart = -1
		case isData && empty:
			lineStart = pos
		case !isData:
			lineStart = -1 // a command inside the line: keep it in the state
		}
		pos += n
		if len(res.Fields) > 0 {
			break // one event per login attempt, command line or option record
		}
	}
	needPrompt := pos > 0 && !st.prompted && st.phase != phaseDone
	consumed := pos
	if lineStart >= 0 && st.phase != phaseDone && (lineStart > 0 || !needPrompt) {
		// The pending line began here and holds only data: leave it in
		// the stream buffer rather than in the state. (Not when it is all
		// there is and the prompt goes out: a reply consumes something.)
		st.line = st.line[:0]
		consumed = lineStart
	}
	if needPrompt {
		st.prompt(&res) // the client answered the negotiation, or typed
	}
	if consumed == 0 && len(res.Reply) == 0 && len(res.Fields) == 0 {
		return app.Result{NeedMore: true}
	}
	res.Consumed = consumed
	res.Close = st.phase == phaseDone
	return res
}

// prompt sends the login prompt, after the banner the first time.
func (st *state) prompt(res *app.Result) {
	if !st.prompted && st.banner != "" {
		res.Reply = append(res.Reply, "\r\n"+st.banner+"\r\n"...)
	}
	st.prompted = true
	res.Reply = append(res.Reply, st.host+" login: "...)
}

// command handles the Telnet command at the start of p (p[0] is IAC, and
// IAC IAC was handled as data) and returns its length, 0 when p holds only
// part of it.
func (st *state) command(p []byte, res *app.Result) int {
	if len(p) < 2 {
		return 0
	}
	switch p[1] {
	case cmdWILL, cmdWONT, cmdDO, cmdDONT:
		if len(p) < 3 {
			return 0
		}
		st.negotiate(p[1], p[2], res)
		return 3
	case cmdSB:
		st.inSB = true
		st.sb = st.sb[:0]
		return 2
	default:
		// NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, a stray SE, or no
		// command at all: dropped.
		return 2
	}
}

// negotiate answers the client's option command: confirmations of what we
// asked get no answer, a request for an option we offered before is
// agreed to, any other request is refused once, and an option turned off
// is acknowledged only when it was on; so two parties following RFC 854
// cannot loop.
func (st *state) negotiate(verb, opt byte, res *app.Result) {
	f := &st.opts[opt]
	send := func(v byte) { res.Reply = append(res.Reply, cmdIAC, v, opt) }
	switch verb {
	case cmdWILL:
		switch {
		case *f&himAsked != 0:
			*f = *f&^himAsked | himOn
			st.askSub(opt, res)
		case *f&himOn != 0:
		case *f&himOffered != 0:
			*f |= himOn
			send(cmdDO)
			st.askSub(opt, res)
		case *f&refusedHim == 0:
			*f |= refusedHim
			send(cmdDONT)
		}
	case cmdWONT:
		switch {
		case *f&himAsked != 0:
			*f &^= himAsked | himOn
		case *f&himOn != 0:
			*f &^= himOn
			send(cmdDONT)
		}
	case cmdDO:
		switch {
		case *f&usAsked != 0:
			*f = *f&^usAsked | usOn
		case *f&usOn != 0:
		case *f&usOffered != 0:
			*f |= usOn
			send(cmdWILL)
		case *f&refusedUs == 0:
			*f |= refusedUs
			send(cmdWONT)
		}
	case cmdDONT:
		switch {
		case *f&usAsked != 0:
			*f &^= usAsked | usOn
		case *f&usOn != 0:
			*f &^= usOn
			send(cmdWONT)
		}
	}
}

// askSub asks, as Linux telnetd does once the client agreed, for the
// value of an option it requested (SB opt SEND).
func (st *state) askSub(opt byte, res *app.Result) {
	switch opt {
	case optTType, optTSpeed, optXDisploc, optNewEnv:
		res.Reply = append(res.Reply, cmdIAC, cmdSB, opt, qualSEND, cmdIAC, cmdSE)
	}
}

// will announces WILL opt unless it is on or asked already.
func (st *state) will(opt byte, res *app.Result) {
	if f := &st.opts[opt]; *f&(usOn|usAsked) == 0 {
		*f |= usAsked | usOffered
		res.Reply = append(res.Reply, cmdIAC, cmdWILL, opt)
	}
}

// wont announces WONT opt if it is on or asked.
func (st *state) wont(opt byte, res *app.Result) {
	if f := &st.opts[opt]; *f&(usOn|usAsked) != 0 {
		*f &^= usOn | usAsked
		res.Reply = append(res.Reply, cmdIAC, cmdWONT, opt)
	}
}

// subByte consumes subnegotiation bytes from p, up to and including the
// closing IAC SE, and returns how many; 0 when p is a lone IAC. An IAC
// followed by another command also ends the subnegotiation (that command
// is left to be parsed).
func (st *state) subByte(p []byte, res *app.Result) int {
	for i := 0; i < len(p); i++ {
		if p[i] != cmdIAC {
			st.sbAdd(p[i])
			continue
		}
		if i+1 >= len(p) {
			return i
		}
		switch p[i+1] {
		case cmdIAC:
			st.sbAdd(cmdIAC)
			i++
		case cmdSE:
			st.sbDone(res)
			return i + 2
		default:
			st.sbDone(res)
			return i
		}
	}
	return len(p)
}

func (st *state) sbAdd(b byte) {
	if len(st.sb) < maxSB {
		st.sb = append(st.sb, b)
	}
}

// sbDone ends a subnegotiation and records what it tells, once per
// option: the terminal type, speed, X display, window size and
// environment.
func (st *state) sbDone(res *app.Result) {
	st.inSB = false
	sb := st.sb
	st.sb = st.sb[:0]
	if len(sb) < 2 || st.opts[sb[0]]&recorded != 0 {
		return
	}
	opt, v := sb[0], sb[2:]
	add := func(k string, v any) {
		res.Fields = append(res.Fields, event.Field{Key: k, Value: v})
		st.opts[opt] |= recorded
	}
	switch opt {
	case optTType:
		if sb[1] == qualIS {
			add("terminal", field(v))
		}
	case optTSpeed:
		if sb[1] == qualIS {
			add("terminal_speed", field(v))
		}
	case optXDisploc:
		if sb[1] == qualIS {
			add("display", field(v))
		}
	case optNAWS:
		if len(sb) == 5 {
			w := int(sb[1])<<8 | int(sb[2])
			h := int(sb[3])<<8 | int(sb[4])
			add("window", strconv.Itoa(w)+"x"+strconv.Itoa(h))
		}
	case optNewEnv, optOldEnv:
		if sb[1] == qualIS || sb[1] == qualINFO {
			env, user, hasUser := environ(v)
			if len(env) > 0 {
				add("environ", field(env))
			}
			if hasUser {
				add("env_user", field(user))
			}
		}
	}
}

// environ decodes a NEW-ENVIRON (or OLD-ENVIRON) IS/INFO list into
// "NAME=VALUE NAME=VALUE" and returns the USER variable's value.
func environ(p []byte) (env, user []byte, hasUser bool) {
	var name, value []byte
	inValue, have := false, false
	flush := func() {
		if !have {
			return
		}
		if len(env) > 0 {
			env = append(env, ' ')
		}
		env = append(env, name...)
		if inValue {
			env = append(env, '=')
			env = append(env, value...)
		}
		if string(name) == "USER" && inValue {
			user, hasUser = append([]byte(nil), value...), true
		}
		name, value, inValue, have = name[:0], value[:0], false, false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; b {
		case envVAR, envUSERVAR:
			flush()
			have = true
		case envVALUE:
			inValue, have = true, true
		default:
			if b == envESC && i+1 < len(p) {
				i++
				b = p[i]
			}
			have = true
			if inValue {
				value = append(value, b)
			} else {
				name = append(name, b)
			}
		}
	}
	flush()
	return env, user, hasUser
}

// dataByte adds one byte of client data to the line; CR LF, CR NUL, a
// lone CR and LF end it.
func (st *state) dataByte(b byte, res *app.Result) {
	if st.cr {
		st.cr = false
		if b == '\n' || b == 0 {
			return // the second half of the line end
		}
	}
	switch b {
	case '\r':
		st.cr = true
		st.endLine(res)
	case '\n':
		st.endLine(res)
	case 0:
		// NUL is a no-op in the NVT
	default:
		if st.discard {
			return
		}
		if st.phase == phaseShell && st.opts[optEcho]&usOn != 0 {
			res.Reply = append(res.Reply, b) // the pty echoes what is typed
		}
		st.line = append(st.line, b)
		if len(st.line) >= maxLine {
			st.lineDone(res)
			st.discard = true
		}
	}
}

func (st *state) endLine(res *app.Result) {
	if st.discard {
		st.discard = false
		return
	}
	st.lineDone(res)
}

// lineDone handles a complete input line: the user name, then the
// password, which always fails.
func (st *state) lineDone(res *app.Result) {
	line := st.line
	st.line = st.line[:0]
	if !st.prompted {
		st.prompt(res) // the client typed before answering the options
		if len(line) == 0 {
			return
		}
	}
	switch st.phase {
	case phaseUser:
		if len(line) == 0 {
			st.prompt(res) // login asks again for an empty name
			return
		}
		st.user = field(line)
		st.will(optEcho, res) // the client stops echoing the password
		res.Reply = append(res.Reply, "Password: "...)
		st.phase = phasePass
	case phaseShell:
		if st.opts[optEcho]&usOn != 0 {
			res.Reply = append(res.Reply, "\r\n"...)
		}
		out, fs := st.sh.Run(string(line))
		res.Fields = append(res.Fields, fs...)
		res.Reply = appendCRLF(res.Reply, out)
		if st.sh.Done() {
			res.Reply = append(res.Reply, "logout\r\n"...)
			st.phase = phaseDone
			return
		}
		res.Reply = append(res.Reply, st.sh.Prompt()...)
	case phasePass:
		st.fails++
		ok := st.accept > 0 && st.fails >= st.accept
		res.Fields = append(res.Fields,
			event.Field{Key: "user", Value: st.user},
			event.Field{Key: "password", Value: field(line)},
			event.Field{Key: "attempt", Value: st.fails},
			event.AuthField("telnet", st.user, field(line), ok))
		if ok {
			st.login(res)
			return
		}
		st.user = ""
		if !st.busybox {
			st.wont(optEcho, res)
		}
		res.Reply = append(res.Reply, "\r\nLogin incorrect\r\n"...)
		if st.fails >= maxFails {
			st.phase = phaseDone
			return
		}
		st.phase = phaseUser
		st.prompt(res)
	}
}

// login starts the shell of a login that succeeded, with the banner login
// and the shell show first.
func (st *state) login(res *app.Result) {
	h := shell.NewHost(st.host, st.uname, st.busybox, st.user)
	st.sh = shell.New(h)
	st.phase = phaseShell
	if st.busybox {
		res.Reply = append(res.Reply, "\r\n\r\nBusyBox v1.31.1 (2021-03-04 10:21:42 CST) built-in shell (ash)\r\n"+
			"Enter 'help' for a list of built-in commands.\r\n\r\n"...)
	} else {
		// login keeps echo on for the shell's pty
		res.Reply = append(res.Reply, "\r\n"...)
		res.Reply = appendCRLF(res.Reply, h.Uname+"\n\nThe programs included with the Debian GNU/Linux system are free software;\n"+
			"the exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\n"+
			"Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n")
	}
	res.Reply = append(res.Reply, st.sh.Prompt()...)
}

// appendCRLF appends s with each LF as CR LF (the NVT's line end) and
// IAC doubled.
func appendCRLF(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			b = append(b, '\r', '\n')
		case cmdIAC:
			b = append(b, cmdIAC, cmdIAC)
		default:
			b = append(b, c)
		}
	}
	return b
}

// field is b capped at maxField bytes, printable.
func field(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	return app.Printable(b)
}
