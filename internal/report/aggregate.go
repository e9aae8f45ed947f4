// Package report aggregates masscanned's JSON events (as --format json
// writes them) in bounded memory and renders them as one self-contained
// HTML page: activity over time, sources, ports, services, verdicts,
// credentials, commands, URLs and client fingerprints.
package report

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Options bound the aggregation.
type Options struct {
	// Top is the number of rows of the ranked tables (sources, networks,
	// ports, fingerprints, ...); default 50.
	Top int
	// MaxItems is the number of distinct credentials, commands, URLs and
	// values of each fingerprint kept; default 10000. Beyond it the
	// least frequent half is pruned, and the page says how many.
	MaxItems int
	// MaxSources is the number of distinct source addresses (and
	// networks, destinations) kept; default 100000.
	MaxSources int
}

func (o *Options) defaults() {
	if o.Top <= 0 {
		o.Top = 50
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 10000
	}
	if o.MaxSources <= 0 {
		o.MaxSources = 100000
	}
}

// MaxLine is the longest event line accepted.
const MaxLine = 16 << 20

// histBuckets bounds the activity histogram.
const histBuckets = 8192

// maxServices bounds the per-service table; further names count as
// "(other)".
const maxServices = 512

// maxTLSConns bounds the set of TLS connections remembered to tell HTTPS
// requests from HTTP ones.
const maxTLSConns = 65536

// Input is one file read.
type Input struct {
	Name   string
	Events uint64
}

// Service is one application protocol's totals.
type Service struct {
	Name                  string
	Records               uint64 // events with this app record
	Conns                 uint64 // connections it served (conn-end)
	BytesIn, BytesOut     uint64 // payload of those connections
	Credentials, Commands uint64
	DurationSum           float64 // seconds, over Conns
}

// Aggregator tallies events. The zero value is not ready: use New.
type Aggregator struct {
	opt Options

	Events      uint64
	Inputs      []Input
	First, Last int64 // Unix ns of the earliest and latest event

	verdicts   *counter // verdict
	kinds      *counter // kind \0 verdict
	reasons    *counter // verdict \0 reason
	replies    *counter
	suppressed *counter
	layers     *counter

	sources *counter // ip: X = SYNs, credentials, commands
	nets    *counter // /24 or /48
	dests   *counter // ip
	ports   *counter // proto/port: X = SYNs, connections, app records

	services map[string]*Service

	Conns      uint64
	connEnds   *counter
	AppRecords uint64
	SYNs       uint64

	Credentials, CredentialsOK uint64
	creds                      *counter // protocol \0 user \0 password \0 hash \0 format: X[0] = successes; Info = first source
	Commands                   uint64
	commands                   *counter // proto \0 command: Info = urls, hosts, first source
	URLs                       uint64
	urls                       *counter // via \0 url

	userAgents *counter // proto \0 ua
	ja3        *counter // hash \0 string
	ja4        *counter
	hassh      *counter
	sshBanners *counter
	tcpfp      *counter // raw \0 os
	sni        *counter

	tlsConns map[string]struct{}
	hist     *histogram
	ev       jsonEvent
	intern   map[string]string
	pairKeys map[[2]string]string // memo of kind/verdict and verdict/reason keys
	portKeys map[uint32]string    // memo of proto/port keys
}

// pairKey is a+"\x00"+b, allocated once per pair.
func (a *Aggregator) pairKey(x, y string) string {
	if k, ok := a.pairKeys[[2]string{x, y}]; ok {
		return k
	}
	k := x + "\x00" + y
	if len(a.pairKeys) < maxIntern {
		a.pairKeys[[2]string{x, y}] = k
	}
	return k
}

// portKey is proto/port ("tcp/80"), allocated once per port.
func (a *Aggregator) portKey(proto string, port uint16) string {
	var p uint32
	switch proto {
	case "udp":
		p = 1
	case "sctp":
		p = 2
	}
	id := p<<16 | uint32(port)
	if k, ok := a.portKeys[id]; ok {
		return k
	}
	k := proto + "/" + strconv.Itoa(int(port))
	a.portKeys[id] = k
	return k
}

// New returns an empty aggregator.
func New(opt Options) *Aggregator {
	opt.defaults()
	small := func() *counter { return newCounter(4096) }
	items := func() *counter { return newCounter(opt.MaxItems) }
	src := func() *counter { return newCounter(opt.MaxSources) }
	return &Aggregator{
		opt:      opt,
		verdicts: small(), kinds: small(), reasons: small(), replies: small(), suppressed: small(), layers: small(),
		sources: src(), nets: src(), dests: src(), ports: newCounter(2 * 65536),
		services: make(map[string]*Service), connEnds: small(),
		creds: items(), commands: items(), urls: items(),
		userAgents: items(), ja3: items(), ja4: items(), hassh: items(), sshBanners: items(), tcpfp: items(), sni: items(),
		tlsConns: make(map[string]struct{}),
		intern:   make(map[string]string), pairKeys: make(map[[2]string]string), portKeys: make(map[uint32]string),
		hist: newHistogram(histBuckets),
	}
}

// Read aggregates the JSON-lines events of r (gzip-compressed or not),
// named name in errors and in the page. An error names the file and, for
// a bad event, its line.
func (a *Aggregator) Read(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	in := Input{Name: name}
	defer func() { a.Inputs = append(a.Inputs, in) }()
	var long []byte
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > MaxLine {
					return fmt.Errorf("%s:%d: line longer than %d bytes", name, lineNo, MaxLine)
				}
			}
			line = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: %v", name, lineNo, err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if perr := a.AddLine(line); perr != nil {
				return fmt.Errorf("%s:%d: %v", name, lineNo, perr)
			}
			in.Events++
		}
		if err != nil {
			return nil
		}
	}
}

// AddLine aggregates one JSON event line.
func (a *Aggregator) AddLine(line []byte) error {
	if err := decode(line, &a.ev, a.intern); err != nil {
		return err
	}
	return a.add(&a.ev)
}

func (a *Aggregator) add(e *jsonEvent) error {
	if e.TS == "" || e.Verdict == "" {
		return errors.New("not a masscanned event: no ts or verdict")
	}
	ts, err := time.Parse(time.RFC3339Nano, e.TS)
	if err != nil {
		return fmt.Errorf("bad ts %q", e.TS)
	}
	t := ts.UnixNano()
	if a.Events == 0 || t < a.First {
		a.First = t
	}
	if a.Events == 0 || t > a.Last {
		a.Last = t
	}
	a.Events++

	kind := e.Kind
	if kind == "" {
		kind = "frame"
	}
	a.verdicts.add(e.Verdict, t)
	a.kinds.add(a.pairKey(kind, e.Verdict), t)
	if e.Reason != "" {
		a.reasons.add(a.pairKey(e.Verdict, e.Reason), t)
	}
	if e.Reply != "" {
		a.replies.add(e.Reply, t)
	}
	if e.Suppressed != "" {
		a.suppressed.add(e.Suppressed, t)
	}
	if e.Layer != "" {
		a.layers.add(e.Layer, t)
	}
	cls := clsOther
	switch e.Verdict {
	case "send":
		cls = clsSend
	case "recv":
		cls = clsRecv
	case "drop":
		cls = clsDrop
	}
	a.hist.add(ts.Unix(), cls)

	syn := e.Kind == "" && e.Proto == "tcp" && strings.IndexByte(e.TCPFlags, 'S') >= 0 && strings.IndexByte(e.TCPFlags, 'A') < 0
	if syn {
		a.SYNs++
		if e.TCPFP != nil && e.TCPFP.Raw != "" {
			a.tcpfp.add(e.TCPFP.Raw+"\x00"+e.TCPFP.OS, t)
		}
	}

	var src *entry
	if e.IPSrc != "" {
		src, _ = a.sources.add(e.IPSrc, t)
		if syn {
			src.X[0]++
		}
		if ip, err := netip.ParseAddr(e.IPSrc); err == nil {
			// an IPv4 network is kept as the address's first three
			// numbers (no allocation), an IPv6 one as its /48
			if i := strings.LastIndexByte(e.IPSrc, '.'); ip.Is4() && i > 0 {
				a.nets.add(e.IPSrc[:i], t)
			} else if p, err := ip.Unmap().Prefix(48); err == nil && ip.Is6() && !ip.Is4In6() {
				a.nets.add(p.String(), t)
			} else if p, err := ip.Unmap().Prefix(24); err == nil {
				a.nets.add(strings.TrimSuffix(p.Addr().String(), ".0"), t)
			}
		}
	}
	if e.IPDst != "" {
		a.dests.add(e.IPDst, t)
	}
	var port *entry
	if (e.Proto == "tcp" || e.Proto == "udp" || e.Proto == "sctp") && e.PortDst != 0 {
		port, _ = a.ports.add(a.portKey(e.Proto, e.PortDst), t)
		if syn {
			port.X[0]++
		}
	}

	if c := e.Conn; c != nil && c.End != "" {
		a.Conns++
		a.connEnds.add(c.End, t)
		if port != nil {
			port.X[1]++
		}
		name := c.Proto
		if name == "" {
			name = "(none)"
		}
		s := a.service(name)
		s.Conns++
		s.BytesIn += c.BytesIn
		s.BytesOut += c.BytesOut
		s.DurationSum += c.Duration
		if len(a.tlsConns) > 0 {
			if conn := connKey(e); conn != "" {
				delete(a.tlsConns, conn)
			}
		}
	}

	if ap := e.App; ap != nil {
		a.AppRecords++
		if port != nil {
			port.X[2]++
		}
		name := ap.Proto
		if name == "" {
			name = "(unnamed)"
		}
		s := a.service(name)
		s.Records++
		a.appFields(e, ap, s, src, t)
	}
	return nil
}

// connKey names e's TCP connection ("" if none).
func connKey(e *jsonEvent) string {
	if e.IPSrc == "" || e.Proto != "tcp" {
		return ""
	}
	return e.IPSrc + "|" + strconv.Itoa(int(e.PortSrc)) + "|" + e.IPDst + "|" + strconv.Itoa(int(e.PortDst))
}

func (a *Aggregator) appFields(e *jsonEvent, ap *jsonApp, s *Service, src *entry, t int64) {
	if au := &ap.Auth; au.OK {
		a.Credentials++
		s.Credentials++
		if src != nil {
			src.X[1]++
		}
		proto := string(au.Protocol)
		if proto == "" {
			proto = ap.Proto
		}
		key := proto + "\x00" + string(au.User) + "\x00" + string(au.Password) + "\x00" + string(au.Hash) + "\x00" + au.Form
		c, isNew := a.creds.add(key, t)
		if isNew {
			c.Info = []string{e.IPSrc}
		}
		if au.Success {
			a.CredentialsOK++
			c.X[0]++
		}
	}
	if ap.Command != "" {
		a.Commands++
		s.Commands++
		if src != nil {
			src.X[2]++
		}
		c, isNew := a.commands.add(ap.Proto+"\x00"+string(ap.Command), t)
		if isNew {
			c.Info = []string{strings.Join(ap.URLs, " "), strings.Join(ap.Hosts, " "), e.IPSrc}
		}
	}
	for _, u := range ap.URLs {
		a.URLs++
		a.urls.add("command ("+ap.Proto+")\x00"+u, t)
	}
	if ap.Method != "" && ap.Path != "" {
		scheme := "http"
		if len(a.tlsConns) > 0 {
			if _, ok := a.tlsConns[connKey(e)]; ok {
				scheme = "https"
			}
		}
		host := string(ap.Host)
		if host == "" {
			host = e.IPDst
			if strings.IndexByte(host, ':') >= 0 {
				host = "[" + host + "]"
			}
			if e.PortDst != 0 {
				host += ":" + strconv.Itoa(int(e.PortDst))
			}
		}
		u := string(ap.Path)
		if !strings.Contains(u, "://") {
			u = scheme + "://" + host + u
		}
		a.URLs++
		a.urls.add(ap.Proto+" "+string(ap.Method)+"\x00"+u, t)
	}
	if ap.UserAgent != "" {
		a.userAgents.add(ap.Proto+"\x00"+string(ap.UserAgent), t)
	}
	if ap.JA3Hash != "" || ap.JA3 != "" {
		a.ja3.add(string(ap.JA3Hash)+"\x00"+string(ap.JA3), t)
	}
	if ap.JA4 != "" {
		a.ja4.add(string(ap.JA4), t)
	}
	if ap.JA4 != "" || ap.JA3 != "" {
		if ap.SNI != "" {
			a.sni.add(string(ap.SNI), t)
		}
		if conn := connKey(e); conn != "" {
			if len(a.tlsConns) >= maxTLSConns {
				clear(a.tlsConns)
			}
			a.tlsConns[conn] = struct{}{}
		}
	}
	if ap.HASSH != "" && ap.Kex {
		a.hassh.add(string(ap.HASSH), t)
	}
	if ap.Proto == "ssh" && ap.Banner != "" {
		a.sshBanners.add(string(ap.Banner), t)
	}
}

func (a *Aggregator) service(name string) *Service {
	s := a.services[name]
	if s == nil {
		if len(a.services) >= maxServices {
			name = "(other)"
			if s = a.services[name]; s != nil {
				return s
			}
		}
		s = &Service{Name: name}
		a.services[name] = s
	}
	return s
}
