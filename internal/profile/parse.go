package profile

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Error is a problem with a profile file: the message names the file and
// the line of the offending key or value, "file:line: problem".
type Error struct {
	File string
	Line int
	Msg  string
}

// Error formats the problem as "file:line: problem".
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// hostKeys are the keys a [[host]] table may hold, sorted.
var hostKeys = []string{"addresses", "banners", "name", "personality", "services", "tcp", "udp"}

// Parse parses a profile from data; name is the file name used in errors
// and as the Profile's Path.
func Parse(name string, data []byte) (*Profile, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: max(pe.Position.Line, 1), Msg: "TOML syntax: " + oneLine(pe.Message)}
		}
		return nil, &Error{File: name, Line: 1, Msg: "TOML: " + oneLine(err.Error())}
	}
	ps := &parser{file: name, loc: locate(data)}
	return ps.profile(raw)
}

type parser struct {
	file string
	loc  *locs
}

// oneLine escapes the control characters of a decoder message (which may
// quote the input) so that every error is a single line.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (ps *parser) errf(line int, format string, args ...any) error {
	return &Error{File: ps.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// byLine returns the keys of m in the order of their lines (then by name).
func byLine[V any](m map[string]V, line func(string) int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(line(a), line(b)), strings.Compare(a, b))
	})
	return keys
}

func (ps *parser) profile(raw map[string]any) (*Profile, error) {
	for _, k := range byLine(raw, ps.loc.topLine) {
		if k != "host" {
			return nil, ps.errf(ps.loc.topLine(k), "unknown top-level key %q (known: host, as [[host]] tables)", k)
		}
	}
	v, ok := raw["host"]
	if !ok {
		return nil, ps.errf(1, "no [[host]] table: the profile lists no host")
	}
	var tables []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		tables = v
	case []any:
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, ps.errf(ps.loc.topLine("host"), "host must be an array of tables ([[host]])")
			}
			tables = append(tables, m)
		}
	default:
		return nil, ps.errf(ps.loc.topLine("host"), "host must be an array of tables ([[host]])")
	}
	if len(tables) == 0 {
		return nil, ps.errf(ps.loc.topLine("host"), "no [[host]] table: the profile lists no host")
	}
	p := &Profile{Path: ps.file, Hosts: make([]*Host, 0, len(tables))}
	for i, m := range tables {
		h, err := ps.host(i, m)
		if err != nil {
			return nil, err
		}
		p.Hosts = append(p.Hosts, h)
	}
	return p, nil
}

// host validates the i-th (0-based) [[host]] table.
func (ps *parser) host(i int, m map[string]any) (*Host, error) {
	hl := ps.loc.hostAt(i)
	h := &Host{Line: hl.line, Personality: DefaultPersonality, tcpAll: true, udpAll: true}
	pre := fmt.Sprintf("host %d: ", i+1)
	keyLine := func(k string) int { return hl.key(k) }
	for _, k := range byLine(m, keyLine) {
		if !slices.Contains(hostKeys, k) {
			return nil, ps.errf(hl.key(k), "%sunknown key %q in [[host]] (known: %s)", pre, k, strings.Join(hostKeys, ", "))
		}
	}
	for _, k := range byLine(m, keyLine) {
		var err error
		v := m[k]
		switch k {
		case "name":
			h.Name, err = ps.text(hl.key(k), pre+"name", v)
		case "addresses":
			h.Prefixes, err = ps.addresses(hl, pre, v)
		case "personality":
			h.Personality, err = ps.personality(hl.key(k), pre, v)
		case "tcp":
			h.tcpAll, err = ps.ports(hl, pre, k, v, &h.tcp)
		case "udp":
			h.udpAll, err = ps.ports(hl, pre, k, v, &h.udp)
		case "services":
			h.Services, err = ps.services(hl, pre, v)
		case "banners":
			h.Banners, err = ps.banners(hl, pre, v)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, ok := m["addresses"]; !ok {
		return nil, ps.errf(hl.line, "%sno addresses", pre)
	}
	return h, nil
}

// text checks a printable string of at most MaxBanner bytes.
func (ps *parser) text(line int, what string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", ps.errf(line, "%s: %s is not a string", what, show(v))
	}
	if len(s) > MaxBanner {
		return "", ps.errf(line, "%s: %d bytes long, at most %d allowed", what, len(s), MaxBanner)
	}
	for i, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return "", ps.errf(line, "%s: character %q at byte %d is not printable", what, r, i)
		}
	}
	return s, nil
}

// show formats a decoded TOML value for a message.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprint(v)
}

func (ps *parser) addresses(hl *hostLoc, pre string, v any) ([]netip.Prefix, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, ps.errf(hl.key("addresses"), "%saddresses: must be a list of addresses or prefixes, not %s", pre, show(v))
	}
	if len(list) == 0 {
		return nil, ps.errf(hl.key("addresses"), "%sno addresses", pre)
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, e := range list {
		s, _ := e.(string)
		p, ok := parsePrefix(s)
		if !ok {
			return nil, ps.errf(hl.elem(i, "addresses"), "%saddresses: %s is not an IP address or prefix", pre, show(e))
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix parses an address (as a /32 or /128) or a prefix, masked;
// IPv4-mapped IPv6 ones become IPv4 (Lookup unmaps addresses).
func parsePrefix(s string) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p, false
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

func (ps *parser) personality(line int, pre string, v any) (string, error) {
	s, _ := v.(string)
	s = strings.ToLower(s)
	if !slices.Contains(Personalities, s) {
		return "", ps.errf(line, "%spersonality: unknown personality %s (known: %s)", pre, show(v), strings.Join(Personalities, ", "))
	}
	return s, nil
}

// ports fills set from a tcp or udp value; all reports "all".
func (ps *parser) ports(hl *hostLoc, pre, key string, v any, set *portSet) (all bool, err error) {
	if s, ok := v.(string); ok {
		if s == "all" {
			return true, nil
		}
		return false, ps.errf(hl.key(key), `%s%s: %s is neither "all" nor a list of ports`, pre, key, show(v))
	}
	list, ok := v.([]any)
	if !ok {
		return false, ps.errf(hl.key(key), `%s%s: %s is neither "all" nor a list of ports`, pre, key, show(v))
	}
	for i, e := range list {
		line := hl.elem(i, key)
		switch e := e.(type) {
		case int64:
			if e < 1 || e > 65535 {
				return false, ps.errf(line, "%s%s: port %d out of range 1-65535", pre, key, e)
			}
			set.add(uint16(e), uint16(e))
		case string:
			if e == "all" {
				all = true
				continue
			}
			lo, hi, msg := portRange(e)
			if msg != "" {
				return false, ps.errf(line, "%s%s: %s", pre, key, msg)
			}
			set.add(lo, hi)
		default:
			return false, ps.errf(line, `%s%s: %s is not a port, "a-b" range or "all"`, pre, key, show(e))
		}
	}
	if all {
		*set = portSet{}
	}
	return all, nil
}

// portRange parses "a-b" (or a lone "a"); msg says what is wrong.
func portRange(s string) (lo, hi uint16, msg string) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	port := func(t string) (uint16, string) {
		t = strings.TrimSpace(t)
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil || t == "" || t[0] == '+' {
			return 0, fmt.Sprintf(`%q is not a port, "a-b" range or "all"`, s)
		}
		if n < 1 || n > 65535 {
			return 0, fmt.Sprintf("port %s out of range 1-65535", t)
		}
		return uint16(n), ""
	}
	if lo, msg = port(a); msg != "" {
		return
	}
	if hi, msg = port(b); msg != "" {
		return
	}
	if lo > hi {
		return 0, 0, fmt.Sprintf("range %q: %d is above %d", s, lo, hi)
	}
	return lo, hi, ""
}

func (ps *parser) services(hl *hostLoc, pre string, v any) (map[uint16]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ps.errf(hl.key("services"), `%sservices: must be a table of port = "service", not %s`, pre, show(v))
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[uint16]string, len(m))
	for _, k := range byLine(m, func(k string) int { return hl.key("services", k) }) {
		line := hl.key("services", k)
		n, err := strconv.ParseUint(k, 10, 64)
		if err != nil || n < 1 || n > 65535 {
			return nil, ps.errf(line, "%sservices: key %q is not a port number 1-65535", pre, k)
		}
		s, _ := m[k].(string)
		s = strings.ToLower(s)
		if _, ok := slices.BinarySearch(KnownServices, s); !ok {
			return nil, ps.errf(line, "%sservices: port %d: unknown service %s (known: %s)", pre, n, show(m[k]), strings.Join(KnownServices, ", "))
		}
		out[uint16(n)] = s
	}
	return out, nil
}

func (ps *parser) banners(hl *hostLoc, pre string, v any) (map[string]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ps.errf(hl.key("banners"), `%sbanners: must be a table of key = "value", not %s`, pre, show(v))
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for _, k := range byLine(m, func(k string) int { return hl.key("banners", k) }) {
		line := hl.key("banners", k)
		if _, ok := slices.BinarySearch(KnownBanners, k); !ok {
			return nil, ps.errf(line, "%sbanners: unknown key %q (known: %s)", pre, k, strings.Join(KnownBanners, ", "))
		}
		s, err := ps.text(line, pre+"banners: "+k, m[k])
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}
