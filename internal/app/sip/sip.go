// Package sip answers SIP requests (RFC 3261) over UDP and TCP the way an
// Asterisk PBX (chan_sip) does: OPTIONS gets 200 OK with the PBX's Server,
// Allow and Supported headers; REGISTER and SUBSCRIBE get a 401 digest
// challenge, INVITE and PUBLISH a 407 one; a request that carries digest
// credentials gets 403 Forbidden (Asterisk's answer to a wrong password)
// and the digest is recorded in hashcat's SIP form (mode 11400). Requests
// outside any dialog (BYE, CANCEL, ...) get 481, ACK nothing.
//
// Requests are detected by their request line (METHOD sip:|sips:|tel:...)
// on any port. Over TCP, messages are framed by Content-Length.
package sip

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "SIP requests over UDP and TCP answered as an Asterisk PBX (OPTIONS, digest challenge, digest recorded)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// DefaultServer is the Server header without a profile banner "sip"
// (chan_sip's "Asterisk PBX <version>").
const DefaultServer = "Asterisk PBX 18.20.2"

// Realm is Asterisk's default digest realm.
const Realm = "asterisk"

const (
	maxHead    = 8 << 10 // request line + headers
	maxBody    = 64 << 10
	maxHeaders = 128
	maxField   = 256 // bytes of a recorded header value
	maxParams  = 32  // digest parameters parsed
	maxMethod  = 32
)

// allowed is chan_sip's ALLOWED_METHODS.
const allowed = "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE"

// knownMethods start the request lines Detect waits for over TCP.
var knownMethods = []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
	"SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}

var schemes = []string{"sip:", "sips:", "tel:"}

// Handler is the SIP protocol handler.
type Handler struct{}

// New returns the SIP handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "sip" }

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

// Detect implements app.Handler: a request line "METHOD scheme:...". Over
// UDP the whole line must be there and end in SIP/2.0.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	sp := bytes.IndexByte(data, ' ')
	if sp < 0 {
		if t == app.UDP || len(data) > maxMethod {
			return app.No
		}
		for _, m := range knownMethods {
			if strings.HasPrefix(m, string(data)) {
				return app.Maybe
			}
		}
		return app.No
	}
	if sp == 0 || sp > maxMethod {
		return app.No
	}
	for _, b := range data[:sp] {
		if !isUpper(b) && b != '-' {
			return app.No
		}
	}
	uri := data[sp+1:]
	v := app.No
	for _, s := range schemes {
		n := min(len(uri), len(s))
		if strings.EqualFold(string(uri[:n]), s[:n]) {
			if n == len(s) {
				v = app.Yes
				break
			}
			v = app.Maybe
		}
	}
	if t == app.UDP {
		if v != app.Yes {
			return app.No
		}
		line, _, ok := bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if !ok || !bytes.HasSuffix(bytes.ToUpper(line), []byte(" SIP/2.0")) {
			return app.No
		}
	}
	return v
}

// request is a parsed SIP message head.
type request struct {
	method, uri, version string
	response             bool // a status line (a client's response): no reply
	vias                 []string
	from, to, callID     string
	cseq, contact, ua    string
	authz                string // Authorization or Proxy-Authorization value
	clen                 int    // -1: none
	headLen              int
	hdrs                 int
}

// compact maps the compact header forms (RFC 3261 §7.3.3 and
// extensions) to the full names, lower case.
var compact = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
	"l": "content-length", "c": "content-type", "k": "supported", "s": "subject",
	"e": "content-encoding", "o": "event", "u": "allow-events", "r": "refer-to",
	"x": "session-expires", "a": "accept-contact", "b": "referred-by", "j": "reject-contact",
	"d": "request-disposition", "y": "identity", "n": "identity-info",
}

type status uint8

const (
	stOK status = iota
	stMore
	stBad
)

// parse reads the head of the message at the start of data. Over UDP
// (whole) the datagram ends the head when no blank line does.
func parse(data []byte, whole bool) (request, status) {
	r := request{clen: -1}
	off := 0
	first := true
	var last *string
	for {
		if off > maxHead {
			return r, stBad
		}
		i := bytes.IndexByte(data[off:], '\n')
		var line []byte
		next := 0
		if i < 0 {
			if !whole {
				if len(data)-off > maxHead {
					return r, stBad
				}
				return r, stMore
			}
			line, next = data[off:], len(data)
		} else {
			line, next = data[off:off+i], off+i+1
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if first {
			if !r.startLine(line) {
				return r, stBad
			}
			first = false
		} else if len(line) == 0 {
			r.headLen = next
			return r, stOK
		} else if line[0] == ' ' || line[0] == '\t' {
			if last != nil && len(*last) < maxHead {
				*last += " " + string(bytes.TrimSpace(line))
			}
		} else {
			last = r.header(line)
		}
		off = next
		if off >= len(data) {
			if whole {
				r.headLen = len(data)
				return r, stOK
			}
			if off > maxHead {
				return r, stBad
			}
			return r, stMore
		}
	}
}

func (r *request) startLine(line []byte) bool {
	f := strings.SplitN(string(line), " ", 3)
	if len(f) != 3 {
		return false
	}
	if strings.EqualFold(f[0], "SIP/2.0") {
		r.response = true
		r.version = f[0]
		return true
	}
	if len(f[0]) == 0 || len(f[0]) > maxMethod || len(f[1]) == 0 {
		return false
	}
	for i := 0; i < len(f[0]); i++ {
		if !isUpper(f[0][i]) && f[0][i] != '-' {
			return false
		}
	}
	if !strings.EqualFold(f[2], "SIP/2.0") {
		return false
	}
	r.method, r.uri, r.version = f[0], f[1], f[2]
	return true
}

// header records one header line; it returns the value a continuation
// line extends (nil: none recorded).
func (r *request) header(line []byte) *string {
	name, val, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		return nil
	}
	r.hdrs++
	if r.hdrs > maxHeaders {
		return nil
	}
	n := strings.ToLower(string(bytes.TrimSpace(name)))
	if full, ok := compact[n]; ok {
		n = full
	}
	v := string(bytes.TrimSpace(val))
	var p *string
	switch n {
	case "via":
		r.vias = append(r.vias, v)
		return &r.vias[len(r.vias)-1]
	case "from":
		p = &r.from
	case "to":
		p = &r.to
	case "call-id":
		p = &r.callID
	case "cseq":
		p = &r.cseq
	case "contact":
		p = &r.contact
	case "user-agent":
		p = &r.ua
	case "authorization", "proxy-authorization":
		p = &r.authz
	case "content-length":
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			r.clen = n
		} else {
			r.clen = maxBody + 1
		}
		return nil
	default:
		return nil
	}
	if *p == "" {
		*p = v
	}
	return p
}

// state is a TCP connection's state: body bytes still to skip.
type state struct{ skip int }

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	udp := c.Transport == app.UDP
	if !udp {
		st, _ := c.State.(*state)
		if st != nil && st.skip > 0 {
			n := min(st.skip, len(data))
			st.skip -= n
			return app.Result{Consumed: n}
		}
		// RFC 5626 keep-alive: CRLFCRLF ping gets a CRLF pong; lone
		// line ends between messages are skipped.
		if bytes.HasPrefix(data, []byte("\r\n\r\n")) {
			return app.Result{Consumed: 4, Reply: []byte("\r\n")}
		}
		if len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
			if len(data) < 4 && bytes.Equal(data, []byte("\r\n\r\n")[:len(data)]) {
				return app.Result{NeedMore: true}
			}
			return app.Result{Consumed: 1}
		}
	}
	r, s := parse(data, udp)
	switch s {
	case stMore:
		return app.Result{NeedMore: true}
	case stBad:
		return app.Result{}
	}
	consumed := len(data)
	if !udp {
		body := max(r.clen, 0)
		consumed = r.headLen + body
		if body > maxBody {
			// answered now, the body is skipped as it comes
			c.State = &state{skip: max(consumed-len(data), 0)}
			consumed = min(consumed, len(data))
		} else if consumed > len(data) {
			return app.Result{NeedMore: true}
		}
	}
	res := app.Result{Consumed: consumed}
	if r.response {
		res.Fields = []event.Field{{Key: "response", Value: app.Printable([]byte(r.version))}}
		return res
	}
	code, reason, challenge := answer(r.method, r.authz != "")
	res.Fields = fields(&r)
	if d, ok := parseDigest(r.authz); ok {
		res.Fields = append(res.Fields, digestFields(c, &r, d)...)
	}
	if code == 0 || len(r.vias) == 0 {
		// ACK is never answered; without a Via there is nowhere to answer.
		return res
	}
	res.Fields = append(res.Fields, event.Field{Key: "status", Value: code})
	res.Reply = reply(c, &r, code, reason, challenge)
	return res
}

// answer is chan_sip's reply to a request outside any dialog: the code,
// its reason phrase and the challenge header to send (401/407).
func answer(method string, creds bool) (int, string, string) {
	switch method {
	case "OPTIONS":
		return 200, "OK", ""
	case "REGISTER", "SUBSCRIBE":
		if creds {
			return 403, "Forbidden", ""
		}
		return 401, "Unauthorized", "WWW-Authenticate"
	case "INVITE", "PUBLISH":
		if creds {
			return 403, "Forbidden", ""
		}
		return 407, "Proxy Authentication Required", "Proxy-Authenticate"
	case "ACK":
		return 0, "", ""
	case "MESSAGE":
		return 405, "Method Not Allowed", ""
	case "BYE", "CANCEL", "INFO", "PRACK", "UPDATE", "REFER", "NOTIFY":
		return 481, "Call leg/transaction does not exist", ""
	}
	return 501, "Method Not Implemented", ""
}

// topVia is the top Via value with received and rport (RFC 3581; chan_sip
// forces rport) set to the client's address.
func topVia(v string, c *app.Conn) string {
	first, rest := v, ""
	if i := strings.IndexByte(v, ','); i >= 0 {
		first, rest = v[:i], v[i:]
	}
	parts := strings.Split(first, ";")
	var sb strings.Builder
	sb.WriteString(parts[0])
	for _, p := range parts[1:] {
		k := strings.ToLower(strings.TrimSpace(p))
		if k == "rport" || strings.HasPrefix(k, "rport=") || strings.HasPrefix(k, "received=") {
			continue
		}
		sb.WriteByte(';')
		sb.WriteString(p)
	}
	sb.WriteString(";received=")
	sb.WriteString(c.Client.Addr().Unmap().String())
	sb.WriteString(";rport=")
	sb.WriteString(strconv.Itoa(int(c.Client.Port())))
	sb.WriteString(rest)
	return sb.String()
}

func hasTag(to string) bool {
	// the tag is a parameter after the URI (after '>' for name-addr)
	if i := strings.LastIndexByte(to, '>'); i >= 0 {
		to = to[i:]
	}
	return strings.Contains(strings.ToLower(to), ";tag=")
}

func randHex(c *app.Conn, n int) string {
	b := make([]byte, n)
	if c.Rand != nil {
		c.Rand(b)
	}
	return hex.EncodeToString(b)
}

// reply builds the response; over UDP it takes the first form that fits
// c.MaxReply: full, without optional headers, then in compact form (RFC
// 3261 §7.3.3) without Server. nil when none fits.
func reply(c *app.Conn, r *request, code int, reason, challenge string) []byte {
	to := r.to
	if to != "" && !hasTag(to) {
		to += ";tag=as" + randHex(c, 4)
	}
	var chal string
	if challenge != "" {
		chal = `Digest algorithm=MD5, realm="` + Realm + `", nonce="` + randHex(c, 4) + `"`
	}
	for form := 0; form < 3; form++ {
		b := build(c, r, code, reason, to, challenge, chal, form)
		if c.Transport != app.UDP || c.MaxReply <= 0 || len(b) <= c.MaxReply {
			return b
		}
	}
	return nil
}

// build writes the response in form 0 (full), 1 (no optional headers) or
// 2 (compact names, no Server).
func build(c *app.Conn, r *request, code int, reason, to, challenge, chal string, form int) []byte {
	var b bytes.Buffer
	name := func(full, short string) string {
		if form == 2 && short != "" {
			return short
		}
		return full
	}
	hdr := func(n, v string) {
		b.WriteString(n)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	b.WriteString("SIP/2.0 ")
	b.WriteString(strconv.Itoa(code))
	b.WriteByte(' ')
	b.WriteString(reason)
	b.WriteString("\r\n")
	for i, v := range r.vias {
		if i == 0 {
			v = topVia(v, c)
		}
		hdr(name("Via", "v"), v)
	}
	if r.from != "" {
		hdr(name("From", "f"), r.from)
	}
	if to != "" {
		hdr(name("To", "t"), to)
	}
	if r.callID != "" {
		hdr(name("Call-ID", "i"), r.callID)
	}
	if r.cseq != "" {
		hdr("CSeq", r.cseq)
	}
	if form < 2 {
		hdr("Server", c.Banner("sip", DefaultServer))
	}
	if form == 0 {
		hdr("Allow", allowed)
		hdr("Supported", "replaces, timer")
		if code == 200 {
			contact := "<sip:" + c.Server.String()
			if c.Transport == app.TCP {
				contact += ";transport=TCP"
			}
			hdr("Contact", contact+">")
			hdr("Accept", "application/sdp")
		}
	}
	if challenge != "" {
		hdr(challenge, chal)
	}
	hdr(name("Content-Length", "l"), "0")
	b.WriteString("\r\n")
	return b.Bytes()
}

func field(s string) string {
	if len(s) > maxField {
		s = s[:maxField]
	}
	return app.Printable([]byte(s))
}

func fields(r *request) []event.Field {
	f := []event.Field{
		{Key: "method", Value: field(r.method)},
		{Key: "uri", Value: field(r.uri)},
	}
	add := func(k, v string) {
		if v != "" {
			f = append(f, event.Field{Key: k, Value: field(v)})
		}
	}
	if len(r.vias) > 0 {
		add("via", r.vias[0])
	}
	add("from", r.from)
	add("to", r.to)
	add("contact", r.contact)
	add("user_agent", r.ua)
	add("call_id", r.callID)
	add("cseq", r.cseq)
	return f
}

// digest is the parameters of a Digest Authorization header.
type digest map[string]string

// parseDigest parses `Digest k=v, k="v", ...`.
func parseDigest(h string) (digest, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Digest") {
		return nil, false
	}
	d := digest{}
	s := rest
	for n := 0; n < maxParams; n++ {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var v string
		if strings.HasPrefix(s, `"`) {
			var sb strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				sb.WriteByte(s[i])
			}
			v = sb.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		if _, dup := d[k]; !dup {
			d[k] = v
		}
	}
	if d["username"] == "" && d["response"] == "" {
		return nil, false
	}
	return d, true
}

// hashcatField keeps a value usable in hashcat's '*'-separated line.
func hashcatField(s string) string {
	s = strings.ReplaceAll(s, "*", "")
	if len(s) > maxField {
		s = s[:maxField]
	}
	return app.Printable([]byte(s))
}

// Hashcat is the digest in hashcat's SIP digest form (mode 11400):
// $sip$*server*client*user*realm*method*uri-prefix*uri-resource*uri-suffix*
// nonce*cnonce*nc*qop*MD5*response, where the URI is
// prefix:resource[:suffix].
func Hashcat(server, client, method string, d digest) string {
	uri := d["uri"]
	prefix, resource, suffix := "", uri, ""
	if p, rest, ok := strings.Cut(uri, ":"); ok {
		prefix, resource = p, rest
		if r, s, ok := strings.Cut(rest, ":"); ok {
			resource, suffix = r, s
		}
	}
	parts := []string{"$sip$", server, client, d["username"], d["realm"], method, prefix, resource, suffix,
		d["nonce"], d["cnonce"], d["nc"], d["qop"], "MD5", strings.ToLower(d["response"])}
	for i := 1; i < len(parts); i++ {
		parts[i] = hashcatField(parts[i])
	}
	return strings.Join(parts, "*")
}

func digestFields(c *app.Conn, r *request, d digest) []event.Field {
	f := []event.Field{
		event.AuthHashField("sip", field(d["username"]),
			Hashcat(c.Server.Addr().Unmap().String(), c.Client.Addr().Unmap().String(), r.method, d),
			"sip-digest", false),
	}
	for _, k := range []string{"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "nc", "qop"} {
		if v, ok := d[k]; ok {
			f = append(f, event.Field{Key: "digest_" + k, Value: field(v)})
		}
	}
	return f
}
