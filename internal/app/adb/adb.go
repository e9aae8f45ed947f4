// Package adb plays an Android device whose adbd listens on TCP (the
// exposed TV boxes and phones bots infect): it accepts the client's CNXN
// without AUTH (ro.adb.secure=0), runs shell commands through the shared
// fake shell (package shell) and takes pushed files over the sync
// protocol, recording each command line and each file's name, mode, size
// and SHA-256 (the content is hashed as it comes, never stored).
//
// The wire protocol is AOSP's adb/protocol.txt: 24-byte little-endian
// message headers (command, arg0, arg1, data length, data check, magic =
// command ^ 0xffffffff) followed by the payload; services as in
// SERVICES.TXT, file transfers as in SYNC.TXT.
package adb

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "Android Debug Bridge (adbd over TCP) without auth: records the client's banner, shell commands (fake Android shell) and pushed files (name, mode, size, SHA-256)"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// Message commands.
const (
	cmdSYNC = 0x434e5953
	cmdCNXN = 0x4e584e43
	cmdOPEN = 0x4e45504f
	cmdOKAY = 0x59414b4f
	cmdCLSE = 0x45534c43
	cmdWRTE = 0x45545257
	cmdAUTH = 0x48545541
	cmdSTLS = 0x534c5453
)

const (
	headerLen = 24
	// versionMin is the first protocol version; versionSkipChecksum and
	// later do not check the payload sum.
	versionMin          = 0x01000000
	versionSkipChecksum = 0x01000001
	// ourVersion and ourMaxData are what our adbd offers.
	ourVersion = versionSkipChecksum
	ourMaxData = 256 << 10
	// minMaxData is the smallest payload a peer may announce (the v1 size).
	minMaxData = 4 << 10
	// maxControl bounds the payload of a message other than WRTE (CNXN
	// banner, OPEN service name, AUTH), which is buffered whole.
	maxControl = 16 << 10
	// maxStreams bounds the open streams of one connection.
	maxStreams = 8
)

// DefaultBanner is the connection banner of the device when the profile
// names none ("adb" banner): an Android TV box (Amlogic S905W reference
// board) whose adbd listens on TCP without authentication.
const DefaultBanner = "device::ro.product.name=p281;ro.product.model=X96mini;ro.product.device=p281;" +
	"features=shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir,apex,abb,fixed_push_symlink_timestamp,abb_exec,remount_shell"

// Handler is the ADB protocol handler.
type Handler struct{}

// New returns the ADB handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "adb" }

var commands = [...]uint32{cmdCNXN, cmdOPEN, cmdOKAY, cmdCLSE, cmdWRTE, cmdAUTH, cmdSYNC, cmdSTLS}

func known(cmd uint32) bool {
	for _, c := range commands {
		if c == cmd {
			return true
		}
	}
	return false
}

// Detect implements app.Handler: a message header with a known command
// and its magic (Maybe while the header is incomplete and could be one).
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if t != app.TCP || len(data) == 0 {
		return app.No
	}
	if len(data) < 4 {
		for _, c := range commands {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], c)
			if string(b[:len(data)]) == string(data) {
				return app.Maybe
			}
		}
		return app.No
	}
	cmd := binary.LittleEndian.Uint32(data)
	if !known(cmd) {
		return app.No
	}
	if len(data) < headerLen {
		return app.Maybe
	}
	if binary.LittleEndian.Uint32(data[20:]) != cmd^0xffffffff {
		return app.No
	}
	return app.Yes
}

// header is one message header.
type header struct {
	cmd, arg0, arg1, length, check uint32
}

func parseHeader(b []byte) header {
	le := binary.LittleEndian
	return header{le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:]), le.Uint32(b[12:]), le.Uint32(b[16:])}
}

func cmdName(c uint32) string {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], c)
	return app.Printable(b[:])
}

// state is one connection.
type state struct {
	online   bool
	version  uint32 // negotiated
	maxData  uint32 // negotiated
	nextID   uint32
	streams  []*stream
	banner   string
	props    map[string]string
	hostname string
	uname    string

	// the WRTE whose payload is arriving: bytes left, its stream (nil:
	// discarded) and the ids to acknowledge
	wLeft          int
	wStream        *stream
	wLocal, wRemot uint32
}

func (h *Handler) conn(c *app.Conn) *state {
	if st, ok := c.State.(*state); ok {
		return st
	}
	st := &state{version: ourVersion, maxData: ourMaxData, nextID: 1}
	st.banner = c.Banner("adb", DefaultBanner)
	st.props = bannerProps(st.banner)
	st.hostname = c.Banner("hostname", "localhost")
	st.uname = strings.Replace(shell.DefaultUnameAndroid, "localhost", st.hostname, 1)
	c.State = st
	return st
}

// bannerProps are the properties of a device banner
// ("device::k=v;k=v;features=...") plus the usual ones a TV box has.
func bannerProps(banner string) map[string]string {
	p := map[string]string{
		"ro.build.version.release": "9",
		"ro.build.version.sdk":     "28",
		"ro.product.cpu.abi":       "armeabi-v7a",
		"ro.product.cpu.abilist":   "armeabi-v7a,armeabi",
		"ro.product.manufacturer":  "Amlogic",
		"ro.product.brand":         "Amlogic",
		"ro.product.board":         "p281",
		"ro.hardware":              "amlogic",
		"ro.build.type":            "user",
		"ro.debuggable":            "0",
		"ro.secure":                "1",
		"ro.adb.secure":            "0",
		"ro.build.characteristics": "mbx,nosdcard",
		"persist.sys.usb.config":   "adb",
		"service.adb.tcp.port":     "5555",
		"sys.boot_completed":       "1",
		"net.hostname":             "",
	}
	if i := strings.Index(banner, "::"); i >= 0 {
		for _, kv := range strings.Split(banner[i+2:], ";") {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "features" && k != "" {
				p[k] = v
			}
		}
	}
	if m := p["ro.product.model"]; m != "" {
		p["ro.build.fingerprint"] = "Amlogic/" + p["ro.product.name"] + "/" + p["ro.product.device"] + ":9/PPR1.180610.011/20210106:user/release-keys"
	}
	return p
}

// Serve implements app.Handler: one message (or the part of a WRTE
// payload that has arrived) per call.
func (h *Handler) Serve(c *app.Conn, data []byte) app.Result {
	st := h.conn(c)
	if st.wLeft > 0 {
		return st.payload(data)
	}
	if len(data) < headerLen {
		if h.Detect(data, app.TCP) == app.No {
			return app.Result{Consumed: len(data), Close: true,
				Fields: []event.Field{{Key: "error", Value: "bad message"}, {Key: "data", Value: app.Printable(data)}}}
		}
		return app.Result{NeedMore: true}
	}
	m := parseHeader(data)
	if !known(m.cmd) || binary.LittleEndian.Uint32(data[20:]) != m.cmd^0xffffffff {
		// adbd drops a transport sending a bad header
		return app.Result{Consumed: len(data), Close: true,
			Fields: []event.Field{{Key: "error", Value: "bad magic"}, {Key: "data", Value: app.Printable(data[:min(len(data), 64)])}}}
	}
	if m.length > ourMaxData {
		// adbd drops a transport sending more than its payload size
		return app.Result{Consumed: len(data), Close: true,
			Fields: []event.Field{{Key: "message", Value: cmdName(m.cmd)}, {Key: "error", Value: fmt.Sprintf("payload of %d bytes", m.length)}}}
	}
	if m.cmd == cmdWRTE {
		return st.write(m, data[headerLen:])
	}
	if m.length > maxControl {
		return app.Result{Consumed: len(data), Close: true,
			Fields: []event.Field{{Key: "message", Value: cmdName(m.cmd)}, {Key: "error", Value: fmt.Sprintf("%d-byte payload", m.length)}}}
	}
	n := headerLen + int(m.length)
	if len(data) < n {
		return app.Result{NeedMore: true}
	}
	p := data[headerLen:n]
	res := st.message(c, m, p)
	res.Consumed = n
	return res
}

// message handles a whole message other than WRTE.
func (st *state) message(c *app.Conn, m header, p []byte) app.Result {
	switch m.cmd {
	case cmdCNXN:
		return st.connect(m, p)
	case cmdAUTH:
		// never asked for: adbd ignores it on a device that needs no auth
		f := []event.Field{{Key: "message", Value: "AUTH"}, {Key: "auth_type", Value: m.arg0}}
		if m.arg0 == 3 && len(p) > 0 { // RSA public key
			key := strings.TrimRight(string(p), "\x00")
			if i := strings.LastIndexByte(key, ' '); i >= 0 {
				f = append(f, event.Field{Key: "key_comment", Value: app.Printable([]byte(key[i+1:]))})
			}
			f = append(f, event.Field{Key: "public_key", Value: app.Printable([]byte(key[:min(len(key), 1024)]))})
		}
		return app.Result{Fields: f}
	case cmdSTLS:
		return app.Result{Fields: []event.Field{{Key: "message", Value: "STLS"}}}
	case cmdSYNC:
		return app.Result{Fields: []event.Field{{Key: "message", Value: "SYNC"}}}
	}
	if !st.online {
		// adbd ignores stream messages before the connection is up
		return app.Result{Fields: []event.Field{{Key: "message", Value: cmdName(m.cmd)}, {Key: "error", Value: "not connected"}}}
	}
	switch m.cmd {
	case cmdOPEN:
		return st.open(c, m, p)
	case cmdCLSE:
		if s := st.find(m.arg1, m.arg0); s != nil && m.arg1 != 0 {
			st.drop(s)
			return app.Result{Reply: st.packet(cmdCLSE, s.local, s.remote, nil)}
		}
	case cmdOKAY:
		if s := st.find(m.arg1, m.arg0); s != nil {
			return s.ready(st)
		}
	}
	return app.Result{}
}

// connect answers CNXN: version and payload size are the smaller of the
// client's and ours, and the device banner follows (no AUTH).
func (st *state) connect(m header, p []byte) app.Result {
	f := []event.Field{{Key: "message", Value: "CNXN"},
		{Key: "version", Value: fmt.Sprintf("0x%08x", m.arg0)}, {Key: "max_data", Value: m.arg1}}
	banner := strings.TrimRight(string(p), "\x00")
	f = append(f, event.Field{Key: "banner", Value: app.Printable([]byte(banner))})
	if sys, rest, ok := strings.Cut(banner, ":"); ok {
		f = append(f, event.Field{Key: "system_type", Value: app.Printable([]byte(sys))})
		_, props, _ := strings.Cut(rest, ":")
		for _, kv := range strings.Split(props, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == "features" && v != "" {
				var feats []string
				for _, x := range strings.Split(v, ",") {
					if len(feats) < 64 && x != "" {
						feats = append(feats, app.Printable([]byte(x)))
					}
				}
				f = append(f, event.Field{Key: "features", Value: feats})
			}
		}
	}
	if m.arg0 < versionMin || m.arg1 == 0 {
		// adbd takes any version; a zero payload size is unusable
		f = append(f, event.Field{Key: "error", Value: "bad version"})
	}
	// a new CNXN restarts the connection: its streams are gone
	st.streams = nil
	st.version = min(max(m.arg0, versionMin), ourVersion)
	st.maxData = min(max(m.arg1, minMaxData), ourMaxData)
	st.online = true
	return app.Result{Fields: f, Reply: st.packet(cmdCNXN, st.version, st.maxData, []byte(st.banner))}
}

// packet is one message to the client.
func (st *state) packet(cmd, arg0, arg1 uint32, p []byte) []byte {
	b := make([]byte, headerLen, headerLen+len(p))
	le := binary.LittleEndian
	le.PutUint32(b, cmd)
	le.PutUint32(b[4:], arg0)
	le.PutUint32(b[8:], arg1)
	le.PutUint32(b[12:], uint32(len(p)))
	if st.version < versionSkipChecksum {
		var sum uint32
		for _, x := range p {
			sum += uint32(x)
		}
		le.PutUint32(b[16:], sum)
	}
	le.PutUint32(b[20:], cmd^0xffffffff)
	return append(b, p...)
}

// writes are WRTE messages carrying p to stream s, in chunks of the
// negotiated payload size.
func (st *state) writes(s *stream, p []byte) []byte {
	var out []byte
	for len(p) > 0 {
		n := min(len(p), int(st.maxData))
		out = append(out, st.packet(cmdWRTE, s.local, s.remote, p[:n])...)
		p = p[n:]
	}
	return out
}

// find is the open stream with our id local and the client's id remote
// (remote 0: any).
func (st *state) find(local, remote uint32) *stream {
	for _, s := range st.streams {
		if s.local == local && (remote == 0 || s.remote == remote) {
			return s
		}
	}
	return nil
}

func (st *state) drop(s *stream) {
	for i, x := range st.streams {
		if x == s {
			st.streams = append(st.streams[:i], st.streams[i+1:]...)
			return
		}
	}
}

// closeStream is our CLSE of s.
func (st *state) closeStream(s *stream) []byte {
	st.drop(s)
	return st.packet(cmdCLSE, s.local, s.remote, nil)
}

// write starts a WRTE: its payload is handed to the stream as it arrives.
func (st *state) write(m header, rest []byte) app.Result {
	st.wLeft = int(m.length)
	st.wLocal, st.wRemot = m.arg1, m.arg0
	st.wStream = nil
	if m.arg0 != 0 && m.arg1 != 0 && st.online {
		st.wStream = st.find(m.arg1, m.arg0)
	}
	if st.wLeft == 0 {
		res := st.endWrite()
		res.Consumed = headerLen
		return res
	}
	res := st.payload(rest)
	res.Consumed += headerLen
	return res
}

// payload takes the next bytes of the current WRTE's payload.
func (st *state) payload(data []byte) app.Result {
	n := min(len(data), st.wLeft)
	st.wLeft -= n
	var res app.Result
	if s := st.wStream; s != nil && n > 0 {
		res = s.input(st, data[:n])
	}
	if st.wLeft == 0 {
		end := st.endWrite()
		// the client's WRTE is acknowledged before what it caused
		res.Reply = append(end.Reply, res.Reply...)
	}
	res.Consumed = n
	return res
}

// endWrite acknowledges a complete WRTE with OKAY, as adbd does once the
// service took the data (nothing for an unknown stream).
func (st *state) endWrite() app.Result {
	s := st.wStream
	st.wStream = nil
	if s == nil {
		return app.Result{}
	}
	return app.Result{Reply: st.packet(cmdOKAY, s.local, s.remote, nil)}
}
