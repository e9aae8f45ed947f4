package smb

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// negBlobUpstream is upstream's 320-byte SPNEGO NegTokenInit (NEGOEX +
// NTLMSSP, copied from a Windows capture).
var negBlobUpstream, _ = hex.DecodeString("6082013c06062b0601050502a08201303082012ca01a3018060a2b06010401823702021e060a2b06010401823702020aa282010c048201084e45474f4558545301000000000000006000000070000000313c2a3ac72b3ca96dac3874a7dd1d5bf4526b17038a4b91c2097d9a8fe62c965c51242f904d47c7ad8f876b2202bfc60000000000000000600000000100000000000000000000005c33530deaf90d4db2ec4ae3786ec3084e45474f4558545303000000010000004000000098000000313c2a3ac72b3ca96dac3874a7dd1d5b5c33530deaf90d4db2ec4ae3786ec30840000000580000003056a05430523027802530233121301f06035504031318546f6b656e205369676e696e67205075626c6963204b65793027802530233121301f06035504031318546f6b656e205369676e696e67205075626c6963204b6579")

var negBlobLinux = negTokenInit()

func negBlob(c *app.Conn) []byte {
	if upstream(c) {
		return negBlobUpstream
	}
	return negBlobLinux
}

var smb2Commands = [...]string{"NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT", "TREE_DISCONNECT", "CREATE", "CLOSE", "FLUSH", "READ", "WRITE", "LOCK", "IOCTL", "CANCEL", "ECHO", "QUERY_DIRECTORY", "CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO", "OPLOCK_BREAK"}

func dialectName(d uint16) string {
	switch d {
	case 0x0202:
		return "SMB 2.0.2"
	case 0x0210:
		return "SMB 2.1"
	case 0x02ff:
		return "SMB 2.???"
	case 0x0300:
		return "SMB 3.0"
	case 0x0302:
		return "SMB 3.0.2"
	case 0x0310:
		return "SMB 3.1.0"
	case 0x0311:
		return "SMB 3.1.1"
	}
	return "0x" + hex2(byte(d>>8)) + hex2(byte(d))
}

// smb2Header builds a response header for the request header req (64
// bytes, already bounds-checked) with the given status.
func smb2Header(c *app.Conn, req []byte, status uint32, sessionID uint64) []byte {
	b := make([]byte, 64, 128)
	copy(b, "\xfeSMB")
	binary.LittleEndian.PutUint16(b[4:], 64)
	copy(b[6:8], req[6:8]) // credit charge
	binary.LittleEndian.PutUint32(b[8:], status)
	copy(b[12:14], req[12:14]) // command
	credits := uint16(1)
	if !upstream(c) {
		if r := binary.LittleEndian.Uint16(req[14:]); r > 1 {
			credits = min(r, 512)
		}
	}
	binary.LittleEndian.PutUint16(b[14:], credits)
	binary.LittleEndian.PutUint32(b[16:], 1) // SMB2_FLAGS_SERVER_TO_REDIR
	copy(b[24:40], req[24:40])               // message id, reserved/process id, tree id
	binary.LittleEndian.PutUint64(b[40:], sessionID)
	return b
}

// smb2Error is an SMB2 ERROR response (MS-SMB2 2.2.2).
func smb2Error(c *app.Conn, req []byte, status uint32, sessionID uint64) []byte {
	b := smb2Header(c, req, status, sessionID)
	return append(b, 9, 0, 0, 0, 0, 0, 0, 0, 0)
}

// smb2Negotiate builds a NEGOTIATE response for dialect (also used for the
// SMB 2.??? answer to an SMB1 negotiate, with req a zero header).
func (h *Handler) smb2Negotiate(c *app.Conn, req []byte, dialect uint16) []byte {
	b := smb2Header(c, req, statusSuccess, 0)
	blob := negBlob(c)
	p := make([]byte, 64)
	binary.LittleEndian.PutUint16(p[0:], 65)
	binary.LittleEndian.PutUint16(p[2:], 1) // signing enabled
	binary.LittleEndian.PutUint16(p[4:], dialect)
	guid := h.serverGUID(c)
	copy(p[8:24], guid[:])
	now := filetime(c.Now)
	if upstream(c) {
		now = filetime(c.Now.Truncate(1e9))
		binary.LittleEndian.PutUint32(p[24:], 1) // DFS
		binary.LittleEndian.PutUint32(p[28:], 0x10000)
		binary.LittleEndian.PutUint32(p[32:], 0x10000)
		binary.LittleEndian.PutUint32(p[36:], 0x10000)
		binary.LittleEndian.PutUint64(p[48:], now)
	} else {
		caps := uint32(1) // DFS
		if dialect >= 0x0210 {
			caps |= 2 | 4 // LEASING, LARGE_MTU
		}
		binary.LittleEndian.PutUint32(p[24:], caps)
		binary.LittleEndian.PutUint32(p[28:], 8<<20)
		binary.LittleEndian.PutUint32(p[32:], 8<<20)
		binary.LittleEndian.PutUint32(p[36:], 8<<20)
	}
	binary.LittleEndian.PutUint64(p[40:], now)
	binary.LittleEndian.PutUint16(p[56:], 0x80)
	binary.LittleEndian.PutUint16(p[58:], uint16(len(blob)))
	b = append(b, p...)
	return append(b, blob...)
}

// pickSMB2 chooses the dialect from those offered.
func pickSMB2(c *app.Conn, offered []uint16) (uint16, bool) {
	has := func(d uint16) bool {
		for _, o := range offered {
			if o == d {
				return true
			}
		}
		return false
	}
	if upstream(c) {
		// upstream prefers the oldest (SMB 2.0.2); 3.1.1 needs negotiate
		// contexts, which we do not implement.
		for _, d := range []uint16{0x0202, 0x0210, 0x0300, 0x0302} {
			if has(d) {
				return d, true
			}
		}
		return 0, false
	}
	// A Samba-like server picks the newest it supports.
	for _, d := range []uint16{0x0302, 0x0300, 0x0210, 0x0202} {
		if has(d) {
			return d, true
		}
	}
	return 0, false
}

// smb2 handles one SMB2 message; it returns the reply body (nil for none).
func (h *Handler) smb2(c *app.Conn, st *state, msg []byte) ([]byte, []event.Field, bool) {
	f := []event.Field{{Key: "smb_version", Value: "2"}}
	if len(msg) < 64 || binary.LittleEndian.Uint16(msg[4:]) != 64 {
		return nil, append(f, event.Field{Key: "error", Value: "truncated SMB2 header"}), true
	}
	cmd := binary.LittleEndian.Uint16(msg[12:])
	if int(cmd) < len(smb2Commands) {
		f = append(f, event.Field{Key: "command", Value: smb2Commands[cmd]})
	} else {
		f = append(f, event.Field{Key: "command", Value: int(cmd)})
	}
	if binary.LittleEndian.Uint32(msg[16:])&1 != 0 {
		return nil, append(f, event.Field{Key: "error", Value: "response from client"}), false
	}
	body := msg[64:]
	reply := func(r []byte, status uint32) ([]byte, []event.Field, bool) {
		return r, append(f, event.Field{Key: "status", Value: statusName(status)}), false
	}
	switch cmd {
	case 0: // NEGOTIATE
		if len(body) < 36 {
			return reply(smb2Error(c, msg, statusInvalidParam, 0), statusInvalidParam)
		}
		count := int(binary.LittleEndian.Uint16(body[2:]))
		f = append(f, event.Field{Key: "client_guid", Value: guidString(body[12:28])})
		var offered []uint16
		var names []string
		for i := 0; i < count && 36+2*i+2 <= len(body); i++ {
			d := binary.LittleEndian.Uint16(body[36+2*i:])
			offered = append(offered, d)
			names = append(names, dialectName(d))
		}
		f = append(f, event.Field{Key: "dialects", Value: names})
		if count == 0 || len(offered) == 0 {
			return nil, append(f, event.Field{Key: "error", Value: "no dialect"}), false
		}
		d, ok := pickSMB2(c, offered)
		if !ok {
			return reply(smb2Error(c, msg, statusNotSupported, 0), statusNotSupported)
		}
		f = append(f, event.Field{Key: "dialect", Value: dialectName(d)})
		return reply(h.smb2Negotiate(c, msg, d), statusSuccess)
	case 1: // SESSION_SETUP
		if len(body) < 24 {
			return reply(smb2Error(c, msg, statusInvalidParam, 0), statusInvalidParam)
		}
		off := int(binary.LittleEndian.Uint16(body[12:]))
		l := int(binary.LittleEndian.Uint16(body[14:]))
		var blob []byte
		if off >= 64+24 && off <= len(msg) && l <= len(msg)-off {
			blob = msg[off : off+l]
		} else if l <= len(body)-24 {
			blob = body[24 : 24+l] // blob assumed to follow the fixed part
		}
		if st.sessionID == 0 {
			var r [8]byte
			if c.Rand != nil {
				c.Rand(r[:])
			}
			st.sessionID = binary.LittleEndian.Uint64(r[:])&0x0000ffffffffffff | 0x0000040000000000 // Samba-like, never 0
		}
		status, out, af := sessionSetup(c, st, blob)
		f = append(f, af...)
		if out == nil {
			return reply(smb2Error(c, msg, status, st.sessionID), status)
		}
		b := smb2Header(c, msg, status, st.sessionID)
		p := make([]byte, 8)
		binary.LittleEndian.PutUint16(p[0:], 9)
		if status == statusSuccess {
			binary.LittleEndian.PutUint16(p[2:], 2) // SMB2_SESSION_FLAG_IS_NULL
		}
		binary.LittleEndian.PutUint16(p[4:], 72)
		binary.LittleEndian.PutUint16(p[6:], uint16(len(out)))
		b = append(b, p...)
		return reply(append(b, out...), status)
	case 2, 13: // LOGOFF, ECHO
		b := smb2Header(c, msg, statusSuccess, binary.LittleEndian.Uint64(msg[40:]))
		return reply(append(b, 4, 0, 0, 0), statusSuccess)
	case 3: // TREE_CONNECT
		if len(body) >= 8 {
			off := int(binary.LittleEndian.Uint16(body[4:]))
			l := int(binary.LittleEndian.Uint16(body[6:]))
			if off <= len(msg) && l <= len(msg)-off {
				f = append(f, event.Field{Key: "tree_path", Value: fromUTF16(msg[off : off+l])})
			}
		}
		return reply(smb2Error(c, msg, statusAccessDenied, binary.LittleEndian.Uint64(msg[40:])), statusAccessDenied)
	}
	return reply(smb2Error(c, msg, statusAccessDenied, binary.LittleEndian.Uint64(msg[40:])), statusAccessDenied)
}

// guidString formats a 16-byte little-endian GUID.
func guidString(g []byte) string {
	if len(g) < 16 {
		return ""
	}
	x := hex.EncodeToString
	rev := func(b []byte) []byte {
		r := make([]byte, len(b))
		for i := range b {
			r[i] = b[len(b)-1-i]
		}
		return r
	}
	return x(rev(g[0:4])) + "-" + x(rev(g[4:6])) + "-" + x(rev(g[6:8])) + "-" + x(g[8:10]) + "-" + x(g[10:16])
}
