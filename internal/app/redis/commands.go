package redis

import (
	"slices"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

// arity is Redis's command table subset: n > 0 exactly n words, n < 0 at
// least -n words (the command included).
var arity = map[string]int{
	"ping": -1, "echo": 2, "quit": -1, "auth": -2, "hello": -1, "info": -1,
	"config": -2, "slaveof": 3, "replicaof": 3, "module": -2, "eval": -3,
	"evalsha": -3, "eval_ro": -3, "evalsha_ro": -3, "script": -2, "set": -3, "get": 2, "getdel": 2,
	"setex": 4, "setnx": 3, "mget": -2, "mset": -3, "keys": 2, "del": -2, "unlink": -2,
	"exists": -2, "flushall": -1, "flushdb": -1, "dbsize": 1, "save": 1, "bgsave": -1,
	"bgrewriteaof": 1, "lastsave": 1, "client": -2, "command": -1, "select": 2,
	"type": 2, "ttl": 2, "pttl": 2, "expire": -3, "persist": 2, "scan": -2,
	"randomkey": 1, "time": 1, "role": 1, "shutdown": -1, "monitor": 1, "sync": 1,
	"psync": -3, "acl": -2, "debug": -2, "slowlog": -2, "memory": -2,
	"cluster": -2, "incr": 2, "decr": 2, "append": 3, "strlen": 2,
	"hset": -4, "hget": 3, "hgetall": 2, "lpush": -3, "rpush": -3, "lrange": 4,
	"sadd": -3, "smembers": 2, "publish": 3, "subscribe": -2, "multi": 1, "exec": 1,
	"discard": 1, "wait": 3, "readonly": 1, "latency": -2, "lolwut": -1,
}

// execute answers one command (args[0] is its name; argc counts the
// arguments received, kept or not) and records it.
func execute(c *app.Conn, st *state, args [][]byte, big []bool, argc int) app.Result {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = string(a)
	}
	name := strings.ToLower(words[0])
	fields := commandFields(words, argc)
	r := &reply{}
	res := app.Result{}
	// Redis 7 closes the connection of an HTTP client (cross-protocol
	// scripting), without a reply.
	if name == "post" || name == "host:" {
		fields = append(fields, event.Field{Key: "error", Value: "security attack"})
		return app.Result{Close: true, Fields: fields}
	}
	n, known := arity[name]
	switch {
	case !known:
		r.unknown(words, argc)
	case n > 0 && argc != n || n < 0 && argc < -n:
		r.err("ERR wrong number of arguments for '" + app.Printable([]byte(name)) + "' command")
	case requireAuth(c) && !st.authed && name != "auth" && name != "hello" && name != "quit":
		r.err("NOAUTH Authentication required.")
	default:
		fields = append(fields, run(c, st, r, name, words, big, argc, &res)...)
	}
	res.Reply = r.b
	res.Fields = append(res.Fields, fields...)
	return res
}

// commandFields records the command as its words joined (printable,
// capped) with the URLs and hosts it names.
func commandFields(words []string, argc int) []event.Field {
	line := strings.Join(words, " ")
	f := shell.Fields(line)
	if len(f) == 0 { // a blank command: still recorded
		f = []event.Field{{Key: "command", Value: app.Printable([]byte(line))}}
	}
	f = append(f, event.Field{Key: "redis_command", Value: strings.ToLower(app.Printable([]byte(words[0])))})
	if argc > len(words) {
		f = append(f, event.Field{Key: "argc", Value: argc})
	}
	return f
}

func requireAuth(c *app.Conn) bool {
	return strings.EqualFold(c.Banner("redis_auth", ""), "required")
}

// reply builds a RESP2 answer.
type reply struct{ b []byte }

func (r *reply) simple(s string) { r.b = append(append(append(r.b, '+'), s...), "\r\n"...) }
func (r *reply) err(s string)    { r.b = append(append(append(r.b, '-'), s...), "\r\n"...) }
func (r *reply) integer(n int64) {
	r.b = append(strconv.AppendInt(append(r.b, ':'), n, 10), "\r\n"...)
}
func (r *reply) bulk(s string) {
	r.b = append(strconv.AppendInt(append(r.b, '$'), int64(len(s)), 10), "\r\n"...)
	r.b = append(append(r.b, s...), "\r\n"...)
}
func (r *reply) null() { r.b = append(r.b, "$-1\r\n"...) }
func (r *reply) array(n int) {
	r.b = append(strconv.AppendInt(append(r.b, '*'), int64(n), 10), "\r\n"...)
}
func (r *reply) bulks(l []string) {
	r.array(len(l))
	for _, s := range l {
		r.bulk(s)
	}
}

// unknown is Redis 7's answer to an unknown command: the name and the
// start of the arguments, quoted, CR and LF blanked.
func (r *reply) unknown(words []string, argc int) {
	var a strings.Builder
	for i := 1; i < len(words) && a.Len() < 128; i++ {
		w := words[i]
		if room := 128 - a.Len(); len(w) > room {
			w = w[:room]
		}
		a.WriteString("'" + w + "' ")
	}
	name := words[0]
	if len(name) > 128 {
		name = name[:128]
	}
	msg := "ERR unknown command '" + name + "', with args beginning with: " + a.String()
	r.err(blankCRLF(msg))
}

func (r *reply) unknownSub(sub, cmd string) {
	if len(sub) > 128 {
		sub = sub[:128]
	}
	r.err(blankCRLF("ERR unknown subcommand '" + sub + "'. Try " + cmd + " HELP."))
}

func blankCRLF(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

const errSyntax = "ERR syntax error"
const errInt = "ERR value is not an integer or out of range"

// run executes a known command of the right arity.
func run(c *app.Conn, st *state, r *reply, name string, w []string, big []bool, argc int, res *app.Result) []event.Field {
	var f []event.Field
	switch name {
	case "ping":
		switch argc {
		case 1:
			r.simple("PONG")
		case 2:
			r.bulk(w[1])
		default:
			r.err("ERR wrong number of arguments for 'ping' command")
		}
	case "echo":
		r.bulk(w[1])
	case "quit":
		r.simple("OK")
		res.Close = true
	case "auth":
		user, pass := "default", w[1]
		if argc == 3 {
			user, pass = w[1], w[2]
		} else if argc > 3 {
			r.err(errSyntax)
			return nil
		}
		ok := auth(c, st, r, user, pass, argc == 2)
		f = append(f, event.AuthField("redis", app.Printable([]byte(user)), app.Printable([]byte(pass)), ok))
	case "hello":
		proto := 2
		if argc >= 2 {
			v, err := strconv.Atoi(w[1])
			if err != nil {
				r.err("ERR Protocol version is not an integer or out of range")
				return nil
			}
			if v < 2 || v > 3 {
				r.err("NOPROTO unsupported protocol version")
				return nil
			}
			proto = v
		}
		for i := 2; i < len(w); i++ {
			switch strings.ToLower(w[i]) {
			case "auth":
				if i+2 >= len(w) {
					r.err(errSyntax)
					return f
				}
				ok := auth(c, st, &reply{}, w[i+1], w[i+2], false)
				f = append(f, event.AuthField("redis", app.Printable([]byte(w[i+1])), app.Printable([]byte(w[i+2])), ok))
				if !ok {
					r.err("WRONGPASS invalid username-password pair or user is disabled.")
					return f
				}
				i += 2
			case "setname":
				if i+1 >= len(w) {
					r.err(errSyntax)
					return f
				}
				st.name = w[i+1]
				i++
			default:
				r.err(errSyntax)
				return f
			}
		}
		if requireAuth(c) && !st.authed {
			r.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
			return f
		}
		st.resp3 = proto == 3
		hello(c, r, proto)
	case "info":
		r.bulk(info(c, st, w[1:]))
	case "config":
		f = append(f, config(c, st, r, w, big)...)
	case "slaveof", "replicaof":
		if strings.EqualFold(w[1], "no") && strings.EqualFold(w[2], "one") {
			r.simple("OK")
			return nil
		}
		port, err := strconv.Atoi(w[2])
		if err != nil || port < 0 || port > 65535 {
			r.err("ERR Invalid master port")
			return nil
		}
		r.simple("OK")
		f = append(f, event.Field{Key: "master", Value: app.Printable([]byte(w[1] + ":" + w[2]))})
	case "module":
		switch strings.ToLower(w[1]) {
		case "load", "loadex":
			if argc < 3 {
				r.err("ERR wrong number of arguments for 'module|" + strings.ToLower(w[1]) + "' command")
				return nil
			}
			r.err("ERR Error loading the extension. Please check the server logs.")
			f = append(f, event.Field{Key: "module", Value: app.Printable([]byte(w[2]))})
		case "list":
			r.array(0)
		case "unload":
			r.err("ERR Error unloading module: no such module with that name")
		case "help":
			r.bulks([]string{"MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "LIST", "    Return a list of loaded modules.", "LOAD <path> [<arg> ...]", "    Load a module library from <path>, passing to it any optional arguments.", "UNLOAD <name>", "    Unload a module.", "HELP", "    Print this help."})
		default:
			r.unknownSub(w[1], "MODULE")
		}
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		script := w[1]
		if len(script) > maxScript {
			script = script[:maxScript]
		}
		key := "script"
		if strings.HasPrefix(name, "evalsha") {
			key = "sha1"
		}
		f = append(f, event.Field{Key: key, Value: app.Printable([]byte(script))})
		nk, err := strconv.ParseInt(w[2], 10, 64)
		switch {
		case err != nil:
			r.err(errInt)
		case nk < 0:
			r.err("ERR Number of keys can't be negative")
		case nk > int64(argc-3):
			r.err("ERR Number of keys can't be greater than number of args")
		case key == "sha1":
			r.err("NOSCRIPT No matching script. Please use EVAL.")
		default:
			evalReply(r, w[1])
		}
	case "script":
		switch strings.ToLower(w[1]) {
		case "load":
			if argc != 3 {
				r.err("ERR wrong number of arguments for 'script|load' command")
				return nil
			}
			s := w[2]
			if len(s) > maxScript {
				s = s[:maxScript]
			}
			f = append(f, event.Field{Key: "script", Value: app.Printable([]byte(s))})
			r.bulk(sha1hex(w[2]))
		case "flush", "kill":
			if strings.EqualFold(w[1], "kill") {
				r.err("NOTBUSY No scripts in execution right now.")
			} else {
				r.simple("OK")
			}
		case "exists":
			r.array(argc - 2)
			for i := 2; i < argc; i++ {
				r.integer(0)
			}
		default:
			r.unknownSub(w[1], "SCRIPT")
		}
	case "set", "setnx", "setex", "getdel", "get", "mget", "mset", "keys", "del", "unlink",
		"exists", "flushall", "flushdb", "dbsize", "type", "ttl", "pttl", "expire", "persist",
		"scan", "randomkey", "incr", "decr", "append", "strlen":
		keyspace(st, r, name, w, big, argc)
	case "save":
		r.simple("OK")
	case "bgsave":
		r.simple("Background saving started")
	case "bgrewriteaof":
		r.simple("Background append only file rewriting started")
	case "lastsave":
		r.integer(startTime(c))
	case "select":
		n, err := strconv.Atoi(w[1])
		switch {
		case err != nil:
			r.err(errInt)
		case n < 0 || n >= 16:
			r.err("ERR DB index is out of range")
		default:
			if n != st.db {
				st.db = n
				st.keys, st.order = nil, nil
			}
			r.simple("OK")
		}
	case "client":
		client(c, st, r, w, argc)
	case "command":
		command(r, w, argc)
	case "time":
		r.bulks([]string{strconv.FormatInt(c.Now.Unix(), 10), strconv.Itoa(c.Now.Nanosecond() / 1000)})
	case "role":
		r.array(3)
		r.bulk("master")
		r.integer(0)
		r.array(0)
	case "shutdown":
		r.err("ERR Errors trying to SHUTDOWN. Check logs.")
	case "monitor":
		r.simple("OK")
	case "sync", "psync":
		// a full resynchronisation with an empty dataset
		if name == "psync" {
			r.simple("FULLRESYNC " + runID(c) + " 0")
		}
		r.b = append(r.b, "$18\r\nREDIS0010\xff\x00\x00\x00\x00\x00\x00\x00\x00"...)
	case "acl":
		acl(r, w, argc)
	case "debug":
		r.err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.")
	case "slowlog", "latency":
		switch strings.ToLower(w[1]) {
		case "get", "latest":
			r.array(0)
		case "len":
			r.integer(0)
		case "reset":
			r.simple("OK")
		default:
			r.unknownSub(w[1], strings.ToUpper(name))
		}
	case "memory":
		switch strings.ToLower(w[1]) {
		case "usage":
			r.null()
		case "doctor":
			r.bulk("Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.")
		default:
			r.unknownSub(w[1], "MEMORY")
		}
	case "cluster":
		r.err("ERR This instance has cluster support disabled")
	case "hset", "lpush", "rpush", "sadd":
		r.integer(int64((argc - 2) / map[bool]int{true: 2, false: 1}[name == "hset"]))
	case "hget":
		r.null()
	case "hgetall", "lrange", "smembers":
		r.array(0)
	case "publish":
		r.integer(0)
	case "subscribe":
		for i := 1; i < argc && i < len(w); i++ {
			r.array(3)
			r.bulk("subscribe")
			r.bulk(w[i])
			r.integer(int64(i))
		}
	case "multi":
		r.simple("OK")
	case "exec":
		r.err("ERR EXEC without MULTI")
	case "discard":
		r.err("ERR DISCARD without MULTI")
	case "wait":
		r.integer(0)
	case "readonly":
		r.err("ERR This instance has cluster support disabled")
	case "lolwut":
		r.bulk("Redis ver. " + version(c) + "\n")
	}
	return f
}

// auth answers AUTH: without a configured password, AUTH <password>
// is an error and AUTH default <anything> succeeds (the default user has
// nopass); with redis_auth = required every password is wrong.
func auth(c *app.Conn, st *state, r *reply, user, pass string, legacy bool) bool {
	if requireAuth(c) {
		r.err("WRONGPASS invalid username-password pair or user is disabled.")
		return false
	}
	if legacy {
		r.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return false
	}
	if user == "default" {
		st.authed = true
		r.simple("OK")
		return true
	}
	r.err("WRONGPASS invalid username-password pair or user is disabled.")
	return false
}

func hello(c *app.Conn, r *reply, proto int) {
	if proto == 3 {
		r.b = append(r.b, "%7\r\n"...)
	} else {
		r.array(14)
	}
	r.bulk("server")
	r.bulk("redis")
	r.bulk("version")
	r.bulk(version(c))
	r.bulk("proto")
	r.integer(int64(proto))
	r.bulk("id")
	r.integer(clientID(c))
	r.bulk("mode")
	r.bulk("standalone")
	r.bulk("role")
	r.bulk("master")
	r.bulk("modules")
	r.array(0)
}

// evalReply: Redis 7's Lua has no package, io or os globals (the
// CVE-2022-0543 escape fails), other scripts give nil.
func evalReply(r *reply, script string) {
	for _, g := range []string{"package", "io", "os", "loadstring", "dofile", "require"} {
		if containsWord(script, g) {
			r.err("ERR user_script:1: Script attempted to access nonexistent global variable '" + g + "' script: " + sha1hex(script) + ", on @user_script:1.")
			return
		}
	}
	r.null()
}

func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isIdent(s[j-1]) && s[j-1] != '.'
		after := j+len(w) == len(s) || !isIdent(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isIdent(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// keyspace serves the string commands on the connection's small keyspace.
func keyspace(st *state, r *reply, name string, w []string, big []bool, argc int) {
	get := func(k string) ([]byte, bool) { v, ok := st.keys[k]; return v, ok }
	switch name {
	case "set", "setnx", "setex":
		k, v, vi := w[1], "", 2
		if name == "setex" {
			secs, err := strconv.ParseInt(w[2], 10, 64)
			if err != nil {
				r.err(errInt)
				return
			}
			if secs <= 0 {
				r.err("ERR invalid expire time in 'setex' command")
				return
			}
			vi = 3
		}
		if vi < len(w) {
			v = w[vi]
		}
		if name == "set" {
			for i := 3; i < len(w); i++ {
				switch strings.ToUpper(w[i]) {
				case "NX", "XX", "KEEPTTL", "GET":
				case "EX", "PX", "EXAT", "PXAT":
					if i+1 >= len(w) {
						r.err(errSyntax)
						return
					}
					if _, err := strconv.ParseInt(w[i+1], 10, 64); err != nil {
						r.err(errInt)
						return
					}
					i++
				default:
					r.err(errSyntax)
					return
				}
			}
		}
		_, exists := get(k)
		if name == "setnx" {
			if exists {
				r.integer(0)
				return
			}
			defer r.integer(1)
		} else {
			defer r.simple("OK")
		}
		stored := !big[1] && !big[vi] && len(k) <= maxKeyLen
		if !stored {
			return
		}
		if !exists && len(st.keys) >= maxKeys {
			return // full: answered, not stored
		}
		if st.keys == nil {
			st.keys = map[string][]byte{}
		}
		if !exists {
			st.order = append(st.order, k)
		}
		st.keys[k] = []byte(v)
	case "get", "getdel":
		v, ok := get(w[1])
		if !ok {
			r.null()
			return
		}
		r.bulk(string(v))
		if name == "getdel" {
			st.del(w[1])
		}
	case "strlen":
		v, _ := get(w[1])
		r.integer(int64(len(v)))
	case "append":
		v, ok := get(w[1])
		nv := append(append([]byte(nil), v...), w[2]...)
		r.integer(int64(len(nv)))
		if len(nv) <= maxArgKeep && (ok || len(st.keys) < maxKeys) && len(w[1]) <= maxKeyLen {
			if st.keys == nil {
				st.keys = map[string][]byte{}
			}
			if !ok {
				st.order = append(st.order, w[1])
			}
			st.keys[w[1]] = nv
		}
	case "incr", "decr":
		v, ok := get(w[1])
		n := int64(0)
		if ok {
			var err error
			if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				r.err(errInt)
				return
			}
		}
		if name == "incr" {
			n++
		} else {
			n--
		}
		r.integer(n)
		if ok || len(st.keys) < maxKeys {
			if st.keys == nil {
				st.keys = map[string][]byte{}
			}
			if !ok {
				st.order = append(st.order, w[1])
			}
			st.keys[w[1]] = []byte(strconv.FormatInt(n, 10))
		}
	case "mget":
		r.array(argc - 1)
		for i := 1; i < argc; i++ {
			if i >= len(w) {
				r.null()
				continue
			}
			if v, ok := get(w[i]); ok {
				r.bulk(string(v))
			} else {
				r.null()
			}
		}
	case "mset":
		if argc%2 == 0 {
			r.err("ERR wrong number of arguments for 'mset' command")
			return
		}
		r.simple("OK")
	case "keys":
		var out []string
		for _, k := range st.order {
			if globMatch(w[1], k, false) {
				out = append(out, k)
			}
		}
		r.bulks(out)
	case "scan":
		if _, err := strconv.ParseUint(w[1], 10, 64); err != nil {
			r.err("ERR invalid cursor")
			return
		}
		pat := "*"
		for i := 2; i+1 < len(w); i += 2 {
			if strings.EqualFold(w[i], "match") {
				pat = w[i+1]
			}
		}
		var out []string
		for _, k := range st.order {
			if globMatch(pat, k, false) {
				out = append(out, k)
			}
		}
		r.array(2)
		r.bulk("0")
		r.bulks(out)
	case "randomkey":
		if len(st.order) == 0 {
			r.null()
		} else {
			r.bulk(st.order[0])
		}
	case "del", "unlink", "exists":
		n := 0
		for i := 1; i < len(w); i++ {
			if _, ok := get(w[i]); ok {
				n++
				if name != "exists" {
					st.del(w[i])
				}
			}
		}
		r.integer(int64(n))
	case "flushall", "flushdb":
		if argc > 2 || argc == 2 && !strings.EqualFold(w[1], "async") && !strings.EqualFold(w[1], "sync") {
			r.err(errSyntax)
			return
		}
		st.keys, st.order = nil, nil
		r.simple("OK")
	case "dbsize":
		r.integer(int64(len(st.keys)))
	case "type":
		if _, ok := get(w[1]); ok {
			r.simple("string")
		} else {
			r.simple("none")
		}
	case "ttl", "pttl":
		if _, ok := get(w[1]); ok {
			r.integer(-1)
		} else {
			r.integer(-2)
		}
	case "expire", "persist":
		if _, err := strconv.ParseInt(w[len(w)-1], 10, 64); name == "expire" && err != nil {
			r.err(errInt)
			return
		}
		if _, ok := get(w[1]); ok && name == "expire" {
			r.integer(1)
		} else {
			r.integer(0)
		}
	}
}

func (st *state) del(k string) {
	delete(st.keys, k)
	for i, x := range st.order {
		if x == k {
			st.order = append(st.order[:i], st.order[i+1:]...)
			break
		}
	}
}

func client(c *app.Conn, st *state, r *reply, w []string, argc int) {
	switch strings.ToLower(w[1]) {
	case "setname":
		if argc != 3 {
			r.err("ERR wrong number of arguments for 'client|setname' command")
			return
		}
		if strings.ContainsAny(w[2], " \n\r") {
			r.err("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		st.name = w[2]
		r.simple("OK")
	case "getname":
		if st.name == "" {
			r.null()
		} else {
			r.bulk(st.name)
		}
	case "id":
		r.integer(clientID(c))
	case "list", "info":
		r.bulk(clientLine(c, st) + "\n")
	case "kill":
		r.err("ERR No such client")
	case "setinfo", "no-evict", "no-touch", "reply", "tracking":
		r.simple("OK")
	case "help":
		r.bulks([]string{"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "ID", "    Return the ID of the current connection.", "LIST", "    Return information about client connections.", "HELP", "    Print this help."})
	default:
		r.unknownSub(w[1], "CLIENT")
	}
}

func clientLine(c *app.Conn, st *state) string {
	return "id=" + strconv.FormatInt(clientID(c), 10) + " addr=" + c.Client.String() + " laddr=" + c.Server.String() +
		" fd=8 name=" + st.name + " age=0 idle=0 flags=N db=" + strconv.Itoa(st.db) +
		" sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd=client|list user=default redir=-1 resp=2"
}

// clientID grows with the host's connections, as Redis's does.
func clientID(c *app.Conn) int64 {
	return 3 + (c.Now.Unix()-startTime(c))/7
}

func command(r *reply, w []string, argc int) {
	if argc == 1 {
		r.array(0)
		return
	}
	switch strings.ToLower(w[1]) {
	case "count":
		r.integer(240)
	case "docs", "info":
		r.array(0)
	case "list":
		names := make([]string, 0, len(arity))
		for n := range arity {
			names = append(names, n)
		}
		slices.Sort(names)
		r.bulks(names)
	case "getkeys":
		r.err("ERR Invalid arguments specified for command")
	case "help":
		r.bulks([]string{"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "(no subcommand)", "    Return details about all Redis commands.", "COUNT", "    Return the total number of commands in this Redis server.", "HELP", "    Print this help."})
	default:
		r.unknownSub(w[1], "COMMAND")
	}
}

func acl(r *reply, w []string, argc int) {
	switch strings.ToLower(w[1]) {
	case "whoami":
		r.bulk("default")
	case "users":
		r.bulks([]string{"default"})
	case "list":
		r.bulks([]string{"user default on nopass sanitize-payload ~* &* +@all"})
	case "cat":
		r.bulks([]string{"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting"})
	case "setuser", "deluser":
		r.simple("OK")
	default:
		_ = argc
		r.unknownSub(w[1], "ACL")
	}
}
