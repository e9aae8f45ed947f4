// Package p0f labels SYN fingerprints with the operating system a p0f v3
// database (p0f.fp; Debian ships /etc/p0f/p0f.fp) names for them. Only the
// [tcp:request] section is read: masscanned sees clients' SYNs.
//
// Matching follows p0f's rules: the option layout, EOL padding and IP
// options length must be equal; the version, MSS, window scale and payload
// class must be equal unless the signature says '*'; the window must match
// its form (value, mss*N, mtu*N, %N or '*'); the signature's initial TTL
// must be at or above the observed TTL, within 35 hops unless the TTL is
// marked random ('-'); quirks must be equal, or differ only in df and id+
// for a fuzzy match. A specific (s:) exact match wins over a generic (g:)
// one, which wins over a fuzzy one.
package p0f

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/event"
)

// maxDist is p0f's MAX_DIST: the most hops between the initial TTL and the
// observed one.
const maxDist = 35

type winType uint8

const (
	winAny winType = iota
	winValue
	winMod
	winMSS
	winMTU
)

// Sig is one signature of the database.
type Sig struct {
	Label   string // "Linux 3.11 and newer"
	Class   string // "unix", "win", "!" (not an OS: a tool)
	Generic bool
	Line    int

	ver      int8 // -1: any
	ttl      uint8
	badTTL   bool
	optLen   uint8
	mss      int32 // -1: any
	win      winType
	winVal   uint16
	scale    int16 // -1: any
	layout   []uint8
	eolPad   uint8
	quirks   uint32
	payClass int8 // -1: any, 0, 1
}

// DB is a loaded p0f database.
type DB struct {
	sigs []*Sig
}

// Len is the number of TCP request signatures.
func (db *DB) Len() int { return len(db.sigs) }

// Load reads a p0f.fp file.
func Load(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	db, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return db, nil
}

// Parse reads a p0f.fp database; an error names the line ("LINE: ...").
func Parse(r io.Reader) (*DB, error) {
	db := &DB{}
	sc := bufio.NewScanner(r)
	n := 0
	section := ""
	var label string
	var class string
	var generic bool
	haveLabel := false
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			haveLabel = false
			continue
		}
		if section != "tcp:request" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%d: expected key = value, got %q", n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "label":
			var err error
			label, class, generic, err = parseLabel(val)
			if err != nil {
				return nil, fmt.Errorf("%d: %v", n, err)
			}
			haveLabel = true
		case "sig":
			if !haveLabel {
				return nil, fmt.Errorf("%d: sig before any label", n)
			}
			s, err := parseSig(val)
			if err != nil {
				return nil, fmt.Errorf("%d: sig %q: %v", n, val, err)
			}
			s.Label, s.Class, s.Generic, s.Line = label, class, generic, n
			db.sigs = append(db.sigs, s)
		case "sys":
		default:
			return nil, fmt.Errorf("%d: unknown key %q in [tcp:request]", n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%d: %v", n, err)
	}
	if len(db.sigs) == 0 {
		return nil, fmt.Errorf("%d: no [tcp:request] signatures", n)
	}
	return db, nil
}

// parseLabel reads "s:unix:Linux:3.11 and newer".
func parseLabel(v string) (label, class string, generic bool, err error) {
	f := strings.SplitN(v, ":", 4)
	if len(f) != 4 || (f[0] != "s" && f[0] != "g") || f[2] == "" {
		return "", "", false, fmt.Errorf("bad label %q (want s|g:class:name:flavor)", v)
	}
	label = f[2]
	if f[3] != "" {
		label += " " + f[3]
	}
	return label, f[1], f[0] == "g", nil
}

// parseSig reads ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass.
func parseSig(v string) (*Sig, error) {
	f := strings.Split(v, ":")
	if len(f) != 8 {
		return nil, fmt.Errorf("%d fields, want 8", len(f))
	}
	s := &Sig{}
	switch f[0] {
	case "*":
		s.ver = -1
	case "4":
		s.ver = 4
	case "6":
		s.ver = 6
	default:
		return nil, fmt.Errorf("bad version %q", f[0])
	}
	ttl := f[1]
	if strings.HasSuffix(ttl, "-") {
		s.badTTL, ttl = true, strings.TrimSuffix(ttl, "-")
	}
	if i := strings.IndexByte(ttl, '+'); i >= 0 {
		ttl = ttl[:i] // "64+3": a fixed distance, as p0f reads it
	}
	t, err := strconv.ParseUint(ttl, 10, 8)
	if err != nil {
		return nil, fmt.Errorf("bad ttl %q", f[1])
	}
	s.ttl = uint8(t)
	o, err := strconv.ParseUint(f[2], 10, 8)
	if err != nil {
		return nil, fmt.Errorf("bad olen %q", f[2])
	}
	s.optLen = uint8(o)
	if f[3] == "*" {
		s.mss = -1
	} else {
		m, err := strconv.ParseUint(f[3], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad mss %q", f[3])
		}
		s.mss = int32(m)
	}
	win, scale, ok := strings.Cut(f[4], ",")
	if !ok {
		return nil, fmt.Errorf("bad wsize,scale %q", f[4])
	}
	num := func(x string) (uint16, error) {
		n, err := strconv.ParseUint(x, 10, 16)
		return uint16(n), err
	}
	switch {
	case win == "*":
		s.win = winAny
	case strings.HasPrefix(win, "mss*"):
		s.win = winMSS
		s.winVal, err = num(win[4:])
	case strings.HasPrefix(win, "mtu*"):
		s.win = winMTU
		s.winVal, err = num(win[4:])
	case strings.HasPrefix(win, "%"):
		s.win = winMod
		s.winVal, err = num(win[1:])
		if err == nil && s.winVal == 0 {
			err = fmt.Errorf("zero modulus")
		}
	default:
		s.win = winValue
		s.winVal, err = num(win)
	}
	if err != nil {
		return nil, fmt.Errorf("bad wsize %q", win)
	}
	if scale == "*" {
		s.scale = -1
	} else {
		n, err := strconv.ParseUint(scale, 10, 8)
		if err != nil {
			return nil, fmt.Errorf("bad scale %q", scale)
		}
		s.scale = int16(n)
	}
	if f[5] != "" {
		for _, o := range strings.Split(f[5], ",") {
			switch {
			case o == "nop":
				s.layout = append(s.layout, event.OptNOP)
			case o == "mss":
				s.layout = append(s.layout, event.OptMSS)
			case o == "ws":
				s.layout = append(s.layout, event.OptWS)
			case o == "sok":
				s.layout = append(s.layout, event.OptSOK)
			case o == "sack":
				s.layout = append(s.layout, event.OptSACK)
			case o == "ts":
				s.layout = append(s.layout, event.OptTS)
			case strings.HasPrefix(o, "eol+"):
				p, err := strconv.ParseUint(o[4:], 10, 8)
				if err != nil {
					return nil, fmt.Errorf("bad option %q", o)
				}
				s.layout = append(s.layout, event.OptEOL)
				s.eolPad = uint8(p)
			case strings.HasPrefix(o, "?"):
				k, err := strconv.ParseUint(o[1:], 10, 8)
				if err != nil {
					return nil, fmt.Errorf("bad option %q", o)
				}
				s.layout = append(s.layout, uint8(k))
			default:
				return nil, fmt.Errorf("unknown option %q", o)
			}
		}
	}
	if f[6] != "" {
	next:
		for _, q := range strings.Split(f[6], ",") {
			for i, n := range event.QuirkNames() {
				if q == n {
					s.quirks |= 1 << i
					continue next
				}
			}
			return nil, fmt.Errorf("unknown quirk %q", q)
		}
	}
	switch f[7] {
	case "*":
		s.payClass = -1
	case "0":
		s.payClass = 0
	case "+":
		s.payClass = 1
	default:
		return nil, fmt.Errorf("bad payload class %q", f[7])
	}
	return s, nil
}

// Match returns the signature fp matches best, and whether the match is
// fuzzy; nil when none does.
func (db *DB) Match(fp *event.TCPFingerprint) (*Sig, bool) {
	if db == nil || !fp.Set {
		return nil, false
	}
	var generic, fuzzyM *Sig
	for _, s := range db.sigs {
		fuzzy := false
		if len(s.layout) != int(fp.NLayout) {
			continue
		}
		same := true
		for i, k := range s.layout {
			if fp.Layout[i] != k {
				same = false
				break
			}
		}
		if !same {
			continue
		}
		if s.quirks != fp.Quirks {
			diff := s.quirks ^ fp.Quirks
			if diff&^(event.QuirkDF|event.QuirkIDPlus) != 0 {
				continue
			}
			fuzzy = true
		}
		if s.eolPad != fp.EOLPad || s.optLen != fp.OptLen {
			continue
		}
		if s.badTTL {
			if s.ttl < fp.TTL {
				continue
			}
		} else if s.ttl < fp.TTL || s.ttl-fp.TTL > maxDist {
			fuzzy = true
			if s.ttl < fp.TTL {
				continue
			}
		}
		if s.ver != -1 && uint8(s.ver) != fp.IPVer {
			continue
		}
		if s.mss != -1 && uint16(s.mss) != fp.MSS {
			continue
		}
		if s.scale != -1 && uint8(s.scale) != fp.Scale {
			continue
		}
		if s.payClass != -1 && (s.payClass == 1) != fp.Payload {
			continue
		}
		win, mss := int(fp.Win), int(fp.MSS)
		switch s.win {
		case winValue:
			if win != int(s.winVal) {
				continue
			}
		case winMod:
			if win%int(s.winVal) != 0 {
				continue
			}
		case winMSS:
			if mss < 100 || win != int(s.winVal)*mss {
				continue
			}
		case winMTU:
			hdr := event.MinTCP4
			if fp.IPVer == 6 {
				hdr = event.MinTCP6
			}
			if mss < 100 || win != int(s.winVal)*(mss+hdr) {
				continue
			}
		}
		switch {
		case !fuzzy && !s.Generic:
			return s, false
		case !fuzzy && generic == nil:
			generic = s
		case fuzzy && fuzzyM == nil:
			fuzzyM = s
		}
	}
	if generic != nil {
		return generic, false
	}
	return fuzzyM, fuzzyM != nil
}

// Label sets fp's Label, Generic, Fuzzy and Distance from the database.
func (db *DB) Label(fp *event.TCPFingerprint) {
	s, fuzzy := db.Match(fp)
	if s == nil {
		return
	}
	fp.Label, fp.Generic, fp.Fuzzy = s.Label, s.Generic, fuzzy
	if s.ttl >= fp.TTL {
		fp.Distance = s.ttl - fp.TTL
	}
}

// Sink labels each event's SYN fingerprint before handing it to the next
// sink; it runs in the sink's goroutine, off the packet path.
type Sink struct {
	event.Sink
	DB *DB
}

// Write implements event.Sink.
func (s *Sink) Write(e *event.Event) error {
	if e.TCPFP.Set {
		s.DB.Label(&e.TCPFP)
	}
	return s.Sink.Write(e)
}
