// Package http answers HTTP requests with a 401 Unauthorized page, the reply
// that makes scanners and bots show their hand (credentials, paths, headers).
//
// Requests are detected by their request line (an RFC 9110 or WebDAV method,
// case-sensitive, a space and the start of a request-target in origin,
// absolute, authority or asterisk form). Over TCP, every request of a
// keep-alive or pipelined stream is answered in turn.
package http

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "HTTP/0.9-1.1 requests answered with a 401 Unauthorized page (nginx)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// Limits.
const (
	maxHeader = 12 << 10 // request line + header block
	maxBody   = 2 << 10  // body bytes we wait for before answering
	maxFields = 64       // header names recorded
)

var methods = []string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	// WebDAV (RFC 4918, RFC 3253 subset)
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
}

// Handler is the HTTP protocol handler.
type Handler struct{}

// New returns the HTTP handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "http" }

// Detect implements app.Handler.
func (*Handler) Detect(data []byte, _ app.Transport) app.Verdict {
	return startVerdict(data)
}

// startVerdict says whether data starts like an HTTP request line.
func startVerdict(data []byte) app.Verdict {
	if len(data) == 0 {
		return app.Maybe
	}
	v := app.No
	for _, m := range methods {
		if len(data) <= len(m) {
			if strings.HasPrefix(m, string(data)) {
				v = app.Maybe
			}
			continue
		}
		if string(data[:len(m)]) != m || data[len(m)] != ' ' {
			continue
		}
		if r := targetVerdict(m, data[len(m)+1:]); r > v {
			v = r
		}
	}
	return v
}

// targetVerdict checks the start of a request-target for method m.
func targetVerdict(m string, t []byte) app.Verdict {
	if len(t) == 0 {
		return app.Maybe
	}
	switch {
	case t[0] == '/':
		return app.Yes
	case t[0] == '*':
		if m == "OPTIONS" {
			return app.Yes
		}
		return app.No
	}
	if m == "CONNECT" {
		// authority-form: host[:port], host may be an IPv6 literal
		if isAlnum(t[0]) || t[0] == '[' {
			return app.Yes
		}
		return app.No
	}
	for _, s := range []string{"http://", "https://"} {
		n := min(len(t), len(s))
		if strings.EqualFold(string(t[:n]), s[:n]) {
			if n == len(s) {
				return app.Yes
			}
			return app.Maybe
		}
	}
	return app.No
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func isMethod(s []byte) bool {
	for _, m := range methods {
		if string(s) == m {
			return true
		}
	}
	return false
}

// isTchar reports whether b may appear in a header field name (RFC 9110 token).
func isTchar(b byte) bool {
	if isAlnum(b) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// request is a parsed request head.
type request struct {
	method, target, version []byte
	v09                     bool
	minor                   int // HTTP/1.x minor version
	headers                 []string
	host, ua                []byte
	hostSet, uaSet          bool
	authz                   []byte // the Authorization header's value

	contentLength       int // -1: none
	chunked             bool
	connClose, connKeep bool
	headLen             int // bytes of request line + headers
}

type status uint8

const (
	stOK status = iota
	stMore
	stBad
)

// nextLine returns the line at data[off:] without its LF or CRLF and the
// offset after it; ok is false when no LF is buffered.
func nextLine(data []byte, off int) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(data[off:], '\n')
	if i < 0 {
		return nil, 0, false
	}
	line = data[off : off+i]
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return line, off + i + 1, true
}

func parseVersion(v []byte) (major, minor int, ok bool) {
	if !bytes.HasPrefix(v, []byte("HTTP/")) {
		return 0, 0, false
	}
	v = v[5:]
	dot := bytes.IndexByte(v, '.')
	if dot < 1 || dot > 3 || len(v)-dot-1 < 1 || len(v)-dot-1 > 3 {
		return 0, 0, false
	}
	for i, b := range v {
		if i != dot && (b < '0' || b > '9') {
			return 0, 0, false
		}
	}
	major, _ = strconv.Atoi(string(v[:dot]))
	minor, _ = strconv.Atoi(string(v[dot+1:]))
	return major, minor, true
}

// parse parses the request head at the start of data.
func parse(data []byte) (request, status) {
	r := request{contentLength: -1}
	line, off, ok := nextLine(data, 0)
	if !ok {
		if len(data) > maxHeader || startVerdict(data) == app.No {
			return r, stBad
		}
		return r, stMore
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || !isMethod(line[:sp]) {
		return r, stBad
	}
	r.method = line[:sp]
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		r.target = rest
	} else {
		r.target = rest[:sp]
		r.version = rest[sp+1:]
	}
	if len(r.target) == 0 || targetVerdict(string(r.method), r.target) != app.Yes {
		return r, stBad
	}
	for _, b := range r.target {
		if b <= ' ' || b == 0x7f {
			return r, stBad
		}
	}
	if r.version == nil {
		// HTTP/0.9 simple request: only GET, no headers.
		if string(r.method) != "GET" {
			return r, stBad
		}
		r.v09 = true
		r.headLen = off
		return r, stOK
	}
	major, minor, ok := parseVersion(r.version)
	if !ok || major != 1 {
		return r, stBad
	}
	r.minor = minor
	for {
		line, next, ok := nextLine(data, off)
		if !ok {
			if len(data) > maxHeader {
				return r, stBad
			}
			return r, stMore
		}
		if next > maxHeader {
			return r, stBad
		}
		off = next
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obsolete line folding: continuation of the previous value
			if len(r.headers) == 0 {
				return r, stBad
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 1 {
			return r, stBad
		}
		name := line[:colon]
		for _, b := range name {
			if !isTchar(b) {
				return r, stBad
			}
		}
		value := bytes.Trim(line[colon+1:], " \t")
		if len(r.headers) < maxFields {
			r.headers = append(r.headers, string(name))
		}
		switch strings.ToLower(string(name)) {
		case "host":
			if !r.hostSet {
				r.host, r.hostSet = value, true
			}
		case "authorization":
			if r.authz == nil {
				r.authz = value
			}
		case "user-agent":
			if !r.uaSet {
				r.ua, r.uaSet = value, true
			}
		case "content-length":
			n, err := strconv.ParseUint(string(value), 10, 31)
			if err != nil || (r.contentLength >= 0 && int(n) != r.contentLength) {
				return r, stBad
			}
			r.contentLength = int(n)
		case "transfer-encoding":
			if bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
				r.chunked = true
			}
		case "connection":
			for _, tok := range bytes.Split(value, []byte{','}) {
				tok = bytes.ToLower(bytes.TrimSpace(tok))
				switch string(tok) {
				case "close":
					r.connClose = true
				case "keep-alive":
					r.connKeep = true
				}
			}
		}
	}
	r.headLen = off
	return r, stOK
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	// RFC 9112 §2.2: ignore empty lines before a request line.
	skip := 0
	for skip < len(data) && (data[skip] == '\r' || data[skip] == '\n') {
		skip++
	}
	if skip == len(data) {
		if skip == 0 {
			return app.Result{NeedMore: true}
		}
		return app.Result{Consumed: skip}
	}
	r, st := parse(data[skip:])
	switch st {
	case stMore:
		return app.Result{NeedMore: true}
	case stBad:
		return app.Result{}
	}
	consumed := skip + r.headLen
	closeConn := false
	switch {
	case r.v09:
		closeConn = true
	case r.chunked:
		// We answer without reading a chunked body, then stop: nginx
		// answers a 401 before the body too.
		closeConn = true
		consumed = len(data)
	case r.contentLength > 0:
		avail := len(data) - consumed
		switch {
		case r.contentLength <= avail:
			consumed += r.contentLength
		case c.Transport == app.UDP:
			consumed = len(data)
		case r.contentLength > maxBody:
			closeConn = true
			consumed = len(data)
		default:
			return app.Result{NeedMore: true}
		}
	}
	if r.connClose || (r.minor == 0 && !r.connKeep) {
		closeConn = true
	}
	res := app.Result{Consumed: consumed, Fields: fields(&r), Close: closeConn}
	res.Reply = reply(c, &r, closeConn)
	return res
}

func fields(r *request) []event.Field {
	version := "HTTP/0.9"
	if !r.v09 {
		version = app.Printable(r.version)
	}
	f := []event.Field{
		{Key: "method", Value: string(r.method)},
		{Key: "path", Value: app.Printable(r.target)},
		{Key: "version", Value: version},
	}
	if r.hostSet {
		f = append(f, event.Field{Key: "host", Value: app.Printable(r.host)})
	}
	if r.uaSet {
		f = append(f, event.Field{Key: "user_agent", Value: app.Printable(r.ua)})
	}
	if len(r.headers) > 0 {
		h := make([]string, len(r.headers))
		for i, n := range r.headers {
			h[i] = app.Printable([]byte(n))
		}
		f = append(f, event.Field{Key: "headers", Value: h})
	}
	if a, ok := authField(r.authz); ok {
		f = append(f, a)
	}
	return f
}

// authField is the credential of an Authorization header: Basic decoded
// to user and password; another scheme (Digest, NTLM, Bearer, ...) kept
// whole as a hash whose format is the scheme's name.
func authField(v []byte) (event.Field, bool) {
	if len(v) == 0 {
		return event.Field{}, false
	}
	scheme, cred, _ := bytes.Cut(v, []byte{' '})
	cred = bytes.TrimSpace(cred)
	if strings.EqualFold(string(scheme), "basic") {
		if dec, err := base64.StdEncoding.DecodeString(string(cred)); err == nil {
			user, pass, _ := bytes.Cut(dec, []byte{':'})
			return event.AuthField("http", app.Printable(user), app.Printable(pass), false), true
		}
	}
	if len(cred) > 1024 {
		cred = cred[:1024]
	}
	return event.AuthHashField("http", "", app.Printable(cred), strings.ToLower(app.Printable(scheme)), false), true
}

// Upstream masscanned's page: nginx/1.14.2 with bare-LF lines. Its
// Content-Length says 188 and 189 bytes follow (upstream's exact bytes).
const upstreamBody = "<html>\n" +
	"<head><title>401 Authorization Required</title></head>\n" +
	"<body bgcolor=\"white\">\n" +
	"<center><h1>401 Authorization Required</h1></center>\n" +
	"<hr><center>nginx/1.14.2</center>\n" +
	"</body>\n" +
	"</html>\n" +
	"\n"

// nginx 1.22.1's (Debian 12) built-in 401 page.
const (
	linuxServer = "nginx/1.22.1"
	linuxBody   = "<html>\r\n" +
		"<head><title>401 Authorization Required</title></head>\r\n" +
		"<body>\r\n" +
		"<center><h1>401 Authorization Required</h1></center>\r\n" +
		"<hr><center>" + linuxServer + "</center>\r\n" +
		"</body>\r\n" +
		"</html>\r\n"
)

func reply(c *app.Conn, r *request, closeConn bool) []byte {
	masscanned := c.Personality == "masscanned"
	body := linuxBody
	if masscanned {
		body = upstreamBody
	}
	if r.v09 {
		if c.MaxReply > 0 && len(body) > c.MaxReply {
			return nil
		}
		return []byte(body)
	}
	var full, compact, auth, bare []byte
	if masscanned {
		full = upstreamHead(c, "188", body)
		compact = upstreamHead(c, "0", "")
		auth = []byte("HTTP/1.1 401 Unauthorized\nWWW-Authenticate: Basic realm=\"Access to admin page\"\nContent-Length: 0\n\n")
		bare = []byte("HTTP/1.1 401 Unauthorized\nContent-Length: 0\n\n")
	} else {
		if string(r.method) == "HEAD" {
			full = linuxHead(c, strconv.Itoa(len(body)), "", closeConn)
		} else {
			full = linuxHead(c, strconv.Itoa(len(body)), body, closeConn)
		}
		compact = linuxHead(c, "0", "", closeConn)
		auth = []byte("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Restricted\"\r\nContent-Length: 0\r\n\r\n")
		bare = []byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
	}
	// Over UDP, fall back to smaller forms of the same answer until one
	// fits the anti-reflection cap (the caller refuses oversize replies).
	for _, r := range [][]byte{full, compact, auth} {
		if c.MaxReply <= 0 || len(r) <= c.MaxReply {
			return r
		}
	}
	return bare
}

func upstreamHead(c *app.Conn, length, body string) []byte {
	b := make([]byte, 0, 256+len(body))
	b = append(b, "HTTP/1.1 401 Unauthorized\nServer: nginx/1.14.2\nDate: "...)
	b = c.Now.UTC().AppendFormat(b, "Mon, 2 Jan 2006 15:04:05 -0700")
	b = append(b, "\nContent-Type: text/html\nContent-Length: "...)
	b = append(b, length...)
	b = append(b, "\nConnection: keep-alive\nWWW-Authenticate: Basic realm=\"Access to admin page\"\n\n"...)
	return append(b, body...)
}

func linuxHead(c *app.Conn, length, body string, closeConn bool) []byte {
	b := make([]byte, 0, 256+len(body))
	b = append(b, "HTTP/1.1 401 Unauthorized\r\nServer: "+linuxServer+"\r\nDate: "...)
	b = c.Now.UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\nContent-Type: text/html\r\nContent-Length: "...)
	b = append(b, length...)
	if closeConn {
		b = append(b, "\r\nConnection: close"...)
	} else {
		b = append(b, "\r\nConnection: keep-alive"...)
	}
	b = append(b, "\r\nWWW-Authenticate: Basic realm=\"Restricted\"\r\n\r\n"...)
	return append(b, body...)
}
