package ntlm

// OIDs (DER content bytes).
var (
	oidSPNEGO  = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	oidNTLMSSP = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
)

// DER wraps content in a DER tag-length-value (content up to 64 KiB).
func DER(tag byte, content ...[]byte) []byte {
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

// NegTokenInit is a Samba-like SPNEGO NegTokenInit offering NTLMSSP only,
// with the RFC 4178 negHints Samba still sends.
func NegTokenInit() []byte {
	mech := DER(0xa0, DER(0x30, DER(0x06, oidNTLMSSP)))
	hints := DER(0xa3, DER(0x30, DER(0xa0, DER(0x1b, []byte("not_defined_in_RFC4178@please_ignore")))))
	return DER(0x60, DER(0x06, oidSPNEGO), DER(0xa0, DER(0x30, mech, hints)))
}

// NegTokenResp wraps an NTLMSSP token: negState accept-incomplete (1),
// supportedMech NTLMSSP.
func NegTokenResp(token []byte) []byte {
	return DER(0xa1, DER(0x30,
		DER(0xa0, DER(0x0a, []byte{1})),
		DER(0xa1, DER(0x06, oidNTLMSSP)),
		DER(0xa2, DER(0x04, token))))
}

// NegTokenRespDone is negState accept-completed (0).
var NegTokenRespDone = []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00}
