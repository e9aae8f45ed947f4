// Package ntlm is the server side of NTLMSSP (MS-NLMP) shared by the
// protocols that authenticate with it (SMB, RDP's CredSSP, ...): the
// CHALLENGE message a server with a given identity sends, the parsing of
// the client's NEGOTIATE and AUTHENTICATE messages, the NetNTLM line in
// hashcat/john form, and the SPNEGO wrappers.
package ntlm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Signature starts every NTLMSSP message.
var Signature = []byte("NTLMSSP\x00")

// Message types.
const (
	TypeNegotiate    = 1
	TypeChallenge    = 2
	TypeAuthenticate = 3
)

// Negotiate flags used by servers.
const (
	FlagUnicode         = 0x00000001
	FlagOEM             = 0x00000002
	FlagRequestTarget   = 0x00000004
	FlagSign            = 0x00000010
	FlagSeal            = 0x00000020
	FlagLMKey           = 0x00000080
	FlagNTLM            = 0x00000200
	FlagAlwaysSign      = 0x00008000
	FlagTargetDomain    = 0x00010000
	FlagTargetServer    = 0x00020000
	FlagExtendedSession = 0x00080000
	FlagTargetInfo      = 0x00800000
	FlagVersion         = 0x02000000
	Flag128             = 0x20000000
	FlagKeyExchange     = 0x40000000
	Flag56              = 0x80000000
)

// Identity is who the server claims to be in its CHALLENGE.
type Identity struct {
	Target                 string // TargetName (the NetBIOS domain, or computer in a workgroup)
	NBDomain, NBComputer   string // MsvAvNbDomainName, MsvAvNbComputerName
	DNSDomain, DNSComputer string // MsvAvDnsDomainName, MsvAvDnsComputerName
	DNSTree                string // MsvAvDnsTreeName, left out when empty
	Flags                  uint32
	Version                [8]byte // major, minor, build (LE), 0, 0, 0, NTLM revision
}

// WindowsVersion is the VERSION field of a Windows build (NTLM revision 15).
func WindowsVersion(major, minor byte, build uint16) [8]byte {
	return [8]byte{major, minor, byte(build), byte(build >> 8), 0, 0, 0, 15}
}

// Challenge builds an NTLMSSP CHALLENGE message (MS-NLMP 2.2.1.2).
func Challenge(id *Identity, challenge [8]byte, now time.Time) []byte {
	target := UTF16LE(id.Target)
	var info []byte
	av := func(t uint16, v []byte) {
		info = binary.LittleEndian.AppendUint16(info, t)
		info = binary.LittleEndian.AppendUint16(info, uint16(len(v)))
		info = append(info, v...)
	}
	av(2, UTF16LE(id.NBDomain))
	av(1, UTF16LE(id.NBComputer))
	av(4, UTF16LE(id.DNSDomain))
	av(3, UTF16LE(id.DNSComputer))
	if id.DNSTree != "" {
		av(5, UTF16LE(id.DNSTree))
	}
	av(7, binary.LittleEndian.AppendUint64(nil, Filetime(now)))
	av(0, nil)
	b := make([]byte, 56, 56+len(target)+len(info))
	copy(b, Signature)
	binary.LittleEndian.PutUint32(b[8:], TypeChallenge)
	binary.LittleEndian.PutUint16(b[12:], uint16(len(target)))
	binary.LittleEndian.PutUint16(b[14:], uint16(len(target)))
	binary.LittleEndian.PutUint32(b[16:], 56)
	binary.LittleEndian.PutUint32(b[20:], id.Flags)
	copy(b[24:], challenge[:])
	binary.LittleEndian.PutUint16(b[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(b[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(b[44:], uint32(56+len(target)))
	copy(b[48:], id.Version[:])
	b = append(b, target...)
	return append(b, info...)
}

// Find returns the NTLMSSP message inside a security blob (raw, or
// wrapped in SPNEGO/GSS-API), or nil.
func Find(blob []byte) []byte {
	i := bytes.Index(blob, Signature)
	if i < 0 {
		return nil
	}
	return blob[i:]
}

// field reads a (len, maxlen, offset) field at off in msg.
func field(msg []byte, off int) []byte {
	if off+8 > len(msg) {
		return nil
	}
	l := int(binary.LittleEndian.Uint16(msg[off:]))
	o := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if l == 0 || o < 0 || o > len(msg) || l > len(msg)-o {
		return nil
	}
	return msg[o : o+l]
}

// Message is what an NTLMSSP NEGOTIATE or AUTHENTICATE message said.
type Message struct {
	Type  uint32 // 0: too short to tell
	Flags uint32
	// Truncated: a message too short for its fixed part.
	Truncated bool
	// NEGOTIATE: the optional supplied domain and workstation (OEM);
	// AUTHENTICATE: the identity.
	User, Domain, Workstation string
	HasDomain, HasWorkstation bool
	LM, NT                    []byte // AUTHENTICATE responses
	OSVersion                 string // "major.minor.build", "" if absent
	// Kind of AUTHENTICATE: "anonymous", "NTLMv1", "NTLMv2", "LM", "unknown".
	Kind string
}

// Anonymous reports an anonymous AUTHENTICATE (null session).
func (m *Message) Anonymous() bool { return m.Kind == "anonymous" }

// Parse decodes an NTLMSSP NEGOTIATE or AUTHENTICATE message; other
// messages give their type only.
func Parse(msg []byte) Message {
	if len(msg) < 12 {
		return Message{}
	}
	m := Message{Type: binary.LittleEndian.Uint32(msg[8:])}
	switch m.Type {
	case TypeNegotiate:
		if len(msg) < 16 {
			m.Truncated = true
			return m
		}
		m.Flags = binary.LittleEndian.Uint32(msg[12:])
		if d := field(msg, 16); m.Flags&0x1000 != 0 && d != nil {
			m.Domain, m.HasDomain = OEM(d), true
		}
		if w := field(msg, 24); m.Flags&0x2000 != 0 && w != nil {
			m.Workstation, m.HasWorkstation = OEM(w), true
		}
		if m.Flags&FlagVersion != 0 && len(msg) >= 40 {
			m.OSVersion = osVersion(msg[32:40])
		}
	case TypeAuthenticate:
		if len(msg) < 64 {
			m.Truncated = true
			return m
		}
		m.Flags = binary.LittleEndian.Uint32(msg[60:])
		str := OEM
		if m.Flags&FlagUnicode != 0 {
			str = FromUTF16
		}
		m.LM = field(msg, 12)
		m.NT = field(msg, 20)
		m.Domain = str(field(msg, 28))
		m.User = str(field(msg, 36))
		m.Workstation = str(field(msg, 44))
		m.HasDomain, m.HasWorkstation = true, true
		if m.Flags&FlagVersion != 0 && len(msg) >= 72 {
			m.OSVersion = osVersion(msg[64:72])
		}
		switch {
		case len(m.NT) == 0 && m.User == "" && len(m.LM) <= 1:
			m.Kind = "anonymous"
		case len(m.NT) == 24:
			m.Kind = "NTLMv1"
		case len(m.NT) > 24:
			m.Kind = "NTLMv2"
		case len(m.NT) == 0:
			m.Kind = "LM"
		default:
			m.Kind = "unknown"
		}
	}
	return m
}

// maxNT bounds the NT response put in a hash line.
const maxNT = 2048

// Hash is the NetNTLM line of an AUTHENTICATE answered to challenge, in
// the form hashcat and john read: NetNTLMv2 (hashcat 5600,
// user::domain:challenge:ntproofstr:blob, format "netntlmv2") or NetNTLMv1
// (hashcat 5500, user::domain:lm:nt:challenge, format "netntlmv1"). ok is
// false for other kinds.
func (m *Message) Hash(challenge [8]byte) (hash, format string, ok bool) {
	if m.Type != TypeAuthenticate || len(m.NT) > maxNT {
		return "", "", false
	}
	sc := hex.EncodeToString(challenge[:])
	switch m.Kind {
	case "NTLMv2":
		return m.User + "::" + m.Domain + ":" + sc + ":" + hex.EncodeToString(m.NT[:16]) + ":" + hex.EncodeToString(m.NT[16:]), "netntlmv2", true
	case "NTLMv1":
		return m.User + "::" + m.Domain + ":" + hex.EncodeToString(m.LM) + ":" + hex.EncodeToString(m.NT) + ":" + sc, "netntlmv1", true
	}
	return "", "", false
}

// Fields are the event fields of the message: ntlm_type, ntlm_flags, the
// identity, the response lengths, ntlm_version, ntlm_os_version and, when
// challenge (the server challenge sent on the connection) is known, the
// NetNTLM line as "netntlm".
func (m *Message) Fields(challenge *[8]byte) []event.Field {
	if m.Type == 0 {
		return nil
	}
	f := []event.Field{{Key: "ntlm_type", Value: int(m.Type)}}
	flags := func() event.Field {
		return event.Field{Key: "ntlm_flags", Value: hex.EncodeToString(binary.BigEndian.AppendUint32(nil, m.Flags))}
	}
	switch m.Type {
	case TypeNegotiate:
		if m.Truncated {
			return f
		}
		f = append(f, flags())
		if m.HasDomain {
			f = append(f, event.Field{Key: "domain", Value: m.Domain})
		}
		if m.HasWorkstation {
			f = append(f, event.Field{Key: "workstation", Value: m.Workstation})
		}
		if m.OSVersion != "" {
			f = append(f, event.Field{Key: "ntlm_os_version", Value: m.OSVersion})
		}
	case TypeAuthenticate:
		if m.Truncated {
			return append(f, event.Field{Key: "error", Value: "truncated NTLM AUTHENTICATE"})
		}
		f = append(f, flags(),
			event.Field{Key: "user", Value: m.User},
			event.Field{Key: "domain", Value: m.Domain},
			event.Field{Key: "workstation", Value: m.Workstation},
			event.Field{Key: "lm_response_length", Value: len(m.LM)},
			event.Field{Key: "nt_response_length", Value: len(m.NT)})
		if m.OSVersion != "" {
			f = append(f, event.Field{Key: "ntlm_os_version", Value: m.OSVersion})
		}
		f = append(f, event.Field{Key: "ntlm_version", Value: m.Kind})
		if m.Kind == "NTLMv2" && len(m.NT) >= 40 {
			f = append(f, event.Field{Key: "client_challenge", Value: hex.EncodeToString(m.NT[32:40])})
		}
		if challenge != nil {
			if h, _, ok := m.Hash(*challenge); ok {
				f = append(f, event.Field{Key: "netntlm", Value: h})
			}
		}
	}
	return f
}

// AuthField is the shared credential record of an AUTHENTICATE answered
// to challenge (nil: unknown): the NetNTLM hash when there is one, else
// the user alone. ok is false for a message that is no AUTHENTICATE or is
// anonymous.
func (m *Message) AuthField(protocol string, challenge *[8]byte, success bool) (event.Field, bool) {
	if m.Type != TypeAuthenticate || m.Truncated || m.Anonymous() {
		return event.Field{}, false
	}
	if challenge != nil {
		if h, format, ok := m.Hash(*challenge); ok {
			return event.AuthHashField(protocol, m.User, h, format, success), true
		}
	}
	return event.AuthField(protocol, m.User, "", success), true
}

func osVersion(v []byte) string {
	return strconv.Itoa(int(v[0])) + "." + strconv.Itoa(int(v[1])) + "." + strconv.Itoa(int(binary.LittleEndian.Uint16(v[2:])))
}

// UTF16LE encodes s as UTF-16LE.
func UTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return b
}

// FromUTF16 decodes UTF-16LE (an odd last byte is ignored) into a string
// safe to log.
func FromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return Clean(string(utf16.Decode(u)))
}

// Clean keeps a peer-supplied string safe to log.
func Clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, s)
}

// OEM decodes Latin-1 bytes into a string safe to log.
func OEM(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return Clean(string(r))
}

// Filetime converts t to a Windows FILETIME (100 ns since 1601).
func Filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// DefaultComputerName is the name Windows setup gives a machine (WIN- and
// 11 letters or digits), derived from seed (a host identifier) so that a
// host keeps it across connections and restarts.
func DefaultComputerName(seed string) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	h := fnv.New64a()
	h.Write([]byte(seed))
	v := h.Sum64()
	b := []byte("WIN-")
	for range 11 {
		b = append(b, alnum[v%36])
		v /= 36
	}
	return string(b)
}
