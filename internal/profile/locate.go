package profile

import (
	"strconv"
	"strings"
)

// The TOML decoder reports positions only for syntax errors. To name the
// line of a semantic error, locate scans the raw text once more (it has
// already been accepted by the decoder, so the scan only has to be right
// for valid TOML; on anything else it must merely terminate without
// panicking) and records where each key of each [[host]] table, and each
// element of an array value, starts.

// keySep joins the components of a key path in the maps below (a quoted
// TOML key may contain a dot, it cannot hold a NUL).
const keySep = "\x00"

// hostLoc is where one [[host]] table and its keys are.
type hostLoc struct {
	line  int            // line of the [[host]] header (or inline table)
	keys  map[string]int // key path relative to the host -> line of the key
	elems map[string][]int
}

// locs is the result of a scan.
type locs struct {
	top   map[string]int // top-level key or table name -> first line
	hosts []*hostLoc
}

// hostAt returns the location record of the i-th host (0-based), or an
// empty one (all lookups then fall back to line 1).
func (l *locs) hostAt(i int) *hostLoc {
	if i >= 0 && i < len(l.hosts) {
		return l.hosts[i]
	}
	return &hostLoc{line: l.topLine("host")}
}

// topLine is the line of a top-level key, or 1.
func (l *locs) topLine(key string) int {
	if n, ok := l.top[key]; ok {
		return n
	}
	return 1
}

// key returns the line of the key path inside the host; when that path was
// not seen, the line of its longest seen parent, and finally the header.
func (h *hostLoc) key(path ...string) int {
	for n := len(path); n > 0; n-- {
		if line, ok := h.keys[strings.Join(path[:n], keySep)]; ok {
			return line
		}
	}
	return h.line
}

// elem returns the line of the i-th element of the array at path, falling
// back to the line of the key.
func (h *hostLoc) elem(i int, path ...string) int {
	if e := h.elems[strings.Join(path, keySep)]; i >= 0 && i < len(e) {
		return e[i]
	}
	return h.key(path...)
}

// scanner walks the text. host is the host table the current keys belong
// to (nil at top level or in another table); prefix is the key path of the
// current table relative to that host (or to the top).
type scanner struct {
	s      string
	i      int
	line   int
	out    *locs
	host   *hostLoc
	prefix []string
}

func locate(data []byte) *locs {
	sc := &scanner{s: string(data), line: 1, out: &locs{top: map[string]int{}}}
	sc.run()
	return sc.out
}

func (sc *scanner) peek(off int) byte {
	if sc.i+off < len(sc.s) {
		return sc.s[sc.i+off]
	}
	return 0
}

// skip passes blanks, comments and, when nl is set, newlines.
func (sc *scanner) skip(nl bool) {
	for sc.i < len(sc.s) {
		switch c := sc.s[sc.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			sc.i++
		case c == '\n' && nl:
			sc.line++
			sc.i++
		case c == '#':
			for sc.i < len(sc.s) && sc.s[sc.i] != '\n' {
				sc.i++
			}
		default:
			return
		}
	}
}

// run scans statements: table headers and key/value pairs.
func (sc *scanner) run() {
	for {
		sc.skip(true)
		if sc.i >= len(sc.s) {
			return
		}
		start := sc.i
		if sc.s[sc.i] == '[' {
			sc.header()
		} else {
			line := sc.line
			path := sc.keyPath()
			sc.skip(false)
			if sc.peek(0) == '=' {
				sc.i++
				sc.skip(false)
				full := append(append([]string(nil), sc.prefix...), path...)
				sc.record(full, line)
				sc.value(full)
			}
		}
		// Whatever follows on the line is not a statement we understand
		// (or a comment): go to the next line. Guarantees progress.
		if sc.i == start {
			sc.i++
		}
		for sc.i < len(sc.s) && sc.s[sc.i] != '\n' {
			sc.i++
		}
	}
}

// header handles [table] and [[array.table]].
func (sc *scanner) header() {
	line := sc.line
	sc.i++ // [
	array := sc.peek(0) == '['
	if array {
		sc.i++
	}
	sc.skip(false)
	path := sc.keyPath()
	if len(path) == 0 {
		return
	}
	sc.skip(false)
	sc.i++ // ]
	if array {
		sc.i++
	}
	switch {
	case len(path) == 1 && path[0] == "host" && array:
		sc.host = &hostLoc{line: line, keys: map[string]int{}, elems: map[string][]int{}}
		sc.out.hosts = append(sc.out.hosts, sc.host)
		sc.prefix = nil
		if _, ok := sc.out.top["host"]; !ok {
			sc.out.top["host"] = line
		}
	case path[0] == "host" && sc.host != nil:
		sc.prefix = path[1:]
		sc.record(sc.prefix, line)
	default:
		if _, ok := sc.out.top[path[0]]; !ok {
			sc.out.top[path[0]] = line
		}
		sc.host = nil
		sc.prefix = path
	}
}

// record notes the line of a key path and of its parents (the first time
// each is seen).
func (sc *scanner) record(path []string, line int) {
	if len(path) == 0 {
		return
	}
	if sc.host == nil {
		if _, ok := sc.out.top[path[0]]; !ok {
			sc.out.top[path[0]] = line
		}
		return
	}
	// A dotted key (banners.ssh = ...) also defines its parents.
	for n := 1; n <= len(path); n++ {
		k := strings.Join(path[:n], keySep)
		if _, ok := sc.host.keys[k]; !ok {
			sc.host.keys[k] = line
		}
	}
}

// keyPath reads a dotted key: bare, "basic" or 'literal' parts.
func (sc *scanner) keyPath() []string {
	var path []string
	for {
		sc.skip(false)
		if sc.i >= len(sc.s) {
			return path
		}
		var part string
		switch c := sc.s[sc.i]; {
		case c == '"' || c == '\'':
			part = sc.str()
		case isBare(c):
			j := sc.i
			for sc.i < len(sc.s) && isBare(sc.s[sc.i]) {
				sc.i++
			}
			part = sc.s[j:sc.i]
		default:
			return path
		}
		path = append(path, part)
		sc.skip(false)
		if sc.peek(0) != '.' {
			return path
		}
		sc.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// str reads a string of any of the four kinds and returns its value as far
// as it matters here (escapes are decoded when strconv can; the raw text
// otherwise).
func (sc *scanner) str() string {
	q := sc.s[sc.i]
	if sc.peek(1) == q && sc.peek(2) == q {
		// Multi-line string: ends at the first run of three quotes; up to
		// two more quotes may belong to the content.
		sc.i += 3
		j := sc.i
		for sc.i < len(sc.s) {
			c := sc.s[sc.i]
			if c == '\\' && q == '"' {
				if sc.peek(1) == '\n' {
					sc.line++
				}
				sc.i += 2
				continue
			}
			if c == '\n' {
				sc.line++
			}
			if c == q && sc.peek(1) == q && sc.peek(2) == q {
				end := sc.i
				sc.i += 3
				for n := 0; n < 2 && sc.peek(0) == q; n++ {
					sc.i++
					end++
				}
				return sc.s[j:end]
			}
			sc.i++
		}
		sc.i = len(sc.s)
		return sc.s[j:]
	}
	j := sc.i
	sc.i++
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		if c == '\n' {
			break
		}
		if c == '\\' && q == '"' {
			sc.i += 2
			continue
		}
		sc.i++
		if c == q {
			raw := sc.s[j:sc.i]
			if q == '\'' {
				return raw[1 : len(raw)-1]
			}
			if v, err := strconv.Unquote(raw); err == nil {
				return v
			}
			return raw[1 : len(raw)-1]
		}
	}
	if sc.i > len(sc.s) {
		sc.i = len(sc.s)
	}
	return sc.s[j:sc.i]
}

// value passes one value; path is its key path (nil inside arrays: the
// keys of tables and elements of arrays nested in an array are not
// recorded).
func (sc *scanner) value(path []string) {
	if sc.i >= len(sc.s) {
		return
	}
	switch c := sc.s[sc.i]; c {
	case '"', '\'':
		sc.str()
	case '[':
		sc.array(path)
	case '{':
		sc.inline(path, path != nil)
	default:
		// Number, boolean, date/time: up to a delimiter.
		for sc.i < len(sc.s) {
			c := sc.s[sc.i]
			if c == ',' || c == ']' || c == '}' || c == '\n' || c == '#' {
				break
			}
			sc.i++
		}
	}
}

// array passes [ ... ], recording the line of each element.
func (sc *scanner) array(path []string) {
	sc.i++ // [
	k := strings.Join(path, keySep)
	// Top-level "host = [{...}, ...]": each inline table is a host.
	hostArray := sc.host == nil && len(path) == 1 && path[0] == "host"
	for sc.i < len(sc.s) {
		sc.skip(true)
		if sc.i >= len(sc.s) {
			return
		}
		switch sc.s[sc.i] {
		case ']':
			sc.i++
			return
		case ',':
			sc.i++
			continue
		}
		start := sc.i
		if path != nil && sc.host != nil {
			sc.host.elems[k] = append(sc.host.elems[k], sc.line)
		}
		if hostArray && sc.s[sc.i] == '{' {
			h := &hostLoc{line: sc.line, keys: map[string]int{}, elems: map[string][]int{}}
			sc.out.hosts = append(sc.out.hosts, h)
			saved := sc.prefix
			sc.host, sc.prefix = h, nil
			sc.inline(nil, true)
			sc.host, sc.prefix = nil, saved
		} else {
			sc.value(nil)
		}
		if sc.i == start {
			sc.i++
		}
	}
}

// inline passes { k = v, ... }, recording its keys under path when rec is
// set.
func (sc *scanner) inline(path []string, rec bool) {
	sc.i++ // {
	for sc.i < len(sc.s) {
		sc.skip(true)
		if sc.i >= len(sc.s) {
			return
		}
		switch sc.s[sc.i] {
		case '}':
			sc.i++
			return
		case ',':
			sc.i++
			continue
		}
		start := sc.i
		line := sc.line
		kp := sc.keyPath()
		sc.skip(false)
		if sc.peek(0) == '=' && len(kp) > 0 {
			sc.i++
			sc.skip(true)
			var full []string
			if rec {
				full = append(append([]string(nil), path...), kp...)
				sc.record(full, line)
			}
			sc.value(full)
		}
		if sc.i == start {
			sc.i++
		}
	}
}
