package smb

import (
	"bytes"
	"encoding/binary"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

var smb1Commands = map[byte]string{
	0x04: "CLOSE", 0x2b: "ECHO", 0x2d: "OPEN_ANDX", 0x2e: "READ_ANDX", 0x2f: "WRITE_ANDX",
	0x32: "TRANSACTION2", 0x71: "TREE_DISCONNECT", 0x72: "NEGOTIATE", 0x73: "SESSION_SETUP_ANDX",
	0x74: "LOGOFF_ANDX", 0x75: "TREE_CONNECT_ANDX", 0x25: "TRANSACTION", 0xa2: "NT_CREATE_ANDX",
	0xa0: "NT_TRANSACT",
}

// smb1Header builds a 32-byte response header for request header req.
func smb1Header(req []byte, status uint32, uid uint16) []byte {
	b := make([]byte, 32, 128)
	copy(b, "\xffSMB")
	b[4] = req[4]
	binary.LittleEndian.PutUint32(b[5:], status)
	b[9] = 0x98                                   // REPLY, CASE_INSENSITIVE, CANONICALIZED_PATHS
	binary.LittleEndian.PutUint16(b[10:], 0xc807) // UNICODE, NT_STATUS, EXTENDED_SECURITY, SIGNATURES, EAS, LONG_NAMES
	copy(b[12:14], req[12:14])                    // PIDHigh
	copy(b[24:28], req[24:28])                    // TID, PIDLow
	binary.LittleEndian.PutUint16(b[28:], uid)
	copy(b[30:32], req[30:32]) // MID
	return b
}

func smb1Error(req []byte, status uint32, uid uint16) []byte {
	return append(smb1Header(req, status, uid), 0, 0, 0)
}

// smb1 handles one SMB1 message.
func (h *Handler) smb1(c *app.Conn, st *state, msg []byte) ([]byte, []event.Field, bool) {
	f := []event.Field{{Key: "smb_version", Value: "1"}}
	if len(msg) < 33 {
		return nil, append(f, event.Field{Key: "error", Value: "truncated SMB1 header"}), true
	}
	cmd := msg[4]
	if n, ok := smb1Commands[cmd]; ok {
		f = append(f, event.Field{Key: "command", Value: n})
	} else {
		f = append(f, event.Field{Key: "command", Value: int(cmd)})
	}
	if msg[9]&0x80 != 0 {
		return nil, append(f, event.Field{Key: "error", Value: "response from client"}), false
	}
	reply := func(r []byte, status uint32) ([]byte, []event.Field, bool) {
		return r, append(f, event.Field{Key: "status", Value: statusName(status)}), false
	}
	wc := int(msg[32])
	if 33+2*wc+2 > len(msg) {
		return reply(smb1Error(msg, statusInvalidParam, 0), statusInvalidParam)
	}
	params := msg[33 : 33+2*wc]
	bcOff := 33 + 2*wc
	bc := int(binary.LittleEndian.Uint16(msg[bcOff:]))
	dataOff := bcOff + 2
	data := msg[dataOff:]
	if bc < len(data) {
		data = data[:bc]
	}
	unicode := binary.LittleEndian.Uint16(msg[10:])&0x8000 != 0
	uid := binary.LittleEndian.Uint16(msg[28:])
	switch cmd {
	case 0x72:
		var dialects []string
		for len(data) > 0 {
			if data[0] != 0x02 {
				break
			}
			end := bytes.IndexByte(data[1:], 0)
			if end < 0 {
				dialects = append(dialects, oem(data[1:]))
				break
			}
			dialects = append(dialects, oem(data[1:1+end]))
			data = data[2+end:]
		}
		f = append(f, event.Field{Key: "dialects", Value: dialects})
		index := func(s string) int {
			for i, d := range dialects {
				if d == s {
					return i
				}
			}
			return -1
		}
		order := []string{"SMB 2.???", "SMB 2.002", "NT LM 0.12"}
		if upstream(c) {
			order = []string{"NT LM 0.12", "SMB 2.???", "SMB 2.002"}
		}
		for _, d := range order {
			i := index(d)
			if i < 0 {
				continue
			}
			f = append(f, event.Field{Key: "dialect", Value: d})
			switch d {
			case "SMB 2.???":
				return reply(h.smb2Negotiate(c, make([]byte, 64), 0x02ff), statusSuccess)
			case "SMB 2.002":
				return reply(h.smb2Negotiate(c, make([]byte, 64), 0x0202), statusSuccess)
			}
			return reply(h.smb1Negotiate(c, msg, i), statusSuccess)
		}
		// No dialect we speak: DialectIndex 0xFFFF.
		b := smb1Header(msg, statusSuccess, 0)
		return reply(append(b, 1, 0xff, 0xff, 0, 0), statusSuccess)
	case 0x73:
		if st.uid == 0 {
			var r [2]byte
			if c.Rand != nil {
				c.Rand(r[:])
			}
			st.uid = binary.LittleEndian.Uint16(r[:])
			if st.uid == 0 || st.uid == 0xffff {
				st.uid = 100
			}
		}
		var blob []byte
		var status uint32
		var out []byte
		var strs []byte
		switch wc {
		case 12:
			bl := int(binary.LittleEndian.Uint16(params[14:]))
			if bl > len(data) {
				return reply(smb1Error(msg, statusInvalidParam, uid), statusInvalidParam)
			}
			blob = data[:bl]
			strs = data[bl:]
			if unicode && (dataOff+bl)%2 == 1 && len(strs) > 0 {
				strs = strs[1:]
			}
			var af []event.Field
			status, out, af = sessionSetup(c, st, blob)
			f = append(f, af...)
		case 13:
			ol := int(binary.LittleEndian.Uint16(params[14:]))
			ul := int(binary.LittleEndian.Uint16(params[16:]))
			if ol+ul > len(data) {
				return reply(smb1Error(msg, statusInvalidParam, uid), statusInvalidParam)
			}
			strs = data[ol+ul:]
			if unicode && (dataOff+ol+ul)%2 == 1 && len(strs) > 0 {
				strs = strs[1:]
			}
			var user, domain string
			user, strs = smbString(strs, unicode)
			domain, strs = smbString(strs, unicode)
			ver := "NTLMv1"
			switch {
			case ul == 0 && user == "" && ol <= 1:
				ver = "anonymous"
			case ul > 24:
				ver = "NTLMv2"
			case ul == 0:
				ver = "LM"
			}
			f = append(f, event.Field{Key: "user", Value: user}, event.Field{Key: "domain", Value: domain},
				event.Field{Key: "lm_response_length", Value: ol}, event.Field{Key: "nt_response_length", Value: ul},
				event.Field{Key: "ntlm_version", Value: ver})
			status = statusLogonFailure
			if ver == "anonymous" {
				status = statusSuccess
			}
		default:
			return reply(smb1Error(msg, statusInvalidParam, uid), statusInvalidParam)
		}
		osName, rest := smbString(strs, unicode)
		lanman, _ := smbString(rest, unicode)
		if osName != "" {
			f = append(f, event.Field{Key: "os", Value: osName})
		}
		if lanman != "" {
			f = append(f, event.Field{Key: "lanman", Value: lanman})
		}
		if status == statusLogonFailure {
			return reply(smb1Error(msg, status, st.uid), status)
		}
		return reply(smb1SessionReply(c, msg, status, st.uid, out), status)
	case 0x75:
		if wc == 4 && len(params) >= 8 {
			pl := int(binary.LittleEndian.Uint16(params[6:]))
			if pl <= len(data) {
				p := data[pl:]
				if unicode && (dataOff+pl)%2 == 1 && len(p) > 0 {
					p = p[1:]
				}
				path, _ := smbString(p, unicode)
				f = append(f, event.Field{Key: "tree_path", Value: path})
			}
		}
		return reply(smb1Error(msg, statusAccessDenied, uid), statusAccessDenied)
	}
	return reply(smb1Error(msg, statusNotSupported, uid), statusNotSupported)
}

// smb1Negotiate answers an SMB1 NEGOTIATE with NT LM 0.12 at index i,
// extended security.
func (h *Handler) smb1Negotiate(c *app.Conn, req []byte, i int) []byte {
	b := smb1Header(req, statusSuccess, 0)
	blob := negBlob(c)
	p := make([]byte, 35)
	p[0] = 17
	binary.LittleEndian.PutUint16(p[1:], uint16(i))
	p[3] = 3 // user level, challenge/response
	binary.LittleEndian.PutUint16(p[4:], 50)
	guid := h.serverGUID(c)
	if upstream(c) {
		binary.LittleEndian.PutUint16(p[6:], 50)
		binary.LittleEndian.PutUint32(p[8:], 0x10000)
		binary.LittleEndian.PutUint32(p[12:], 0x10000)
		binary.LittleEndian.PutUint32(p[20:], 0x8001e3fc)
		binary.LittleEndian.PutUint64(p[24:], filetime(c.Now.Truncate(1e9)))
		binary.LittleEndian.PutUint16(p[32:], 0x003c)
	} else {
		// Samba: one VC, 64 KiB buffers, UNIX extensions.
		binary.LittleEndian.PutUint16(p[6:], 1)
		binary.LittleEndian.PutUint32(p[8:], 0xffff)
		binary.LittleEndian.PutUint32(p[12:], 0x10000)
		binary.LittleEndian.PutUint32(p[20:], 0x8080f3fd)
		binary.LittleEndian.PutUint64(p[24:], filetime(c.Now))
	}
	b = append(b, p...)
	b = binary.LittleEndian.AppendUint16(b, uint16(16+len(blob)))
	b = append(b, guid[:]...)
	return append(b, blob...)
}

// smb1SessionReply is a SESSION_SETUP_ANDX response (extended security).
func smb1SessionReply(c *app.Conn, req []byte, status uint32, uid uint16, blob []byte) []byte {
	b := smb1Header(req, status, uid)
	b = append(b, 4, 0xff, 0, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(blob)))
	bcAt := len(b)
	b = append(b, 0, 0)
	b = append(b, blob...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	strs := []string{"Unix", "Samba", "WORKGROUP"}
	if upstream(c) {
		strs = []string{"Windows 4.0", "Windows 4.0"}
	}
	for _, s := range strs {
		b = append(b, utf16le(s)...)
		b = append(b, 0, 0)
	}
	binary.LittleEndian.PutUint16(b[bcAt:], uint16(len(b)-bcAt-2))
	binary.LittleEndian.PutUint16(b[35:], uint16(len(b))) // AndXOffset: end of message
	return b
}

// smbString reads a NUL-terminated string (UTF-16LE or OEM).
func smbString(b []byte, unicode bool) (string, []byte) {
	if unicode {
		for i := 0; i+1 < len(b); i += 2 {
			if b[i] == 0 && b[i+1] == 0 {
				return fromUTF16(b[:i]), b[i+2:]
			}
		}
		return fromUTF16(b), nil
	}
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return oem(b), nil
	}
	return oem(b[:i]), b[i+1:]
}
