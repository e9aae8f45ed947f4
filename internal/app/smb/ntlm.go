package smb

import (
	"time"

	"github.com/masscanned-go/masscanned/internal/app/ntlm"
	"github.com/masscanned-go/masscanned/internal/event"
)

// The NTLMSSP and SPNEGO pieces come from package ntlm.
var (
	utf16le          = ntlm.UTF16LE
	fromUTF16        = ntlm.FromUTF16
	oem              = ntlm.OEM
	findNTLM         = ntlm.Find
	negTokenInit     = ntlm.NegTokenInit
	negTokenResp     = ntlm.NegTokenResp
	negTokenRespDone = ntlm.NegTokenRespDone
)

// filetime converts t to a Windows FILETIME (100 ns since 1601).
func filetime(t time.Time) uint64 { return ntlm.Filetime(t) }

var (
	identLinux = ntlm.Identity{
		Target: "MASSCANNED", NBDomain: "MASSCANNED", NBComputer: "MASSCANNED",
		DNSDomain: "", DNSComputer: "masscanned",
		Flags:   0xe28a8215,
		Version: [8]byte{6, 1, 0, 0, 0, 0, 0, 15}, // Samba: 6.1, NTLM revision 15
	}
	identUpstream = ntlm.Identity{
		Target: "WIN1", NBDomain: "WIN1", NBComputer: "WIN1", DNSDomain: "WIN1", DNSComputer: "WIN1",
		Flags:   0xe28a8215,
		Version: ntlm.WindowsVersion(10, 0, 19041),
	}
)

// challengeMsg builds an NTLMSSP CHALLENGE message (MS-NLMP 2.2.1.2).
func challengeMsg(id *ntlm.Identity, challenge [8]byte, now time.Time) []byte {
	return ntlm.Challenge(id, challenge, now)
}

// auth is what an NTLMSSP message told us.
type auth struct {
	msgType   uint32
	anonymous bool
	fields    []event.Field
}

// parseNTLM decodes an NTLMSSP NEGOTIATE or AUTHENTICATE message.
// challenge is the server challenge we sent on this connection, if any.
// An AUTHENTICATE adds the shared credential record (auth).
func parseNTLM(msg []byte, challenge *[8]byte) auth {
	m := ntlm.Parse(msg)
	a := auth{msgType: m.Type, anonymous: m.Anonymous(), fields: m.Fields(challenge)}
	if f, ok := m.AuthField("smb", challenge, false); ok {
		a.fields = append(a.fields, f)
	}
	return a
}
