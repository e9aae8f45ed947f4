// Package mysql plays a MySQL 8 server: it sends the protocol-10 initial
// handshake, records the client's handshake response (user, auth response,
// database, plugin, connection attributes) and denies access with error
// 1045, as mysqld does for a wrong password.
package mysql

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "MySQL 8 server handshake, records the client's login and denies it (1045)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// Capability flags (MySQL client/server protocol).
const (
	capConnectWithDB = 0x00000008
	capProtocol41    = 0x00000200
	capSSL           = 0x00000800
	capSecureConn    = 0x00008000
	capPluginAuth    = 0x00080000
	capConnectAttrs  = 0x00100000
	capLenencAuth    = 0x00200000
	// serverCaps: what mysqld 8.0 announces, without TLS.
	serverCaps = 0xdfffffff &^ capSSL
)

const (
	defaultVersion = "8.0.36"
	plugin         = "caching_sha2_password"
	maxPacket      = 16 << 10 // a handshake response is far smaller
	maxField       = 256
	maxAttrs       = 32
)

// Handler is the MySQL protocol handler.
type Handler struct{}

// New returns the MySQL handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "mysql" }

// Service implements app.Greeter.
func (*Handler) Service() string { return "mysql" }

// Detect implements app.Handler: the server speaks first; reached through
// Greet only.
func (*Handler) Detect([]byte, app.Transport) app.Verdict { return app.No }

// state keeps the scramble sent in the greeting: the auth response is
// only crackable with it.
type state struct{ salt []byte }

// Greet implements app.Greeter.
func (*Handler) Greet(c *app.Conn) app.Result {
	st := &state{}
	c.State = st
	version := c.Banner("mysql", defaultVersion)
	if len(version) > 64 {
		version = version[:64]
	}
	rnd := make([]byte, 24)
	if c.Rand != nil {
		c.Rand(rnd)
	}
	salt := rnd[:20]
	for i, b := range salt {
		// mysqld's scramble is printable ASCII without NUL or '$'.
		b = 0x21 + b%0x5e
		if b == '$' {
			b++
		}
		salt[i] = b
	}
	st.salt = append([]byte(nil), salt...)
	id := binary.LittleEndian.Uint32(rnd[20:])%100000 + 8
	p := []byte{10}
	for i := 0; i < len(version); i++ {
		if version[i] != 0 {
			p = append(p, version[i])
		}
	}
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, id)
	p = append(p, salt[:8]...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(serverCaps&0xffff))
	p = append(p, 0xff)                             // utf8mb4_0900_ai_ci
	p = binary.LittleEndian.AppendUint16(p, 0x0002) // SERVER_STATUS_AUTOCOMMIT
	p = binary.LittleEndian.AppendUint16(p, uint16(serverCaps>>16&0xffff))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, salt[8:]...)
	p = append(p, 0)
	p = append(p, plugin...)
	p = append(p, 0)
	return app.Result{Reply: packet(0, p)}
}

func packet(seq byte, payload []byte) []byte {
	b := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	return append(b, payload...)
}

func errPacket(seq byte, code uint16, sqlstate, msg string) []byte {
	p := []byte{0xff}
	p = binary.LittleEndian.AppendUint16(p, code)
	p = append(p, '#')
	p = append(p, sqlstate...)
	p = append(p, msg...)
	return packet(seq, p)
}

func field(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	return app.Printable(b)
}

// Serve implements app.Handler: the client's handshake response.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	if len(data) < 4 {
		return app.Result{NeedMore: true}
	}
	n := int(data[0]) | int(data[1])<<8 | int(data[2])<<16
	seq := data[3]
	if n > maxPacket || n < 4 {
		return app.Result{Consumed: len(data), Close: true,
			Reply:  errPacket(seq+1, 1043, "08S01", "Bad handshake"),
			Fields: []event.Field{{Key: "error", Value: "bad handshake"}}}
	}
	if len(data) < 4+n {
		return app.Result{NeedMore: true}
	}
	res := app.Result{Consumed: 4 + n, Close: true}
	fs, user, password, ok := parseResponse(data[4 : 4+n])
	res.Fields = fs
	if ok {
		res.Fields = append(res.Fields, authField(c, fs, user))
	}
	if !ok {
		res.Reply = errPacket(seq+1, 1043, "08S01", "Bad handshake")
		return res
	}
	using := "NO"
	if password {
		using = "YES"
	}
	msg := "Access denied for user '" + field(user) + "'@'" + c.Client.Addr().Unmap().String() + "' (using password: " + using + ")"
	res.Reply = errPacket(seq+1, 1045, "28000", msg)
	return res
}

// parseResponse reads a HandshakeResponse41.
func parseResponse(p []byte) (fs []event.Field, user []byte, password, ok bool) {
	if len(p) < 32 {
		return []event.Field{{Key: "error", Value: "short handshake response"}}, nil, false, false
	}
	caps := binary.LittleEndian.Uint32(p)
	fs = append(fs, event.Field{Key: "client_flags", Value: int(caps)})
	if caps&capProtocol41 == 0 {
		return append(fs, event.Field{Key: "error", Value: "pre-4.1 client"}), nil, false, false
	}
	if len(p) == 32 && caps&capSSL != 0 {
		return append(fs, event.Field{Key: "error", Value: "SSL request"}), nil, false, false
	}
	rest := p[32:]
	user, rest, ok = cstring(rest)
	if !ok {
		return append(fs, event.Field{Key: "error", Value: "bad user"}), nil, false, false
	}
	fs = append(fs, event.Field{Key: "user", Value: field(user)})
	var auth []byte
	switch {
	case caps&capLenencAuth != 0:
		auth, rest, ok = lenencString(rest)
	case caps&capSecureConn != 0:
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			ok = false
			break
		}
		auth, rest = rest[1:1+int(rest[0])], rest[1+int(rest[0]):]
	default:
		auth, rest, ok = cstring(rest)
	}
	if !ok {
		return append(fs, event.Field{Key: "error", Value: "bad auth response"}), user, false, false
	}
	if len(auth) > maxField {
		auth = auth[:maxField]
	}
	fs = append(fs, event.Field{Key: "auth_response", Value: hex.EncodeToString(auth)})
	password = len(auth) > 0
	if caps&capConnectWithDB != 0 {
		var db []byte
		if db, rest, ok = cstring(rest); !ok {
			return fs, user, password, true
		}
		fs = append(fs, event.Field{Key: "database", Value: field(db)})
	}
	if caps&capPluginAuth != 0 {
		var pl []byte
		if pl, rest, ok = cstring(rest); !ok {
			return fs, user, password, true
		}
		fs = append(fs, event.Field{Key: "auth_plugin", Value: field(pl)})
	}
	if caps&capConnectAttrs != 0 {
		var all []byte
		if all, _, ok = lenencString(rest); ok {
			var attrs []string
			for len(all) > 0 && len(attrs) < 2*maxAttrs {
				var k, v []byte
				if k, all, ok = lenencString(all); !ok {
					break
				}
				if v, all, ok = lenencString(all); !ok {
					break
				}
				attrs = append(attrs, field(k)+"="+field(v))
			}
			fs = append(fs, event.Field{Key: "attributes", Value: attrs})
		}
	}
	return fs, user, password, true
}

func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, x := range b {
		if x == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

// lenencString reads a length-encoded string.
func lenencString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 1 {
		return nil, nil, false
	}
	var n uint64
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return nil, nil, false
		}
		n, b = uint64(binary.LittleEndian.Uint16(b[1:])), b[3:]
	case 0xfd:
		if len(b) < 4 {
			return nil, nil, false
		}
		n, b = uint64(b[1])|uint64(b[2])<<8|uint64(b[3])<<16, b[4:]
	case 0xfe:
		if len(b) < 9 {
			return nil, nil, false
		}
		n, b = binary.LittleEndian.Uint64(b[1:]), b[9:]
	case 0xfb, 0xff:
		return nil, nil, false
	default:
		n, b = uint64(b[0]), b[1:]
	}
	if n > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// authField is the credential record of a handshake response: the
// mysql_native_password response with the greeting's scramble in John the
// Ripper's $mysqlna$ form; another plugin's response as hex with the
// plugin's name as format; an empty response as an empty password.
func authField(c *app.Conn, fs []event.Field, user []byte) event.Field {
	var resp, plugin string
	for _, f := range fs {
		switch f.Key {
		case "auth_response":
			resp, _ = f.Value.(string)
		case "auth_plugin":
			plugin, _ = f.Value.(string)
		}
	}
	if resp == "" {
		return event.AuthField("mysql", field(user), "", false)
	}
	if plugin == "" {
		plugin = "mysql_native_password"
	}
	var salt []byte
	if st, ok := c.State.(*state); ok {
		salt = st.salt
	}
	if plugin == "mysql_native_password" && len(resp) == 40 && len(salt) == 20 {
		return event.AuthHashField("mysql", field(user), "$mysqlna$"+hex.EncodeToString(salt)+"*"+resp, plugin, false)
	}
	return event.AuthHashField("mysql", field(user), resp, plugin, false)
}
