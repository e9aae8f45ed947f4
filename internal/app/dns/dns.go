// Package dns answers DNS queries over UDP and TCP as an authoritative
// server for every name: A with the IPv4 address the query was sent to,
// AAAA with the IPv6 one, CHAOS TXT version.bind with a BIND version, and
// an empty NOERROR for everything else (ANY included: never amplified).
package dns

import (
	"encoding/binary"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "DNS queries over UDP and TCP: A/AAAA with our own address, CHAOS version.bind, EDNS0"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

const (
	maxQuestions = 16
	ednsSize     = 1232 // UDP payload size we advertise (DNS flag day 2020)
	classCHAOS   = dnsmessage.Class(3)
	// linuxVersion is Debian 12's BIND.
	linuxVersion = "9.18.28-1~deb12u2-Debian"
	ttlUpstream  = 43200
	ttlLinux     = 3600
)

// Handler is the DNS protocol handler.
type Handler struct{}

// New returns the DNS handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "dns" }

// plausible checks a query header: QR=0, opcode QUERY, 1..16 questions,
// no answers or authorities, at most one additional (EDNS0 OPT).
func plausible(h []byte) bool {
	if h[2]&0x80 != 0 || (h[2]>>3)&0xF != 0 {
		return false
	}
	qd := binary.BigEndian.Uint16(h[4:])
	an := binary.BigEndian.Uint16(h[6:])
	ns := binary.BigEndian.Uint16(h[8:])
	ar := binary.BigEndian.Uint16(h[10:])
	return qd >= 1 && qd <= maxQuestions && an == 0 && ns == 0 && ar <= 1
}

// firstQuestion reports whether msg's first question parses.
func firstQuestion(msg []byte) bool {
	var p dnsmessage.Parser
	if _, err := p.Start(msg); err != nil {
		return false
	}
	_, err := p.Question()
	return err == nil
}

// Detect implements app.Handler.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if t == app.UDP {
		if len(data) < 12 || !plausible(data) || !firstQuestion(data) {
			return app.No
		}
		return app.Yes
	}
	if len(data) < 2 {
		return app.Maybe
	}
	n := int(binary.BigEndian.Uint16(data))
	if n < 12+5 {
		return app.No
	}
	body := data[2:]
	if len(body) < 12 {
		return app.Maybe
	}
	if !plausible(body) {
		return app.No
	}
	if len(body) < n {
		return app.Maybe
	}
	if !firstQuestion(body[:n]) {
		return app.No
	}
	return app.Yes
}

// Serve implements app.Handler.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	msg := data
	prefix := 0
	if c.Transport == app.TCP {
		if len(data) < 2 {
			return app.Result{NeedMore: true}
		}
		n := int(binary.BigEndian.Uint16(data))
		if n < 12 {
			return app.Result{}
		}
		if len(data) < 2+n {
			return app.Result{NeedMore: true}
		}
		msg, prefix = data[2:2+n], 2
	}
	q, ok := parse(msg)
	if !ok {
		return app.Result{}
	}
	res := app.Result{Consumed: prefix + len(msg), Fields: fields(&q)}
	if q.hdr.Response || q.hdr.OpCode != 0 || len(q.questions) == 0 {
		// Only queries are answered (no loops with other responders).
		if c.Transport == app.UDP {
			res.Consumed = 0
		}
		return res
	}
	limit := 0
	if c.Transport == app.UDP {
		limit = 512
		if q.edns {
			limit = max(512, min(int(q.udpSize), ednsSize))
		}
		if c.MaxReply > 0 {
			limit = min(limit, c.MaxReply)
		}
	}
	reply := build(c, &q, true, q.edns)
	if limit > 0 && len(reply) > limit {
		// Truncated: no answers, TC=1, the client retries over TCP.
		reply = build(c, &q, false, q.edns)
		if len(reply) > limit {
			reply = build(c, &q, false, false)
		}
	}
	if reply == nil {
		return res
	}
	if prefix > 0 {
		reply = append(binary.BigEndian.AppendUint16(nil, uint16(len(reply))), reply...)
	}
	res.Reply = reply
	return res
}

type query struct {
	hdr       dnsmessage.Header
	questions []dnsmessage.Question
	edns      bool
	udpSize   uint16
	do        bool
}

func parse(msg []byte) (query, bool) {
	var q query
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return q, false
	}
	q.hdr = h
	for {
		qq, err := p.Question()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil || len(q.questions) >= maxQuestions {
			return q, false
		}
		q.questions = append(q.questions, qq)
	}
	if p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
		return q, false
	}
	for {
		rh, err := p.AdditionalHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return q, false
		}
		if rh.Type == dnsmessage.TypeOPT && !q.edns {
			q.edns = true
			q.udpSize = uint16(rh.Class)
			q.do = rh.TTL&0x8000 != 0
		}
		if p.SkipAdditional() != nil {
			return q, false
		}
	}
	return q, true
}

// build makes the reply; answers=false makes a truncated (TC=1) one.
func build(c *app.Conn, q *query, answers, opt bool) []byte {
	masscanned := c.Personality == "masscanned"
	ttl := uint32(ttlLinux)
	if masscanned {
		ttl = ttlUpstream
	}
	hdr := dnsmessage.Header{
		ID:               q.hdr.ID,
		Response:         true,
		OpCode:           q.hdr.OpCode,
		Authoritative:    true,
		RecursionDesired: q.hdr.RecursionDesired,
		Truncated:        !answers,
		RCode:            dnsmessage.RCodeSuccess,
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), hdr)
	if !masscanned {
		b.EnableCompression()
	}
	if b.StartQuestions() != nil {
		return nil
	}
	for _, qq := range q.questions {
		if b.Question(qq) != nil {
			return nil
		}
	}
	if b.StartAnswers() != nil {
		return nil
	}
	if answers {
		server := c.Server.Addr().Unmap()
		for _, qq := range q.questions {
			var err error
			rh := dnsmessage.ResourceHeader{Name: qq.Name, Class: qq.Class, TTL: ttl}
			switch {
			case qq.Class == dnsmessage.ClassINET && qq.Type == dnsmessage.TypeA && server.Is4():
				err = b.AResource(rh, dnsmessage.AResource{A: server.As4()})
			case qq.Class == dnsmessage.ClassINET && qq.Type == dnsmessage.TypeAAAA && server.Is6():
				err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: server.As16()})
			case qq.Class == classCHAOS && qq.Type == dnsmessage.TypeTXT && isVersion(qq.Name) && !masscanned:
				rh.TTL = 0
				err = b.TXTResource(rh, dnsmessage.TXTResource{TXT: []string{linuxVersion}})
			}
			if err != nil {
				return nil
			}
		}
	}
	if opt {
		if b.StartAdditionals() != nil {
			return nil
		}
		var rh dnsmessage.ResourceHeader
		if rh.SetEDNS0(ednsSize, dnsmessage.RCodeSuccess, q.do) != nil {
			return nil
		}
		if b.OPTResource(rh, dnsmessage.OPTResource{}) != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

func isVersion(n dnsmessage.Name) bool {
	s := strings.ToLower(n.String())
	return s == "version.bind." || s == "version.server."
}

var typeNames = map[dnsmessage.Type]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
	28: "AAAA", 33: "SRV", 35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC",
	48: "DNSKEY", 50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS", 99: "SPF",
	251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA",
}

func typeName(t dnsmessage.Type) string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func className(c dnsmessage.Class) string {
	switch c {
	case 1:
		return "IN"
	case 3:
		return "CH"
	case 4:
		return "HS"
	case 254:
		return "NONE"
	case 255:
		return "ANY"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

func opcodeName(o dnsmessage.OpCode) string {
	switch o {
	case 0:
		return "QUERY"
	case 1:
		return "IQUERY"
	case 2:
		return "STATUS"
	case 4:
		return "NOTIFY"
	case 5:
		return "UPDATE"
	}
	return strconv.Itoa(int(o))
}

func fields(q *query) []event.Field {
	f := []event.Field{
		{Key: "id", Value: int(q.hdr.ID)},
		{Key: "opcode", Value: opcodeName(q.hdr.OpCode)},
	}
	if len(q.questions) > 0 {
		q0 := q.questions[0]
		f = append(f,
			event.Field{Key: "qname", Value: app.Printable([]byte(q0.Name.String()))},
			event.Field{Key: "qtype", Value: typeName(q0.Type)},
			event.Field{Key: "qclass", Value: className(q0.Class)})
		qs := make([]string, len(q.questions))
		for i, qq := range q.questions {
			qs[i] = app.Printable([]byte(qq.Name.String())) + " " + typeName(qq.Type) + " " + className(qq.Class)
		}
		f = append(f, event.Field{Key: "questions", Value: qs})
	}
	f = append(f, event.Field{Key: "edns", Value: q.edns})
	if q.edns {
		f = append(f,
			event.Field{Key: "edns_udp_size", Value: int(q.udpSize)},
			event.Field{Key: "do", Value: q.do})
	}
	return f
}
