package adb

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Sync protocol ids (SYNC.TXT, file_sync_protocol.h).
const (
	idSTAT = "STAT"
	idSTA2 = "STA2"
	idLST2 = "LST2"
	idLIST = "LIST"
	idLIS2 = "LIS2"
	idSEND = "SEND"
	idSND2 = "SND2"
	idRECV = "RECV"
	idRCV2 = "RCV2"
	idDATA = "DATA"
	idDONE = "DONE"
	idQUIT = "QUIT"

	syncDataMax = 64 << 10 // largest DATA chunk
	syncPathMax = 1024     // longest path
	maxPushed   = 16       // files remembered per connection (stat)
	enoent      = 2        // errno on the wire
)

type syncPhase uint8

const (
	phHeader syncPhase = iota
	phPath
	phSetup
	phData
)

// pushed is a file the client sent in this connection.
type pushed struct {
	path  string
	mode  uint32
	size  uint64
	mtime uint32
}

// syncer is the sync service of one stream: requests are parsed as their
// bytes arrive; file contents are hashed, never kept.
type syncer struct {
	phase syncPhase
	hdr   [12]byte
	hn    int
	id    string
	need  int
	path  []byte
	ended bool

	// the file being received
	sending    bool
	file       string
	mode       uint32
	size       uint64
	compressed bool
	h          hash.Hash

	pushed []pushed
}

// input takes the next bytes the client wrote to the sync stream.
func (y *syncer) input(st *state, s *stream, p []byte) app.Result {
	var res app.Result
	for len(p) > 0 && !y.ended {
		switch y.phase {
		case phData:
			n := min(len(p), y.need)
			y.h.Write(p[:n])
			y.size += uint64(n)
			y.need -= n
			p = p[n:]
			if y.need == 0 {
				y.phase = phHeader
			}
		case phHeader, phSetup:
			want := 8
			if y.phase == phSetup && y.id == idSND2 {
				want = 12
			}
			n := copy(y.hdr[y.hn:want], p)
			y.hn += n
			p = p[n:]
			if y.hn < want {
				continue
			}
			y.hn = 0
			if y.phase == phSetup {
				y.setup(st, s, &res)
				continue
			}
			id := string(y.hdr[:4])
			length := binary.LittleEndian.Uint32(y.hdr[4:8])
			if y.sending {
				y.data(st, s, id, length, &res)
				continue
			}
			if length > syncPathMax {
				y.fail(st, s, &res, "path too long")
				continue
			}
			y.id, y.need, y.path = id, int(length), y.path[:0]
			y.phase = phPath
			if y.need == 0 {
				y.request(st, s, &res)
			}
		case phPath:
			n := min(len(p), y.need)
			y.path = append(y.path, p[:n]...)
			y.need -= n
			p = p[n:]
			if y.need == 0 {
				y.request(st, s, &res)
			}
		}
	}
	return res
}

// reply sends a sync response on the stream.
func (y *syncer) reply(st *state, s *stream, res *app.Result, b []byte) {
	res.Reply = append(res.Reply, st.writes(s, b)...)
}

// fail answers FAIL with a reason and ends the service, as adbd does.
func (y *syncer) fail(st *state, s *stream, res *app.Result, why string) {
	b := append([]byte("FAIL\x00\x00\x00\x00"), why...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(why)))
	y.reply(st, s, res, b)
	y.end(st, s, res)
	res.Fields = append(res.Fields, event.Field{Key: "sync_error", Value: why})
}

func (y *syncer) end(st *state, s *stream, res *app.Result) {
	y.ended = true
	y.h = nil
	res.Reply = append(res.Reply, st.closeStream(s)...)
}

// request handles a request whose path arrived.
func (y *syncer) request(st *state, s *stream, res *app.Result) {
	y.phase = phHeader
	path := string(y.path)
	if y.id != idSEND && y.id != idSND2 && y.id != idDATA {
		res.Fields = append(res.Fields, event.Field{Key: "sync", Value: app.Printable([]byte(strings.TrimSpace(y.id + " " + path)))})
	}
	switch y.id {
	case idSTAT:
		mode, size, mtime, _ := y.stat(st, path)
		b := make([]byte, 16)
		copy(b, idSTAT)
		binary.LittleEndian.PutUint32(b[4:], mode)
		binary.LittleEndian.PutUint32(b[8:], uint32(size))
		binary.LittleEndian.PutUint32(b[12:], mtime)
		y.reply(st, s, res, b)
	case idSTA2, idLST2:
		y.reply(st, s, res, y.stat2(st, y.id, path))
	case idLIST, idLIS2:
		y.list(st, s, res, path)
	case idSEND:
		comma := strings.LastIndexByte(path, ',')
		if comma < 0 {
			y.fail(st, s, res, "missing , in ID_SEND_V1")
			return
		}
		mode, err := strconv.ParseUint(path[comma+1:], 0, 32)
		if err != nil {
			y.fail(st, s, res, "bad mode")
			return
		}
		y.begin(path[:comma], uint32(mode), false)
	case idSND2, idRCV2:
		y.phase = phSetup
	case idRECV:
		y.fail(st, s, res, "open failed: No such file or directory")
	case idQUIT:
		y.end(st, s, res)
	default:
		y.fail(st, s, res, fmt.Sprintf("unknown command %08x", binary.LittleEndian.Uint32([]byte(y.id))))
	}
}

// setup handles the setup packet of SND2 (id, mode, flags) or RCV2 (id, flags).
func (y *syncer) setup(st *state, s *stream, res *app.Result) {
	y.phase = phHeader
	if y.id == idRCV2 {
		y.fail(st, s, res, "open failed: No such file or directory")
		return
	}
	mode := binary.LittleEndian.Uint32(y.hdr[4:8])
	flags := binary.LittleEndian.Uint32(y.hdr[8:12])
	const brotli, lz4, zstd, dryRun = 1, 2, 4, 0x80000000
	if flags&^(brotli|lz4|zstd|dryRun) != 0 {
		y.fail(st, s, res, fmt.Sprintf("unknown flags: %d", flags))
		return
	}
	y.begin(string(y.path), mode, flags&(brotli|lz4|zstd) != 0)
}

func (y *syncer) begin(path string, mode uint32, compressed bool) {
	y.sending, y.file, y.mode, y.size, y.compressed = true, path, mode, 0, compressed
	y.h = sha256.New()
}

// data handles a DATA or DONE header while a file is being received.
func (y *syncer) data(st *state, s *stream, id string, length uint32, res *app.Result) {
	switch id {
	case idDATA:
		if length > syncDataMax {
			y.fail(st, s, res, "oversize data message")
			return
		}
		y.need = int(length)
		if y.need > 0 {
			y.phase = phData
		}
	case idDONE:
		y.sending = false
		sum := hex.EncodeToString(y.h.Sum(nil))
		y.h = nil
		res.Fields = append(res.Fields,
			event.Field{Key: "file", Value: app.Printable([]byte(y.file))},
			event.Field{Key: "mode", Value: fmt.Sprintf("%#o", y.mode&0o7777)},
			event.Field{Key: "size", Value: y.size},
			event.Field{Key: "sha256", Value: sum})
		if y.compressed {
			res.Fields = append(res.Fields, event.Field{Key: "compressed", Value: true})
		}
		p := pushed{path: clean(y.file), mode: 0o100000 | y.mode&0o7777, size: y.size, mtime: length}
		for i, x := range y.pushed {
			if x.path == p.path {
				y.pushed = append(y.pushed[:i], y.pushed[i+1:]...)
				break
			}
		}
		if len(y.pushed) >= maxPushed {
			y.pushed = y.pushed[1:]
		}
		y.pushed = append(y.pushed, p)
		y.reply(st, s, res, []byte("OKAY\x00\x00\x00\x00"))
	default:
		y.fail(st, s, res, "invalid data message")
	}
}

// deviceDirs are the directories sync stat and list know, with their
// owners (uid), modes and entries.
var deviceDirs = map[string]struct {
	mode     uint32
	uid, gid uint32
	entries  []string
}{
	"/":                   {0o40755, 0, 0, []string{"acct", "cache", "config", "data", "dev", "etc", "mnt", "proc", "sdcard", "storage", "sys", "system", "vendor"}},
	"/data":               {0o40771, 1000, 1000, nil},
	"/data/local":         {0o40751, 0, 0, nil},
	"/data/local/tmp":     {0o40771, 2000, 2000, nil},
	"/sdcard":             {0o40771, 0, 1015, []string{"Android", "DCIM", "Download", "Movies", "Music", "Pictures"}},
	"/storage/emulated/0": {0o40771, 0, 1015, []string{"Android", "DCIM", "Download", "Movies", "Music", "Pictures"}},
	"/sdcard/Download":    {0o40771, 0, 1015, nil},
	"/system":             {0o40755, 0, 0, []string{"app", "bin", "build.prop", "etc", "framework", "lib", "priv-app", "vendor", "xbin"}},
	"/system/bin":         {0o40755, 0, 2000, []string{"am", "app_process", "cmd", "getprop", "pm", "reboot", "sh", "toybox"}},
	"/system/xbin":        {0o40755, 0, 2000, nil},
	"/vendor":             {0o40755, 0, 2000, nil},
	"/mnt":                {0o40755, 0, 1000, nil},
	"/dev":                {0o40755, 0, 0, nil},
	"/proc":               {0o40555, 0, 0, nil},
	"/etc":                {0o40755, 0, 0, nil},
}

// bootTime is the modification time of the device's directories.
const bootTime = 1609920000 // 2021-01-06

// stat is the file at path: a known directory, a file pushed in this
// connection, else missing (ok false).
func (y *syncer) stat(st *state, path string) (mode uint32, size uint64, mtime uint32, ok bool) {
	p := clean(path)
	if d, found := deviceDirs[p]; found {
		return d.mode, 4096, bootTime, true
	}
	for _, f := range y.pushed {
		if f.path == p {
			return f.mode, f.size, f.mtime, true
		}
	}
	return 0, 0, 0, false
}

// stat2 is the 72-byte STA2/LST2 answer.
func (y *syncer) stat2(st *state, id, path string) []byte {
	b := make([]byte, 72)
	copy(b, id)
	le := binary.LittleEndian
	mode, size, mtime, ok := y.stat(st, path)
	if !ok {
		le.PutUint32(b[4:], enoent)
		return b
	}
	uid, gid := uint32(2000), uint32(2000)
	if d, found := deviceDirs[clean(path)]; found {
		uid, gid = d.uid, d.gid
	}
	le.PutUint64(b[8:], 0xfd04)                         // dev
	le.PutUint64(b[16:], uint64(131073+len(path)*7919)) // ino
	le.PutUint32(b[24:], mode)
	le.PutUint32(b[28:], 1) // nlink
	le.PutUint32(b[32:], uid)
	le.PutUint32(b[36:], gid)
	le.PutUint64(b[40:], size)
	for _, off := range []int{48, 56, 64} {
		le.PutUint64(b[off:], uint64(mtime))
	}
	return b
}

// list answers LIST (DENT entries) or LIS2 (DNT2), ending with DONE.
func (y *syncer) list(st *state, s *stream, res *app.Result, path string) {
	v2 := y.id == idLIS2
	p := clean(path)
	names := []string{".", ".."}
	if d, ok := deviceDirs[p]; ok {
		names = append(names, d.entries...)
	}
	for _, f := range y.pushed {
		if dir, name := splitPath(f.path); dir == p {
			names = append(names, name)
		}
	}
	if _, ok := deviceDirs[p]; !ok && len(names) == 2 {
		names = nil // opendir failed: DONE alone
	}
	var out []byte
	le := binary.LittleEndian
	for _, n := range names {
		full := p + "/" + n
		if p == "/" {
			full = "/" + n
		}
		if n == "." || n == ".." {
			full = p
		}
		mode, size, mtime, ok := y.stat(st, full)
		if !ok { // an entry we only name: a directory
			mode, size, mtime = 0o40755, 4096, bootTime
		}
		if v2 {
			e := make([]byte, 76)
			copy(e, "DNT2")
			copy(e[4:72], y.stat2(st, idSTA2, full)[4:])
			le.PutUint32(e[4:], 0)
			le.PutUint32(e[24:], mode)
			le.PutUint64(e[40:], size)
			le.PutUint32(e[72:], uint32(len(n)))
			out = append(out, e...)
		} else {
			e := make([]byte, 20)
			copy(e, "DENT")
			le.PutUint32(e[4:], mode)
			le.PutUint32(e[8:], uint32(size))
			le.PutUint32(e[12:], mtime)
			le.PutUint32(e[16:], uint32(len(n)))
			out = append(out, e...)
		}
		out = append(out, n...)
	}
	done := make([]byte, 20)
	if v2 {
		done = make([]byte, 76)
	}
	copy(done, idDONE)
	y.reply(st, s, res, append(out, done...))
}

// clean resolves a device path: no trailing slash, no . or .. parts.
func clean(p string) string {
	var parts []string
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, e)
		}
	}
	return "/" + strings.Join(parts, "/")
}

func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}

// installer takes an APK streamed to "package install -S SIZE".
type installer struct {
	left, size uint64
	h          hash.Hash
}

func newInstaller(n uint64) *installer { return &installer{left: n, h: sha256.New()} }

// installSize recognises the streamed install commands adb sends
// ("cmd package 'install' -S SIZE", "pm install -S SIZE", abb_exec's
// "package install -S SIZE") and returns SIZE.
func installSize(cmd string) (uint64, bool) {
	w := strings.Fields(strings.ReplaceAll(cmd, "'", ""))
	inst := false
	for i, x := range w {
		if x == "install" && i > 0 && (w[i-1] == "package" || w[i-1] == "pm" || strings.HasSuffix(w[i-1], "/pm")) {
			inst = true
		}
		if inst && x == "-S" && i+1 < len(w) {
			n, err := strconv.ParseUint(w[i+1], 10, 63)
			return n, err == nil
		}
	}
	return 0, false
}

func (in *installer) input(st *state, s *stream, p []byte) app.Result {
	if in.h == nil {
		return app.Result{}
	}
	n := min(uint64(len(p)), in.left)
	in.h.Write(p[:n])
	in.size += n
	in.left -= n
	var res app.Result
	if in.left == 0 {
		res.Reply = in.finish(st, s, &res.Fields)
	}
	return res
}

// finish records the package and says Success, as package manager does.
func (in *installer) finish(st *state, s *stream, f *[]event.Field) []byte {
	*f = append(*f, event.Field{Key: "file", Value: "(package install)"},
		event.Field{Key: "size", Value: in.size},
		event.Field{Key: "sha256", Value: hex.EncodeToString(in.h.Sum(nil))})
	in.h = nil
	r := s.output(st, "Success\n")
	return append(r, st.closeStream(s)...)
}
