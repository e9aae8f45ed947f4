// Package ivre turns events into IVRE's passive recon records: the JSON
// lines zeek writes with IVRE's passiverecon script (zeek/ivre/passiverecon
// in ivre/ivre), which `ivre passiverecon2db` imports. The sensor's
// addresses are the script's HONEYPOTS: every record is about the client
// (host = the scanner), as the script writes for honeypot addresses.
//
// Followed: ivre/ivre commit 9751e08c5554132021eeb192a41ce7464653ebbd,
// zeek/ivre/passiverecon/__load__.zeek (record shapes, recon types and
// sources), hassh.zeek, ja3.zeek, ntlm.zeek, and ivre/passive.py,
// ivre/tools/passiverecon2db.py (what the importer does with them).
package ivre

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Recon types of the passiverecon script used here (without its
// "PassiveRecon::" prefix, which the writer adds).
const (
	TCPHoneypotHit      = "TCP_HONEYPOT_HIT"
	UDPHoneypotHit      = "UDP_HONEYPOT_HIT"
	STUNHoneypotRequest = "STUN_HONEYPOT_REQUEST"
	HTTPHoneypotRequest = "HTTP_HONEYPOT_REQUEST"
	HTTPClientHeader    = "HTTP_CLIENT_HEADER"
	DNSHoneypotQuery    = "DNS_HONEYPOT_QUERY"
	SSHClient           = "SSH_CLIENT"
	SSHClientAlgos      = "SSH_CLIENT_ALGOS"
	SSHClientHASSH      = "SSH_CLIENT_HASSH"
	SSLClient           = "SSL_CLIENT"
	NTLMNegotiate       = "NTLM_NEGOTIATE"
	NTLMAuthenticate    = "NTLM_AUTHENTICATE"
	NTLMClientFlags     = "NTLM_CLIENT_FLAGS"
	FTPClient           = "FTP_CLIENT"
	POPClient           = "POP_CLIENT"
	// AuthClient is masscanned's own type, not the script's: a
	// credential tried on a service the script has no record for
	// (telnet, SSH, SMTP, IMAP, MySQL, ...). passiverecon2db imports any
	// recon type (handle_rec and getinfos pass unknown ones through).
	// source is "<protocol>-USER", "<protocol>-PASS" or
	// "<protocol>-HASH-<format>".
	AuthClient = "AUTH_CLIENT"
)

// HASSHVersion is the version the script names its HASSH records with
// (hassh.zeek's IvreHASSHVersion).
const HASSHVersion = "1.1"

// Record is one passive recon record. Value holds bytes (written with
// zeek's escaping); an absent Source is "".
type Record struct {
	TS      time.Time
	UID     uint64 // 0: none
	Host    netip.Addr
	SrvPort uint16 // 0: none
	Type    string
	Source  string
	Value   string
}

// Mapper turns events into records. It keeps, per connection, whether
// its first client bytes were recorded (or we spoke first), forgetting
// it at the connection's end. It is used from one goroutine.
type Mapper struct {
	conns map[uint64]uint8
}

const (
	connFirstDone = 1 << iota // first bytes recorded
	connGreeted               // we spoke first: no first-bytes record (zeek: c$resp$size == 0)
)

// maxConns bounds the per-connection state (end events lost to a full
// queue would otherwise leave entries behind).
const maxConns = 1 << 16

// NewMapper returns a Mapper.
func NewMapper() *Mapper { return &Mapper{conns: make(map[uint64]uint8)} }

// httpClientHeaders are the script's HTTP_CLIENT_HEADERS.
var httpClientHeaders = map[string]bool{
	"USER-AGENT": true, "X-FLASH-VERSION": true, "ACCEPT-LANGUAGE": true, "AUTHORIZATION": true,
	"PROXY-AUTHORIZATION": true, "X-FORWARDED-FOR": true, "VIA": true,
}

// Append appends e's records to out.
func (m *Mapper) Append(out []Record, e *event.Event) []Record {
	if e.Verdict == event.Dropped || !e.SrcIP.IsValid() {
		return out
	}
	rec := func(typ, source, value string) {
		out = append(out, Record{TS: e.Time, UID: e.UID, Host: e.SrcIP, Type: typ, Source: source, Value: value})
	}
	switch {
	case e.Kind == event.KindConnEnd:
		delete(m.conns, e.UID)
		return out
	case e.IPProto == 6 && e.Kind == "" && e.TCPFlags&0x12 == 0x02 && e.Reason != event.ReasonClosedPort:
		// a connection attempt (zeek: connection_attempt or
		// connection_established): a SYN we answered, or would have
		rec(TCPHoneypotHit, "tcp/"+strconv.Itoa(int(e.DstPort)), "")
	case e.IPProto == 17 && e.Layer == "udp" && e.PayloadLen > 0 && e.Kind == "":
		var raw []byte
		if e.App != nil {
			raw = e.App.Raw
		}
		typ := UDPHoneypotHit
		if isSTUNRequest(raw) {
			typ = STUNHoneypotRequest
		}
		rec(typ, "udp/"+strconv.Itoa(int(e.DstPort)), string(raw))
	}
	if e.IPProto == 6 && e.UID != 0 && e.Kind != event.KindApp {
		if e.Reply == "greeting" {
			m.mark(e.UID, connGreeted)
		}
		// the client's first bytes (tcp_contents at seq 1, before we
		// spoke): the buffer its first application record saw
		if e.App != nil && len(e.App.Raw) > 0 && m.conns[e.UID] == 0 {
			rec(TCPHoneypotHit, "tcp/"+strconv.Itoa(int(e.DstPort)), string(e.App.Raw))
		}
		if e.App != nil && len(e.App.Raw) > 0 {
			m.mark(e.UID, connFirstDone)
		}
	}
	if e.App == nil {
		return out
	}
	appRecords(e, rec)
	return out
}

func (m *Mapper) mark(uid uint64, bit uint8) {
	if len(m.conns) >= maxConns {
		clear(m.conns)
	}
	m.conns[uid] |= bit
}

// appRecords gives rec the records of e's application fields.
func appRecords(e *event.Event, rec func(typ, source, value string)) {
	a := e.App
	tr := "tcp"
	if e.IPProto == 17 {
		tr = "udp"
	}
	port := strconv.Itoa(int(e.DstPort))
	authDone := false
	switch a.Proto {
	case "http":
		httpRecords(a, port, rec)
		authDone = true // the AUTHORIZATION header is the record
	case "dns":
		if q, ok := str(a, "qname"); ok {
			qt, _ := str(a, "qtype")
			qc, _ := str(a, "qclass")
			rec(DNSHoneypotQuery, tr+"/"+port+"-"+zeekQType(qt)+"-"+zeekQClass(qc), strings.TrimSuffix(q, "."))
		}
	case "ssh":
		sshRecords(a, rec)
	case "tls":
		if v, ok := str(a, "ja3"); ok {
			rec(SSLClient, "ja3", v)
		}
		if v, ok := str(a, "ja4_r"); ok {
			rec(SSLClient, "ja4", v)
		} else if v, ok := str(a, "ja4"); ok {
			rec(SSLClient, "ja4", v)
		}
	case "ftp", "pop3":
		typ := FTPClient
		if a.Proto == "pop3" {
			typ = POPClient
		}
		if c, ok := str(a, "command"); ok {
			if c = strings.ToUpper(c); c == "USER" || c == "PASS" {
				arg, _ := str(a, "argument")
				rec(typ, c, arg)
			}
		}
		authDone = true
	}
	if _, ok := get(a, "ntlm_type"); ok && a.Proto != "http" {
		ntlmRecords(a, "tcp-"+strings.ToUpper(a.Proto), rec)
	}
	if !authDone {
		if v, ok := get(a, "auth"); ok {
			if au, ok := v.(event.Auth); ok {
				p := strings.ToUpper(au.Protocol)
				if p == "" {
					p = strings.ToUpper(a.Proto)
				}
				rec(AuthClient, p+"-USER", au.User)
				if au.Hash != "" {
					rec(AuthClient, p+"-HASH-"+au.Format, au.Hash)
				} else {
					rec(AuthClient, p+"-PASS", au.Password)
				}
			}
		}
	}
}

// httpRecords: HTTP_HONEYPOT_REQUEST for the request (not HTTP/0.9), and
// HTTP_CLIENT_HEADER for the client headers of interest, from the
// request bytes when they hold the header line whole, else from the
// fields.
func httpRecords(a *event.App, port string, rec func(typ, source, value string)) {
	method, _ := str(a, "method")
	path, _ := str(a, "path")
	version, _ := str(a, "version")
	lines, _ := headerLines(a.Raw)
	if len(lines) > 0 {
		// the request line's own bytes
		if f := bytes.Fields(lines[0]); len(f) == 3 && string(f[0]) == method {
			path = string(f[1])
		}
	}
	if method != "" && version != "HTTP/0.9" {
		rec(HTTPHoneypotRequest, method+"-"+strings.TrimPrefix(version, "HTTP/")+"-tcp/"+port, path)
	}
	seen := map[string]bool{}
	for _, l := range lines[min(1, len(lines)):] {
		name, value, ok := bytes.Cut(l, []byte{':'})
		if !ok {
			continue
		}
		n := strings.ToUpper(string(bytes.TrimSpace(name)))
		if !httpClientHeaders[n] {
			continue
		}
		seen[n] = true
		rec(HTTPClientHeader, n, string(bytes.TrimSpace(value)))
	}
	if ua, ok := str(a, "user_agent"); ok && !seen["USER-AGENT"] {
		rec(HTTPClientHeader, "USER-AGENT", ua)
	}
	if v, ok := get(a, "auth"); ok && !seen["AUTHORIZATION"] {
		if au, ok := v.(event.Auth); ok {
			if au.Hash == "" {
				rec(HTTPClientHeader, "AUTHORIZATION", "Basic "+base64.StdEncoding.EncodeToString([]byte(au.User+":"+au.Password)))
			} else {
				rec(HTTPClientHeader, "AUTHORIZATION", schemeName(au.Format)+" "+au.Hash)
			}
		}
	}
}

// schemeName restores the usual case of an HTTP authentication scheme
// the event keeps lower-cased.
func schemeName(s string) string {
	switch s {
	case "ntlm":
		return "NTLM"
	case "digest", "negotiate", "bearer", "basic":
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// headerLines splits the request head in raw into complete lines (a line
// cut by the end of raw is left out); done reports the head's end.
func headerLines(raw []byte) (lines [][]byte, done bool) {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return lines, false
		}
		l := bytes.TrimSuffix(raw[:i], []byte{'\r'})
		raw = raw[i+1:]
		if len(l) == 0 {
			return lines, true
		}
		lines = append(lines, l)
	}
	return lines, false
}

// sshRecords: SSH_CLIENT for the identification line; SSH_CLIENT_ALGOS
// (space-separated lists) and SSH_CLIENT_HASSH (the raw HASSH string,
// which IVRE hashes itself) for the KEXINIT.
func sshRecords(a *event.App, rec func(typ, source, value string)) {
	if b, ok := str(a, "banner"); ok {
		rec(SSHClient, "", b)
	}
	kex, ok := list(a, "kex_algorithms")
	if !ok {
		return
	}
	hk, _ := list(a, "host_key_algorithms")
	enc, _ := list(a, "encryption_c2s")
	mac, _ := list(a, "mac_c2s")
	comp, _ := list(a, "compression_c2s")
	for _, l := range []struct {
		source string
		v      []string
	}{{"kex_algorithms", kex}, {"server_host_key_algorithms", hk}, {"encryption_algorithms", enc},
		{"mac_algorithms", mac}, {"compression_algorithms", comp}} {
		rec(SSHClientAlgos, l.source, strings.Join(l.v, " "))
	}
	rec(SSHClientHASSH, "hassh-v"+HASSHVersion, HASSHRaw(kex, enc, mac, comp))
}

// HASSHRaw is the HASSH string of a client's lists (its MD5 is the
// HASSH).
func HASSHRaw(kex, enc, mac, comp []string) string {
	return strings.Join(kex, ",") + ";" + strings.Join(enc, ",") + ";" + strings.Join(mac, ",") + ";" + strings.Join(comp, ",")
}

// ntlmFlagsMask keeps the negotiate flags ntlm.zeek's _get_hex_flags
// knows (the others are unused bits it writes as 0).
const ntlmFlagsMask = ^uint32(1<<3 | 1<<8 | 1<<10 | 1<<14 | 1<<18 | 1<<21 | 1<<24 | 1<<26 | 1<<27 | 1<<28)

// ntlmRecords: NTLM_NEGOTIATE and NTLM_CLIENT_FLAGS for a NEGOTIATE,
// NTLM_AUTHENTICATE for an AUTHENTICATE (ntlm.zeek's value: fields as
// name:base64, comma-separated).
func ntlmRecords(a *event.App, source string, rec func(typ, source, value string)) {
	t, _ := get(a, "ntlm_type")
	typ, _ := t.(int)
	b64 := func(k string) string { return base64.StdEncoding.EncodeToString([]byte(k)) }
	var v []string
	add := func(name, key string) {
		if s, ok := str(a, key); ok {
			v = append(v, name+":"+b64(s))
		}
	}
	switch typ {
	case 1:
		add("NetBIOS_Domain_Name", "domain")
		add("Workstation", "workstation")
		add("Product_Version", "ntlm_os_version")
		rec(NTLMNegotiate, source, strings.Join(v, ","))
		if f, ok := str(a, "ntlm_flags"); ok {
			if n, err := strconv.ParseUint(f, 16, 32); err == nil {
				rec(NTLMClientFlags, source, "ntlm-fingerprint:0x"+hex8(uint32(n)&ntlmFlagsMask))
			}
		}
	case 3:
		add("NetBIOS_Domain_Name", "domain")
		add("User_Name", "user")
		add("Workstation", "workstation")
		add("Product_Version", "ntlm_os_version")
		rec(NTLMAuthenticate, source, strings.Join(v, ","))
	}
}

func hex8(n uint32) string {
	s := strconv.FormatUint(uint64(n), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

// isSTUNRequest is the script's STUN_CLIENT_REQUEST or
// STUN_CLIENT_REQUEST_RELAXED pattern.
func isSTUNRequest(b []byte) bool {
	if len(b) >= 8 && b[0] == 0 && b[1] == 1 && b[4] == 0x21 && b[5] == 0x12 && b[6] == 0xa4 && b[7] == 0x42 {
		return true
	}
	return len(b) >= 27 && bytes.Equal(b[:4], []byte{0, 1, 0, 8}) &&
		bytes.Equal(b[20:27], []byte{0, 3, 0, 4, 0, 0, 0})
}

// zeekQType is zeek's DNS::query_types name of a type the DNS handler
// named ("ANY" is "*"). A type zeek has no name for is left in RFC 3597's
// form ("TYPE3"), not zeek's "query-3": IVRE splits the source on its
// last two "-" (view.py, _extract_passive_DNS_HONEYPOT_QUERY), which
// zeek's form breaks.
func zeekQType(s string) string {
	switch s {
	case "ANY":
		return "*"
	case "":
		return "TYPE0"
	}
	return s
}

// zeekQClass is zeek's DNS::classes name of a class the DNS handler
// named; an unnamed class stays "CLASSn" (zeek's "qclass-n" would break
// IVRE's parsing, as for types).
func zeekQClass(s string) string {
	switch s {
	case "IN":
		return "C_INTERNET"
	case "CH":
		return "C_CHAOS"
	case "HS":
		return "C_HESIOD"
	case "NONE":
		return "C_NONE"
	case "ANY":
		return "C_ANY"
	case "":
		return "CLASS0"
	}
	return s
}

func get(a *event.App, key string) (any, bool) {
	for _, f := range a.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// str is a string field's bytes: app.Printable's \xNN escapes undone.
func str(a *event.App, key string) (string, bool) {
	v, ok := get(a, key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return unPrintable(s), ok
}

// unPrintable reverses app.Printable: \xNN back to its byte.
func unPrintable(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func list(a *event.App, key string) ([]string, bool) {
	v, ok := get(a, key)
	if !ok {
		return nil, false
	}
	l, ok := v.([]string)
	return l, ok
}
