// Package docker plays a Docker Engine API exposed without TLS (2375):
// /_ping, /version and /info answer as Docker Engine does, the host has no
// container and no image, so creating a container fails with "No such
// image", the pull a bot then asks for fails (Docker Hub's rate limit),
// and starting or exec'ing into a container fails with "No such
// container". Every request is recorded with the container it asked for:
// image, command (and the URLs and hosts it names), binds, privileged.
//
// Detection is by content: an HTTP request whose path is the Docker API's
// (/_ping, /version, /info, /containers/..., /images/json|create|...,
// /exec/..., /v1.NN/...); other paths stay the HTTP handler's. On a port
// the host profile maps to "docker" (2375 by default), every request of
// the connection is the API's (a GET / gets Docker's "page not found").
//
// Profile keys: banner "docker" is the Engine version (default 24.0.7;
// the API version follows from it); banner "uname" gives the kernel and
// architecture, "hostname" the name.
package docker

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "Docker Engine API (HTTP, 2375): ping, version, info; container creation refused (no such image, pull rate-limited); records image, command, binds"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// DefaultVersion is the Engine version shown without a profile value.
const DefaultVersion = "24.0.7"

// Limits.
const (
	maxHead = 12 << 10 // request line and headers
	maxBody = 32 << 10 // body bytes read; the rest of a longer body is skipped
	maxRec  = 2 << 10  // body bytes recorded
)

// Handler is the Docker Engine API handler.
type Handler struct{}

// New returns the Docker handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "docker" }

// DetectService implements app.ServiceDetector: on a port the host
// profile maps to docker, every HTTP request is the daemon's (404 page not
// found for paths outside the API), so nmap's GET / names Docker.
func (*Handler) DetectService(data []byte, t app.Transport) app.Verdict {
	if t != app.TCP {
		return app.No
	}
	v := app.No
	for _, m := range methods {
		n := min(len(data), len(m)+1)
		if string(data[:n]) != (m + " ")[:n] {
			continue
		}
		if n <= len(m) {
			v = app.Maybe
			continue
		}
		return app.Yes
	}
	return v
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"}

// Detect implements app.Handler.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if t != app.TCP {
		return app.No
	}
	v := app.No
	for _, m := range methods {
		n := min(len(data), len(m)+1)
		if string(data[:n]) != (m + " ")[:n] {
			continue
		}
		if n <= len(m) {
			v = app.Maybe
			continue
		}
		return pathVerdict(data[len(m)+1:])
	}
	return v
}

// pathVerdict says whether the request-target t (and what follows) is a
// Docker API path; Maybe while it may still become one.
func pathVerdict(t []byte) app.Verdict {
	end := bytes.IndexAny(t, " ?\r\n")
	if end < 0 {
		if len(t) > 256 {
			return app.No
		}
		for _, p := range prefixes {
			n := min(len(t), len(p))
			if string(t[:n]) == p[:n] {
				return app.Maybe
			}
		}
		if versionedPrefix(t) {
			return app.Maybe
		}
		return app.No
	}
	if apiPath(string(t[:end])) {
		return app.Yes
	}
	return app.No
}

// prefixes are the starts of the API paths Detect knows (for Maybe).
var prefixes = []string{"/_ping", "/version", "/info", "/containers/", "/images/", "/exec/"}

// versioned reports whether p starts with /v1.NN/ and returns nothing else.
func versioned(p []byte) bool {
	if len(p) < 4 || string(p[:4]) != "/v1." {
		return false
	}
	i := 4
	for i < len(p) && i < 7 && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return i > 4 && i < len(p) && p[i] == '/'
}

// versionedPrefix reports whether t may be the start of a /v1.NN/ path.
func versionedPrefix(t []byte) bool {
	n := min(len(t), 4)
	if string(t[:n]) != "/v1."[:n] {
		return false
	}
	i := 4
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i > 7 {
		return false
	}
	return i == len(t) || i > 4 && t[i] == '/'
}

// apiPath reports whether path is one the Docker API serves.
func apiPath(path string) bool {
	if versioned([]byte(path)) {
		return true
	}
	switch path {
	case "/_ping", "/version", "/info":
		return true
	}
	if strings.HasPrefix(path, "/containers/") || strings.HasPrefix(path, "/exec/") {
		return true
	}
	if rest, ok := strings.CutPrefix(path, "/images/"); ok {
		switch rest {
		case "json", "create", "search", "load", "prune", "get":
			return true
		}
		for _, s := range []string{"/json", "/history", "/push", "/tag", "/get"} {
			if strings.HasSuffix(rest, s) {
				return true
			}
		}
	}
	return false
}

// state is one connection's: the bytes of a long body still to skip.
type state struct {
	skip int
}

// request is a parsed request.
type request struct {
	method, target, path, query string
	minor                       int
	ua, host                    string
	uaSet                       bool
	headers                     []string
	contentLength               int
	chunked, close, keepAlive   bool
	body                        []byte
	bodyCut                     bool
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	st, ok := c.State.(*state)
	if !ok {
		st = &state{}
		c.State = st
	}
	if st.skip > 0 {
		n := min(st.skip, len(data))
		st.skip -= n
		return app.Result{Consumed: n}
	}
	skip := 0
	for skip < len(data) && (data[skip] == '\r' || data[skip] == '\n') {
		skip++
	}
	if skip > 0 {
		return app.Result{Consumed: skip}
	}
	if len(data) == 0 {
		return app.Result{NeedMore: true}
	}
	r, headLen, st2 := parseHead(data)
	switch st2 {
	case more:
		return app.Result{NeedMore: true}
	case bad:
		// Go's net/http answers a malformed request and closes
		return app.Result{Consumed: len(data), Close: true,
			Reply:  []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"),
			Fields: []event.Field{{Key: "error", Value: "bad request"}, {Key: "data", Value: app.Printable(data[:min(len(data), 128)])}}}
	}
	consumed := headLen
	closeConn := r.close || r.minor == 0 && !r.keepAlive
	switch {
	case r.chunked:
		body, n, done, cut := dechunk(data[headLen:])
		if !done && !cut {
			if len(data)-headLen > maxBody+1024 {
				cut = true
			} else {
				return app.Result{NeedMore: true}
			}
		}
		r.body, r.bodyCut = body, cut
		if cut {
			closeConn, consumed = true, len(data)
		} else {
			consumed += n
		}
	case r.contentLength > 0:
		avail := len(data) - headLen
		want := min(r.contentLength, maxBody)
		if avail < want {
			return app.Result{NeedMore: true}
		}
		r.body = data[headLen : headLen+want]
		if r.contentLength > maxBody {
			r.bodyCut = true
			rest := r.contentLength - want
			take := min(rest, avail-want)
			consumed += want + take
			st.skip = rest - take
		} else {
			consumed += want
		}
	}
	res := route(c, &r)
	res.Consumed = consumed
	if len(res.chunks) > 0 && r.minor == 0 {
		closeConn = true // an HTTP/1.0 stream ends with the connection
	}
	if closeConn {
		res.Close = true
	}
	res.Reply = respond(c, &r, res.status, res.headers, res.body, res.chunks, closeConn, res.plain)
	return res.Result
}

type status uint8

const (
	ok status = iota
	more
	bad
)

func nextLine(data []byte, off int) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(data[off:], '\n')
	if i < 0 {
		return nil, 0, false
	}
	return bytes.TrimSuffix(data[off:off+i], []byte{'\r'}), off + i + 1, true
}

func parseHead(data []byte) (request, int, status) {
	r := request{contentLength: -1}
	line, off, found := nextLine(data, 0)
	if !found {
		if len(data) > maxHead {
			return r, 0, bad
		}
		return r, 0, more
	}
	f := strings.Split(string(line), " ")
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/1.") || len(f[2]) != 8 || f[2][7] < '0' || f[2][7] > '9' || f[1] == "" {
		return r, 0, bad
	}
	r.method, r.target, r.minor = f[0], f[1], int(f[2][7]-'0')
	for _, b := range []byte(r.target) {
		if b <= ' ' || b == 0x7f {
			return r, 0, bad
		}
	}
	r.path, r.query, _ = strings.Cut(r.target, "?")
	if i := strings.Index(r.path, "://"); i >= 0 { // absolute form
		if j := strings.IndexByte(r.path[i+3:], '/'); j >= 0 {
			r.path = r.path[i+3+j:]
		} else {
			r.path = "/"
		}
	}
	for {
		line, next, found := nextLine(data, off)
		if !found {
			if len(data) > maxHead {
				return r, 0, bad
			}
			return r, 0, more
		}
		if next > maxHead {
			return r, 0, bad
		}
		off = next
		if len(line) == 0 {
			break
		}
		name, value, found := strings.Cut(string(line), ":")
		if !found || name == "" || strings.ContainsAny(name, " \t") {
			return r, 0, bad
		}
		value = strings.TrimSpace(value)
		if len(r.headers) < 64 {
			r.headers = append(r.headers, app.Printable([]byte(name)))
		}
		switch strings.ToLower(name) {
		case "host":
			r.host = value
		case "user-agent":
			r.ua, r.uaSet = value, true
		case "content-length":
			n, err := strconv.ParseUint(value, 10, 31)
			if err != nil {
				return r, 0, bad
			}
			r.contentLength = int(n)
		case "transfer-encoding":
			r.chunked = strings.Contains(strings.ToLower(value), "chunked")
		case "connection":
			for _, tok := range strings.Split(strings.ToLower(value), ",") {
				switch strings.TrimSpace(tok) {
				case "close":
					r.close = true
				case "keep-alive":
					r.keepAlive = true
				}
			}
		}
	}
	return r, off, ok
}

// dechunk decodes a chunked body at the start of data: the body (at most
// maxBody bytes), the bytes it took, whether it is complete and whether
// it was cut at maxBody.
func dechunk(data []byte) (body []byte, n int, done, cut bool) {
	off := 0
	for {
		line, next, found := nextLine(data, off)
		if !found {
			return body, 0, false, false
		}
		sz, _, _ := strings.Cut(string(line), ";")
		size, err := strconv.ParseUint(strings.TrimSpace(sz), 16, 31)
		if err != nil {
			return body, 0, false, true
		}
		if size == 0 {
			// trailers until an empty line
			off = next
			for {
				line, next, found := nextLine(data, off)
				if !found {
					return body, 0, false, false
				}
				off = next
				if len(line) == 0 {
					return body, off, true, false
				}
			}
		}
		if len(body)+int(size) > maxBody {
			end := min(len(data), next+int(size))
			body = append(body, data[next:end]...)
			if len(body) > maxBody {
				body = body[:maxBody]
			}
			return body, 0, false, true
		}
		if next+int(size)+2 > len(data) {
			return body, 0, false, false
		}
		body = append(body, data[next:next+int(size)]...)
		off = next + int(size) + 2
	}
}
