package report

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonEvent is the part of a masscanned JSON event (internal/event's JSON
// sink) that the report reads; other keys are checked and skipped.
type jsonEvent struct {
	TS, Kind, Verdict, Reason, Layer string
	IPSrc, IPDst, Proto              string
	PortSrc, PortDst                 uint16
	TCPFlags, Reply, Suppressed      string
	App                              *jsonApp
	TCPFP                            *struct{ Raw, OS string }
	Conn                             *struct {
		End, Proto        string
		Duration          float64
		BytesIn, BytesOut uint64
	}
}

// jsonApp holds the application fields the report uses. Their values are
// whatever each protocol wrote, read as text: a string as is, null as "",
// any other value as its JSON text; so a protocol writing a number where
// another writes a string does not make the line invalid.
type jsonApp struct {
	Proto                              string
	Auth                               authRec
	Command                            string
	URLs, Hosts                        []string
	UserAgent, Method, Path, Host, SNI string
	JA3, JA3Hash, JA4, HASSH, Banner   string
	Kex                                bool // kex_algorithms present: an SSH key exchange
}

// authRec is the "auth" record every protocol writes (event.Auth); a
// value that is not an object is ignored.
type authRec struct {
	OK                                   bool
	Protocol, User, Password, Hash, Form string
	Success                              bool
}

// A syntaxError is invalid JSON at an offset of the line.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg) }

// A typeError is valid JSON whose value at a known key has the wrong type.
type typeError struct{ key, want string }

func (e *typeError) Error() string {
	return fmt.Sprintf("not a masscanned event: %q is not %s", e.key, e.want)
}

// scanner walks one JSON text strictly (RFC 8259 grammar, as
// encoding/json's Valid) and decodes the values asked for.
type scanner struct {
	b  []byte
	i  int
	in map[string]string // interned values of the keys with few values
	// terr is the first value of a wrong type: noted, and returned once
	// the whole line is known to be valid JSON
	terr error
}

func (s *scanner) typeErr(key, want string) error {
	if s.terr == nil {
		s.terr = &typeError{key, want}
	}
	return nil
}

// maxIntern bounds the interned values.
const maxIntern = 4096

// istr is str for keys with few distinct values (verdict, layer, ...):
// their strings are shared, not allocated per event.
func (s *scanner) istr(key string) (string, error) {
	if s.peek() != '"' || s.in == nil {
		return s.str(key)
	}
	b, err := s.rawString()
	if err != nil {
		return "", err
	}
	if v, ok := s.in[string(b)]; ok {
		return v, nil
	}
	v := string(b)
	if len(s.in) < maxIntern {
		s.in[v] = v
	}
	return v, nil
}

func (s *scanner) fail(msg string) error { return &syntaxError{off: s.i, msg: msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// atEnd reports whether only spaces are left.
func (s *scanner) atEnd() bool {
	s.ws()
	return s.i >= len(s.b)
}

// peek returns the next non-space byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads an object, calling fn for each key with the scanner at
// its value; fn must consume the value.
func (s *scanner) object(fn func(key []byte) error) error {
	if s.peek() != '{' {
		return s.fail("expected an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("expected a key")
		}
		key, err := s.rawString()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.fail("expected ':'")
		}
		s.i++
		s.ws()
		if err := fn(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("expected ',' or '}'")
		}
	}
}

// rawString reads a string and returns its unescaped bytes (a slice of
// the line when it has no escape).
func (s *scanner) rawString() ([]byte, error) {
	s.i++ // '"'
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			return validUTF8(out), nil
		case c == '\\':
			return s.escapedString(start)
		case c < 0x20:
			return nil, s.fail("control character in string")
		}
		s.i++
	}
	return nil, s.fail("unterminated string")
}

func (s *scanner) escapedString(start int) ([]byte, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return validUTF8(out), nil
		case c < 0x20:
			return nil, s.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, s.fail("unterminated string")
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// a pair, else U+FFFD as encoding/json does
				save := s.i
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					if r2, ok := s.hex4(); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							continue
						}
					}
				}
				s.i = save
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.fail("bad escape")
		}
	}
	return nil, s.fail("unterminated string")
}

// validUTF8 replaces each byte of b that is not part of valid UTF-8 by
// U+FFFD, as encoding/json does.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = utf8.AppendRune(out, r)
		b = b[n:]
	}
	return out
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// number reads a number token and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return nil, s.fail("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return nil, s.fail("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, s.fail("bad number")
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail("bad literal")
	}
	s.i += len(lit)
	return nil
}

// skip reads any value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '"':
		_, err := s.rawString()
		return err
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(func() error { return s.skip() })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number()
		return err
	}
	return s.fail("expected a value")
}

func (s *scanner) array(fn func() error) error {
	s.i++ // '['
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

// str reads a string (or null, as ""); another value is a type error.
func (s *scanner) str(key string) (string, error) {
	switch s.peek() {
	case '"':
		b, err := s.rawString()
		return string(b), err
	case 'n':
		return "", s.literal("null")
	}
	if err := s.skip(); err != nil {
		return "", err
	}
	return "", s.typeErr(key, "a string")
}

// text reads any value as text: a string unescaped, null as "", anything
// else as its JSON text.
func (s *scanner) text() (string, error) {
	switch s.peek() {
	case '"':
		b, err := s.rawString()
		return string(b), err
	case 'n':
		return "", s.literal("null")
	}
	start := s.i
	if err := s.skip(); err != nil {
		return "", err
	}
	return string(s.b[start:s.i]), nil
}

// texts reads an array as a list of non-empty text; a single value is a
// list of one.
func (s *scanner) texts() ([]string, error) {
	if s.peek() != '[' {
		t, err := s.text()
		if t == "" {
			return nil, err
		}
		return []string{t}, err
	}
	var out []string
	err := s.array(func() error {
		t, err := s.text()
		if t != "" {
			out = append(out, t)
		}
		return err
	})
	return out, err
}

// uint reads an unsigned integer of at most bits bits (or null, as 0).
func (s *scanner) uint(key string, bits int) (uint64, error) {
	switch c := s.peek(); {
	case c == 'n':
		return 0, s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		t, err := s.number()
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(string(t), 10, bits)
		if err != nil {
			return 0, s.typeErr(key, "an unsigned integer")
		}
		return n, nil
	}
	if err := s.skip(); err != nil {
		return 0, err
	}
	return 0, s.typeErr(key, "a number")
}

func (s *scanner) float(key string) (float64, error) {
	switch c := s.peek(); {
	case c == 'n':
		return 0, s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		t, err := s.number()
		if err != nil {
			return 0, err
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return 0, s.typeErr(key, "a number")
		}
		return f, nil
	}
	if err := s.skip(); err != nil {
		return 0, err
	}
	return 0, s.typeErr(key, "a number")
}

// obj reads an object with fn (true) or null (false); another value is a
// type error.
func (s *scanner) obj(key string, fn func(k []byte) error) (bool, error) {
	switch s.peek() {
	case '{':
		return true, s.object(fn)
	case 'n':
		return false, s.literal("null")
	}
	if err := s.skip(); err != nil {
		return false, err
	}
	return false, s.typeErr(key, "an object")
}

var errNotObject = errors.New("not a masscanned event: not a JSON object")

// decode parses one line into e (which it clears first). Invalid JSON is
// an error (as encoding/json's Valid would say), and so is a known key
// with a value of the wrong type; unknown keys are skipped.
func decode(line []byte, e *jsonEvent, intern map[string]string) error {
	*e = jsonEvent{}
	s := &scanner{b: line, in: intern}
	if c := s.peek(); c != '{' {
		if err := s.skip(); err != nil {
			return err
		}
		if !s.atEnd() {
			return s.fail("data after the value")
		}
		return errNotObject
	}
	err := s.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "ts":
			e.TS, err = s.str("ts")
		case "kind":
			e.Kind, err = s.istr("kind")
		case "verdict":
			e.Verdict, err = s.istr("verdict")
		case "reason":
			e.Reason, err = s.istr("reason")
		case "layer":
			e.Layer, err = s.istr("layer")
		case "ip_src":
			e.IPSrc, err = s.str("ip_src")
		case "ip_dst":
			e.IPDst, err = s.istr("ip_dst")
		case "proto":
			e.Proto, err = s.istr("proto")
		case "tcp_flags":
			e.TCPFlags, err = s.istr("tcp_flags")
		case "reply":
			e.Reply, err = s.istr("reply")
		case "suppressed":
			e.Suppressed, err = s.istr("suppressed")
		case "port_src":
			var n uint64
			n, err = s.uint("port_src", 16)
			e.PortSrc = uint16(n)
		case "port_dst":
			var n uint64
			n, err = s.uint("port_dst", 16)
			e.PortDst = uint16(n)
		case "app":
			a := &jsonApp{}
			var ok bool
			if ok, err = s.obj("app", func(k []byte) error { return decodeApp(s, k, a) }); ok {
				e.App = a
			}
		case "tcp_fp":
			fp := &struct{ Raw, OS string }{}
			var ok bool
			ok, err = s.obj("tcp_fp", func(k []byte) error {
				var err error
				switch string(k) {
				case "raw":
					fp.Raw, err = s.text()
				case "os":
					fp.OS, err = s.text()
				default:
					err = s.skip()
				}
				return err
			})
			if ok {
				e.TCPFP = fp
			}
		case "conn":
			c := &struct {
				End, Proto        string
				Duration          float64
				BytesIn, BytesOut uint64
			}{}
			var ok bool
			ok, err = s.obj("conn", func(k []byte) error {
				var err error
				switch string(k) {
				case "end":
					c.End, err = s.istr("conn.end")
				case "proto":
					c.Proto, err = s.istr("conn.proto")
				case "duration":
					c.Duration, err = s.float("conn.duration")
				case "bytes_in":
					c.BytesIn, err = s.uint("conn.bytes_in", 64)
				case "bytes_out":
					c.BytesOut, err = s.uint("conn.bytes_out", 64)
				default:
					err = s.skip()
				}
				return err
			})
			if ok {
				e.Conn = c
			}
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.atEnd() {
		return s.fail("data after the object")
	}
	return s.terr
}

func decodeApp(s *scanner, k []byte, a *jsonApp) error {
	var err error
	switch string(k) {
	case "proto":
		if s.peek() == '"' {
			a.Proto, err = s.istr("app.proto")
		} else {
			a.Proto, err = s.text()
		}
	case "auth":
		if s.peek() != '{' {
			return s.skip()
		}
		au := authRec{OK: true}
		err = s.object(func(k []byte) error {
			var err error
			switch string(k) {
			case "protocol":
				au.Protocol, err = s.text()
			case "user":
				au.User, err = s.text()
			case "password":
				au.Password, err = s.text()
			case "hash":
				au.Hash, err = s.text()
			case "format":
				au.Form, err = s.text()
			case "success":
				if s.peek() == 't' {
					au.Success = true
				}
				err = s.skip()
			default:
				err = s.skip()
			}
			return err
		})
		a.Auth = au
	case "command":
		a.Command, err = s.text()
	case "urls":
		a.URLs, err = s.texts()
	case "hosts":
		a.Hosts, err = s.texts()
	case "user_agent":
		a.UserAgent, err = s.text()
	case "method":
		a.Method, err = s.text()
	case "path":
		a.Path, err = s.text()
	case "host":
		a.Host, err = s.text()
	case "sni":
		a.SNI, err = s.text()
	case "ja3":
		a.JA3, err = s.text()
	case "ja3_hash":
		a.JA3Hash, err = s.text()
	case "ja4":
		a.JA4, err = s.text()
	case "hassh":
		a.HASSH, err = s.text()
	case "banner":
		a.Banner, err = s.text()
	case "kex_algorithms":
		a.Kex = true
		err = s.skip()
	default:
		err = s.skip()
	}
	return err
}
