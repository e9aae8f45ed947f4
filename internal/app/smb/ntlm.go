package smb

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/masscanned-go/masscanned/internal/event"
)

// OIDs (DER content bytes).
var (
	oidSPNEGO  = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	oidNTLMSSP = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	ntlmSig    = []byte("NTLMSSP\x00")
)

// der wraps content in a DER tag-length-value.
func der(tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	for _, c := range content {
		out = append(out, c...)
	}
	return out
}

// negTokenInit is a Samba-like SPNEGO NegTokenInit offering NTLMSSP only,
// with the RFC 4178 negHints Samba still sends.
func negTokenInit() []byte {
	mech := der(0xa0, der(0x30, der(0x06, oidNTLMSSP)))
	hints := der(0xa3, der(0x30, der(0xa0, der(0x1b, []byte("not_defined_in_RFC4178@please_ignore")))))
	return der(0x60, der(0x06, oidSPNEGO), der(0xa0, der(0x30, mech, hints)))
}

// negTokenResp wraps an NTLMSSP token: negState accept-incomplete (1),
// supportedMech NTLMSSP.
func negTokenResp(token []byte) []byte {
	return der(0xa1, der(0x30,
		der(0xa0, der(0x0a, []byte{1})),
		der(0xa1, der(0x06, oidNTLMSSP)),
		der(0xa2, der(0x04, token))))
}

// negTokenRespDone is negState accept-completed (0).
var negTokenRespDone = []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return b
}

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return clean(string(utf16.Decode(u)))
}

// clean keeps a peer-supplied string safe to log.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, s)
}

func oem(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c) // Latin-1
	}
	return clean(string(r))
}

// filetime converts t to a Windows FILETIME (100 ns since 1601).
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// ident is who the server claims to be in NTLM.
type ident struct {
	target, nbDomain, nbComputer, dnsDomain, dnsComputer string
	flags                                                uint32
	version                                              [8]byte
}

var (
	identLinux = ident{
		target: "MASSCANNED", nbDomain: "MASSCANNED", nbComputer: "MASSCANNED",
		dnsDomain: "", dnsComputer: "masscanned",
		flags:   0xe28a8215,
		version: [8]byte{6, 1, 0, 0, 0, 0, 0, 15}, // Samba: 6.1, NTLM revision 15
	}
	identUpstream = ident{
		target: "WIN1", nbDomain: "WIN1", nbComputer: "WIN1", dnsDomain: "WIN1", dnsComputer: "WIN1",
		flags:   0xe28a8215,
		version: [8]byte{0x0a, 0x00, 0x61, 0x4a, 0, 0, 0, 0x0f}, // 10.0.19041, rev 15
	}
)

// challengeMsg builds an NTLMSSP CHALLENGE message (MS-NLMP 2.2.1.2).
func challengeMsg(id *ident, challenge [8]byte, now time.Time) []byte {
	target := utf16le(id.target)
	var info []byte
	av := func(t uint16, v []byte) {
		info = binary.LittleEndian.AppendUint16(info, t)
		info = binary.LittleEndian.AppendUint16(info, uint16(len(v)))
		info = append(info, v...)
	}
	av(2, utf16le(id.nbDomain))
	av(1, utf16le(id.nbComputer))
	av(4, utf16le(id.dnsDomain))
	av(3, utf16le(id.dnsComputer))
	av(7, binary.LittleEndian.AppendUint64(nil, filetime(now)))
	av(0, nil)
	b := make([]byte, 56, 56+len(target)+len(info))
	copy(b, ntlmSig)
	binary.LittleEndian.PutUint32(b[8:], 2)
	binary.LittleEndian.PutUint16(b[12:], uint16(len(target)))
	binary.LittleEndian.PutUint16(b[14:], uint16(len(target)))
	binary.LittleEndian.PutUint32(b[16:], 56)
	binary.LittleEndian.PutUint32(b[20:], id.flags)
	copy(b[24:], challenge[:])
	binary.LittleEndian.PutUint16(b[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(b[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(b[44:], uint32(56+len(target)))
	copy(b[48:], id.version[:])
	b = append(b, target...)
	return append(b, info...)
}

// findNTLM returns the NTLMSSP message inside a security blob (raw, or
// wrapped in SPNEGO/GSS-API), or nil.
func findNTLM(blob []byte) []byte {
	i := bytes.Index(blob, ntlmSig)
	if i < 0 {
		return nil
	}
	return blob[i:]
}

// ntlmField reads a (len, maxlen, offset) field at off in msg.
func ntlmField(msg []byte, off int) []byte {
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

// auth is what an NTLMSSP message told us.
type auth struct {
	msgType   uint32
	anonymous bool
	fields    []event.Field
}

// parseNTLM decodes an NTLMSSP NEGOTIATE or AUTHENTICATE message.
// challenge is the server challenge we sent on this connection, if any.
func parseNTLM(msg []byte, challenge *[8]byte) auth {
	if len(msg) < 12 {
		return auth{}
	}
	a := auth{msgType: binary.LittleEndian.Uint32(msg[8:])}
	a.fields = append(a.fields, event.Field{Key: "ntlm_type", Value: int(a.msgType)})
	switch a.msgType {
	case 1:
		if len(msg) >= 16 {
			fl := binary.LittleEndian.Uint32(msg[12:])
			a.fields = append(a.fields, event.Field{Key: "ntlm_flags", Value: hex.EncodeToString(binary.BigEndian.AppendUint32(nil, fl))})
			if d := ntlmField(msg, 16); fl&0x1000 != 0 && d != nil {
				a.fields = append(a.fields, event.Field{Key: "domain", Value: oem(d)})
			}
			if w := ntlmField(msg, 24); fl&0x2000 != 0 && w != nil {
				a.fields = append(a.fields, event.Field{Key: "workstation", Value: oem(w)})
			}
			if fl&0x02000000 != 0 && len(msg) >= 40 {
				a.fields = append(a.fields, event.Field{Key: "ntlm_os_version", Value: osVersion(msg[32:40])})
			}
		}
	case 3:
		if len(msg) < 64 {
			a.fields = append(a.fields, event.Field{Key: "error", Value: "truncated NTLM AUTHENTICATE"})
			return a
		}
		fl := binary.LittleEndian.Uint32(msg[60:])
		str := oem
		if fl&1 != 0 {
			str = fromUTF16
		}
		lm := ntlmField(msg, 12)
		nt := ntlmField(msg, 20)
		domain := str(ntlmField(msg, 28))
		user := str(ntlmField(msg, 36))
		ws := str(ntlmField(msg, 44))
		a.fields = append(a.fields,
			event.Field{Key: "ntlm_flags", Value: hex.EncodeToString(binary.BigEndian.AppendUint32(nil, fl))},
			event.Field{Key: "user", Value: user},
			event.Field{Key: "domain", Value: domain},
			event.Field{Key: "workstation", Value: ws},
			event.Field{Key: "lm_response_length", Value: len(lm)},
			event.Field{Key: "nt_response_length", Value: len(nt)})
		if fl&0x02000000 != 0 && len(msg) >= 72 {
			a.fields = append(a.fields, event.Field{Key: "ntlm_os_version", Value: osVersion(msg[64:72])})
		}
		var ver string
		switch {
		case len(nt) == 0 && user == "" && len(lm) <= 1:
			ver = "anonymous"
			a.anonymous = true
		case len(nt) == 24:
			ver = "NTLMv1"
		case len(nt) > 24:
			ver = "NTLMv2"
		case len(nt) == 0:
			ver = "LM"
		default:
			ver = "unknown"
		}
		a.fields = append(a.fields, event.Field{Key: "ntlm_version", Value: ver})
		if ver == "NTLMv2" && len(nt) >= 40 {
			a.fields = append(a.fields, event.Field{Key: "client_challenge", Value: hex.EncodeToString(nt[32:40])})
		}
		if challenge != nil && len(nt) <= 2048 {
			sc := hex.EncodeToString(challenge[:])
			switch ver {
			case "NTLMv2": // hashcat 5600
				a.fields = append(a.fields, event.Field{Key: "netntlm",
					Value: user + "::" + domain + ":" + sc + ":" + hex.EncodeToString(nt[:16]) + ":" + hex.EncodeToString(nt[16:])})
			case "NTLMv1": // hashcat 5500
				a.fields = append(a.fields, event.Field{Key: "netntlm",
					Value: user + "::" + domain + ":" + hex.EncodeToString(lm) + ":" + hex.EncodeToString(nt) + ":" + sc})
			}
		}
	}
	return a
}

func osVersion(v []byte) string {
	return itoa(int(v[0])) + "." + itoa(int(v[1])) + "." + itoa(int(binary.LittleEndian.Uint16(v[2:])))
}
