// Package redis plays a Redis 7.0 server exposed without a password (or,
// when the host profile says so, one that requires one and refuses every
// password): it answers the commands scanners and bots send (PING, INFO,
// CONFIG GET/SET, SLAVEOF, MODULE LOAD, EVAL, SET/GET/KEYS, ...) the way
// Redis does, over RESP arrays and inline commands, and records every
// command with its arguments, the URLs and hosts it names (a crontab or SSH
// key written through SET and CONFIG SET dir/dbfilename, a rogue master),
// and every AUTH. Nothing is applied: CONFIG SET, SLAVEOF and MODULE LOAD
// change nothing but the connection's own view, scripts never run, and the
// keyspace is a small per-connection map.
//
// Profile keys: banner "redis" is the version (default 7.0.15); banner
// "redis_auth" = "required" makes every command before a successful AUTH
// answer -NOAUTH and every AUTH -WRONGPASS; banner "uname" (the `uname -a`
// line) gives INFO's os.
package redis

import (
	"bytes"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "Redis 7.0 (RESP and inline commands): INFO, CONFIG, SLAVEOF, MODULE, EVAL, AUTH answered, every command recorded, nothing applied"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// DefaultVersion is the Redis version shown without a profile value.
const DefaultVersion = "7.0.15"

// Limits.
const (
	maxHeader  = 1 << 10   // a *N or $L line
	maxInline  = 16 << 10  // an inline command line
	maxBulk    = 512 << 10 // one bulk string; larger is a protocol error
	maxMulti   = 4096      // arguments of one command; more is a protocol error
	maxArgs    = 64        // arguments kept of one command (the rest counted)
	maxArgKeep = 4 << 10   // bytes kept of one argument
	maxKeys    = 64        // keys of the per-connection keyspace
	maxKeyLen  = 512       // longest key stored
	maxScript  = 1024      // script bytes recorded
)

// Handler is the Redis protocol handler.
type Handler struct{}

// New returns the Redis handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "redis" }

// inlineWords are the command words an inline request may start with to be
// taken for Redis: the commands scanners and bots send first. Words other
// text protocols start with (QUIT, HELP, TYPE, USER) are left out.
var inlineWords = map[string]bool{
	"PING": true, "INFO": true, "AUTH": true, "CONFIG": true, "SET": true, "GET": true,
	"KEYS": true, "SLAVEOF": true, "REPLICAOF": true, "MODULE": true, "EVAL": true,
	"EVALSHA": true, "FLUSHALL": true, "FLUSHDB": true, "SAVE": true, "BGSAVE": true,
	"DBSIZE": true, "CLIENT": true, "COMMAND": true, "SELECT": true, "ECHO": true,
	"DEL": true, "EXISTS": true, "HELLO": true, "SCAN": true, "TTL": true,
	"EXPIRE": true, "SCRIPT": true, "SHUTDOWN": true, "MONITOR": true, "SYNC": true,
	"PSYNC": true, "ACL": true, "DEBUG": true, "SLOWLOG": true, "LASTSAVE": true,
	"ROLE": true, "CLUSTER": true, "MGET": true, "MSET": true, "SETEX": true,
	"HGETALL": true, "LPUSH": true, "RPUSH": true, "SADD": true, "INCR": true,
	"BGREWRITEAOF": true, "MEMORY": true, "RANDOMKEY": true, "UNLINK": true,
}

// Detect implements app.Handler: a RESP array of bulk strings (*N\r\n$L),
// or an inline command whose first word is a Redis command.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if t != app.TCP {
		return app.No
	}
	if len(data) == 0 {
		return app.Maybe
	}
	if data[0] == '*' {
		i := 1
		for i < len(data) && i < 12 && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		want := "\r\n$"
		rest := data[i:]
		if i == 1 && len(rest) > 0 || i >= 12 {
			return app.No
		}
		n := min(len(rest), len(want))
		if string(rest[:n]) != want[:n] {
			return app.No
		}
		if n < len(want) {
			return app.Maybe
		}
		return app.Yes
	}
	// inline: WORD followed by a space, CR or LF
	end := 0
	for end < len(data) && end < 16 && data[end] != ' ' && data[end] != '\r' && data[end] != '\n' {
		end++
	}
	word := strings.ToUpper(string(data[:end]))
	if end == len(data) {
		if end < 16 {
			for w := range inlineWords {
				if strings.HasPrefix(w, word) {
					return app.Maybe
				}
			}
		}
		return app.No
	}
	if inlineWords[word] {
		return app.Yes
	}
	return app.No
}

// state is one connection's: authentication, keyspace, configuration
// overrides and the command being read.
type state struct {
	authed bool
	keys   map[string][]byte
	order  []string // keys in insertion order (KEYS, SCAN)
	cfg    map[string]string
	db     int
	name   string
	resp3  bool

	// the multibulk command being read
	inMulti  bool
	left     int // arguments still to read
	argc     int // arguments read
	args     [][]byte
	big      []bool // args[i] was cut at maxArgKeep
	bulkLeft int    // bytes left of the current bulk, its CRLF included; -1: want its header
	bulkLen  int
	cur      []byte
	curBig   bool
}

func getState(c *app.Conn) *state {
	st, ok := c.State.(*state)
	if !ok {
		st = &state{bulkLeft: -1}
		c.State = st
	}
	return st
}

func protoErr(msg string) app.Result {
	return app.Result{Reply: []byte("-ERR Protocol error: " + msg + "\r\n"), Close: true,
		Fields: []event.Field{{Key: "error", Value: "protocol error: " + msg}}}
}

// Serve implements app.Handler. One call handles at most one command; the
// bytes of a long bulk string are consumed as they come (only its first
// maxArgKeep bytes are kept).
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	st := getState(c)
	if len(data) == 0 {
		return app.Result{NeedMore: true}
	}
	off := 0
	if !st.inMulti {
		if data[0] != '*' {
			return serveInline(c, st, data)
		}
		line, next, ok := headerLine(data, 0)
		if !ok {
			if len(data) > maxHeader {
				return protoErr("too big mbulk count string")
			}
			return app.Result{NeedMore: true}
		}
		n, err := strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil || n > maxMulti {
			return protoErr("invalid multibulk length")
		}
		if n <= 0 {
			return app.Result{Consumed: next}
		}
		st.inMulti, st.left, st.argc, st.args, st.big, st.bulkLeft = true, int(n), 0, nil, nil, -1
		off = next
	}
	for off < len(data) {
		if st.bulkLeft < 0 {
			line, next, ok := headerLine(data, off)
			if !ok {
				if len(data)-off > maxHeader {
					return protoErr("too big bulk count string")
				}
				break
			}
			if len(line) == 0 || line[0] != '$' {
				got := byte(' ')
				if len(line) > 0 {
					got = line[0]
				}
				return protoErr("expected '$', got '" + app.Printable([]byte{got}) + "'")
			}
			l, err := strconv.ParseInt(string(line[1:]), 10, 64)
			if err != nil || l < 0 || l > maxBulk {
				return protoErr("invalid bulk length")
			}
			st.bulkLen, st.bulkLeft, st.cur, st.curBig = int(l), int(l)+2, nil, false
			off = next
			continue
		}
		n := min(st.bulkLeft, len(data)-off)
		pos := st.bulkLen + 2 - st.bulkLeft // position in the bulk
		if pos < st.bulkLen {
			end := min(st.bulkLen-pos, n)
			keep := min(end, maxArgKeep-len(st.cur))
			if keep > 0 {
				st.cur = append(st.cur, data[off:off+keep]...)
			}
			if keep < end {
				st.curBig = true
			}
		}
		st.bulkLeft -= n
		off += n
		if st.bulkLeft > 0 {
			break
		}
		st.bulkLeft = -1
		if st.argc < maxArgs {
			st.args = append(st.args, st.cur)
			st.big = append(st.big, st.curBig)
		}
		st.argc++
		st.cur = nil
		st.left--
		if st.left == 0 {
			st.inMulti = false
			args, big, argc := st.args, st.big, st.argc
			st.args, st.big = nil, nil
			res := execute(c, st, args, big, argc)
			res.Consumed = off
			return res
		}
	}
	if off == 0 {
		return app.Result{NeedMore: true}
	}
	return app.Result{Consumed: off}
}

// headerLine is the CRLF-terminated line at data[off:] (without the CRLF)
// and the offset after it.
func headerLine(data []byte, off int) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(data[off:], '\n')
	if i < 0 {
		return nil, 0, false
	}
	line = bytes.TrimSuffix(data[off:off+i], []byte{'\r'})
	return line, off + i + 1, true
}

// serveInline handles one inline command line.
func serveInline(c *app.Conn, st *state, data []byte) app.Result {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) > maxInline {
			return protoErr("too big inline request")
		}
		return app.Result{NeedMore: true}
	}
	line := bytes.TrimSuffix(data[:i], []byte{'\r'})
	args, ok := splitArgs(line)
	if !ok {
		r := protoErr("unbalanced quotes in request")
		r.Consumed = i + 1
		return r
	}
	if len(args) == 0 {
		return app.Result{Consumed: i + 1}
	}
	big := make([]bool, len(args))
	argc := len(args)
	if len(args) > maxArgs {
		args, big = args[:maxArgs], big[:maxArgs]
	}
	for j, a := range args {
		if len(a) > maxArgKeep {
			args[j], big[j] = a[:maxArgKeep], true
		}
	}
	res := execute(c, st, args, big, argc)
	res.Consumed = i + 1
	return res
}

// splitArgs splits an inline request as Redis's sdssplitargs does: words
// separated by blanks, "double quotes" with \n \r \t \b \a \\ \" \xHH
// escapes, 'single quotes' with \' only. ok is false for unbalanced
// quotes or a closing quote not followed by a blank.
func splitArgs(line []byte) (args [][]byte, ok bool) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, true
		}
		var cur []byte
		inq, insq := false, false
		for done := false; !done; {
			if inq {
				switch {
				case i >= len(line):
					return nil, false
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 3
				case line[i] == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case line[i] == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, line[i])
				}
			} else if insq {
				switch {
				case i >= len(line):
					return nil, false
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case line[i] == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, line[i])
				}
			} else {
				switch {
				case i >= len(line) || isSpace(line[i]):
					done = true
				case line[i] == '"':
					inq = true
				case line[i] == '\'':
					insq = true
				default:
					cur = append(cur, line[i])
				}
			}
			if i < len(line) {
				i++
			}
		}
		if cur == nil {
			cur = []byte{}
		}
		args = append(args, cur)
		if len(args) > maxMulti {
			return args, true
		}
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\n' || b == '\r' || b == '\t' || b == '\v' || b == '\f' || b == 0
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

func unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}

// hostSeed is a number fixed for the host: process id, run id, uptime.
func hostSeed(c *app.Conn) uint64 {
	h := fnv.New64a()
	h.Write([]byte("redis/" + c.Host()))
	return h.Sum64()
}
