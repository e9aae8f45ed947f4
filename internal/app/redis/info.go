package redis

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

// version is the Redis version the host shows.
func version(c *app.Conn) string { return c.Banner("redis", DefaultVersion) }

// uname is the host's `uname -a` line: sysname, release, machine.
func uname(c *app.Conn) (sys, release, machine string) {
	h := shell.NewHost(c.Banner("hostname", ""), c.Banner("uname", ""), false, "")
	f := strings.Fields(h.Uname)
	sys, release = "Linux", "5.10.0-28-amd64"
	if len(f) >= 1 {
		sys = f[0]
	}
	if len(f) >= 3 {
		release = f[2]
	}
	return sys, release, h.Arch()
}

// startTime is when the host's server started: a fixed point per host,
// restarting every 40 days or so, so that uptime grows between
// connections.
func startTime(c *app.Conn) int64 {
	const period = 40 * 86400
	seed := int64(hostSeed(c) % period)
	now := c.Now.Unix()
	return now - (now+seed)%period - 3600
}

func runID(c *app.Conn) string {
	s := sha1.Sum([]byte("run/" + c.Host() + "/" + strconv.FormatInt(startTime(c), 10)))
	return hex.EncodeToString(s[:])
}

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// info is INFO's text for the sections asked (none: the default ones).
func info(c *app.Conn, st *state, ask []string) string {
	want := map[string]bool{}
	all := len(ask) == 0
	for _, a := range ask {
		a = strings.ToLower(a)
		switch a {
		case "default", "all", "everything":
			all = true
		}
		want[a] = true
	}
	seed := hostSeed(c)
	up := c.Now.Unix() - startTime(c)
	var b strings.Builder
	sec := func(name, title string, body func()) {
		if !all && !want[name] {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + title + "\r\n")
		body()
	}
	kv := func(k string, v any) {
		b.WriteString(k)
		b.WriteByte(':')
		switch x := v.(type) {
		case string:
			b.WriteString(x)
		case int:
			b.WriteString(strconv.Itoa(x))
		case int64:
			b.WriteString(strconv.FormatInt(x, 10))
		case uint64:
			b.WriteString(strconv.FormatUint(x, 10))
		}
		b.WriteString("\r\n")
	}
	sys, rel, mach := uname(c)
	bits := "64"
	if strings.HasPrefix(mach, "arm") && mach != "arm64" || strings.HasPrefix(mach, "mips") || strings.HasPrefix(mach, "i") && strings.HasSuffix(mach, "86") {
		bits = "32"
	}
	mem := 870000 + seed%400000 + uint64(len(st.keys))*120
	sec("server", "Server", func() {
		kv("redis_version", version(c))
		kv("redis_git_sha1", "00000000")
		kv("redis_git_dirty", "0")
		kv("redis_build_id", hex.EncodeToString([]byte(strconv.FormatUint(seed, 16)))[:16])
		kv("redis_mode", "standalone")
		kv("os", sys+" "+rel+" "+mach)
		kv("arch_bits", bits)
		kv("monotonic_clock", "POSIX clock_gettime")
		kv("multiplexing_api", "epoll")
		kv("atomicvar_api", "c11-builtin")
		kv("gcc_version", "12.2.0")
		kv("process_id", int(300+seed%30000))
		kv("process_supervised", "systemd")
		kv("run_id", runID(c))
		kv("tcp_port", int(c.Server.Port()))
		kv("server_time_usec", c.Now.UnixMicro())
		kv("uptime_in_seconds", up)
		kv("uptime_in_days", up/86400)
		kv("hz", 10)
		kv("configured_hz", 10)
		kv("lru_clock", c.Now.Unix()%(1<<24))
		kv("executable", "/usr/bin/redis-server")
		kv("config_file", "/etc/redis/redis.conf")
		kv("io_threads_active", 0)
	})
	sec("clients", "Clients", func() {
		kv("connected_clients", 1)
		kv("cluster_connections", 0)
		kv("maxclients", 10000)
		kv("client_recent_max_input_buffer", 20480)
		kv("client_recent_max_output_buffer", 0)
		kv("blocked_clients", 0)
		kv("tracking_clients", 0)
		kv("clients_in_timeout_table", 0)
	})
	sec("memory", "Memory", func() {
		kv("used_memory", mem)
		kv("used_memory_human", human(mem))
		kv("used_memory_rss", mem*4+3<<20)
		kv("used_memory_rss_human", human(mem*4+3<<20))
		kv("used_memory_peak", mem+2048)
		kv("used_memory_peak_human", human(mem+2048))
		kv("used_memory_lua", 31744)
		kv("used_memory_scripts", 0)
		kv("number_of_cached_scripts", 0)
		kv("maxmemory", 0)
		kv("maxmemory_human", "0B")
		kv("maxmemory_policy", "noeviction")
		kv("mem_fragmentation_ratio", "4.62")
		kv("mem_allocator", "jemalloc-5.3.0")
		kv("lazyfree_pending_objects", 0)
	})
	sec("persistence", "Persistence", func() {
		kv("loading", 0)
		kv("async_loading", 0)
		kv("current_cow_peak", 0)
		kv("rdb_changes_since_last_save", 0)
		kv("rdb_bgsave_in_progress", 0)
		kv("rdb_last_save_time", startTime(c))
		kv("rdb_last_bgsave_status", "ok")
		kv("rdb_last_bgsave_time_sec", -1)
		kv("aof_enabled", 0)
		kv("aof_rewrite_in_progress", 0)
		kv("aof_last_bgrewrite_status", "ok")
		kv("aof_last_write_status", "ok")
	})
	sec("stats", "Stats", func() {
		conns := 4 + up/7
		kv("total_connections_received", conns)
		kv("total_commands_processed", conns*3)
		kv("instantaneous_ops_per_sec", 0)
		kv("total_net_input_bytes", conns*97)
		kv("total_net_output_bytes", conns*2411)
		kv("rejected_connections", 0)
		kv("expired_keys", 0)
		kv("evicted_keys", 0)
		kv("keyspace_hits", 0)
		kv("keyspace_misses", 0)
		kv("pubsub_channels", 0)
		kv("latest_fork_usec", 0)
		kv("total_forks", 0)
		kv("total_error_replies", conns/3)
	})
	sec("replication", "Replication", func() {
		kv("role", "master")
		kv("connected_slaves", 0)
		kv("master_failover_state", "no-failover")
		kv("master_replid", sha1hex("replid/"+runID(c)))
		kv("master_replid2", "0000000000000000000000000000000000000000")
		kv("master_repl_offset", 0)
		kv("second_repl_offset", -1)
		kv("repl_backlog_active", 0)
		kv("repl_backlog_size", 1048576)
		kv("repl_backlog_first_byte_offset", 0)
		kv("repl_backlog_histlen", 0)
	})
	sec("cpu", "CPU", func() {
		kv("used_cpu_sys", strconv.FormatFloat(float64(up)/2400, 'f', 6, 64))
		kv("used_cpu_user", strconv.FormatFloat(float64(up)/3100, 'f', 6, 64))
		kv("used_cpu_sys_children", "0.000000")
		kv("used_cpu_user_children", "0.000000")
	})
	sec("modules", "Modules", func() {})
	sec("errorstats", "Errorstats", func() {})
	sec("cluster", "Cluster", func() { kv("cluster_enabled", 0) })
	sec("keyspace", "Keyspace", func() {
		if len(st.keys) > 0 {
			kv("db"+strconv.Itoa(st.db), "keys="+strconv.Itoa(len(st.keys))+",expires=0,avg_ttl=0")
		}
	})
	return b.String()
}

// configParams are the values CONFIG GET shows (Debian's redis.conf on a
// server opened to the network); "port" is the server port.
var configParams = [][2]string{
	{"dir", "/var/lib/redis"},
	{"dbfilename", "dump.rdb"},
	{"requirepass", ""},
	{"masterauth", ""},
	{"masteruser", ""},
	{"maxmemory", "0"},
	{"maxmemory-policy", "noeviction"},
	{"save", "3600 1 300 100 60 10000"},
	{"appendonly", "no"},
	{"appendfilename", "appendonly.aof"},
	{"appenddirname", "appendonlydir"},
	{"bind", "* -::*"},
	{"port", ""},
	{"protected-mode", "no"},
	{"databases", "16"},
	{"timeout", "0"},
	{"tcp-keepalive", "300"},
	{"daemonize", "no"},
	{"supervised", "systemd"},
	{"pidfile", "/run/redis/redis-server.pid"},
	{"logfile", "/var/log/redis/redis-server.log"},
	{"loglevel", "notice"},
	{"maxclients", "10000"},
	{"replica-read-only", "yes"},
	{"slave-read-only", "yes"},
	{"replicaof", ""},
	{"slaveof", ""},
	{"rdbcompression", "yes"},
	{"rdbchecksum", "yes"},
	{"stop-writes-on-bgsave-error", "yes"},
	{"enable-protected-configs", "yes"},
	{"enable-debug-command", "no"},
	{"enable-module-command", "yes"},
	{"io-threads", "1"},
	{"hz", "10"},
	{"lua-time-limit", "5000"},
	{"busy-reply-threshold", "5000"},
	{"slowlog-log-slower-than", "10000"},
	{"slowlog-max-len", "128"},
	{"notify-keyspace-events", ""},
	{"unixsocket", ""},
	{"tls-port", "0"},
	{"cluster-enabled", "no"},
}

// config serves CONFIG GET/SET/RESETSTAT/REWRITE/HELP. SET changes the
// connection's view only.
func config(c *app.Conn, st *state, r *reply, w []string, big []bool) []event.Field {
	sub := strings.ToLower(w[1])
	switch sub {
	case "get":
		if len(w) < 3 {
			r.err("ERR wrong number of arguments for 'config|get' command")
			return nil
		}
		var out []string
		for _, p := range configParams {
			for _, pat := range w[2:] {
				if globMatch(pat, p[0], true) {
					v := p[1]
					if p[0] == "port" {
						v = strconv.Itoa(int(c.Server.Port()))
					}
					if o, ok := st.cfg[p[0]]; ok {
						v = o
					}
					out = append(out, p[0], v)
					break
				}
			}
		}
		r.bulks(out)
	case "set":
		if len(w) < 4 || len(w)%2 != 0 {
			r.err("ERR wrong number of arguments for 'config|set' command")
			return nil
		}
		var set []string
		for i := 2; i+1 < len(w); i += 2 {
			name := strings.ToLower(w[i])
			known := false
			for _, p := range configParams {
				if p[0] == name {
					known = true
				}
			}
			if !known {
				r.err(blankCRLF("ERR Unknown option or number of arguments for CONFIG SET - '" + trunc(w[i], 128) + "'"))
				return []event.Field{{Key: "config_set", Value: []string{app.Printable([]byte(w[i] + "=" + w[i+1]))}}}
			}
			set = append(set, app.Printable([]byte(name+"="+w[i+1])))
		}
		for i := 2; i+1 < len(w); i += 2 {
			if st.cfg == nil {
				st.cfg = map[string]string{}
			}
			if !big[i+1] {
				st.cfg[strings.ToLower(w[i])] = w[i+1]
			}
		}
		r.simple("OK")
		return []event.Field{{Key: "config_set", Value: set}}
	case "resetstat", "rewrite":
		r.simple("OK")
	case "help":
		r.bulks([]string{"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.", "SET <directive> <value>", "    Set the configuration <directive> to <value>.", "RESETSTAT", "    Reset statistics reported by the INFO command.", "REWRITE", "    Rewrite the configuration file.", "HELP", "    Print this help."})
	default:
		r.unknownSub(w[1], "CONFIG")
	}
	return nil
}

// human is Redis's bytesToHuman: B, K or M with two decimals.
func human(n uint64) string {
	switch {
	case n < 1024:
		return strconv.FormatUint(n, 10) + "B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/1024, 'f', 2, 64) + "K"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) + "M"
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// globMatch is Redis's stringmatch (*, ?, [set], [^set], [a-z], \x),
// iterative so that no pattern costs more than len(pat)*len(s) steps.
func globMatch(pat, s string, nocase bool) bool {
	if nocase {
		pat, s = strings.ToLower(pat), strings.ToLower(s)
	}
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pat) {
			switch pat[p] {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, n := matchClass(pat[p:], s[i]); n > 0 {
					if ok {
						p += n
						i++
						continue
					}
				} else if s[i] == '[' {
					p++
					i++
					continue
				}
			case '\\':
				if p+1 < len(pat) {
					if pat[p+1] == s[i] {
						p += 2
						i++
						continue
					}
				} else if s[i] == '\\' {
					p++
					i++
					continue
				}
			default:
				if pat[p] == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// matchClass matches b against the [...] class at the start of pat; n is
// the length of the class (0: not a closed class).
func matchClass(pat string, b byte) (ok bool, n int) {
	i := 1
	not := false
	if i < len(pat) && pat[i] == '^' {
		not = true
		i++
	}
	match := false
	for ; i < len(pat); i++ {
		switch {
		case pat[i] == '\\' && i+1 < len(pat):
			i++
			if pat[i] == b {
				match = true
			}
		case pat[i] == ']':
			return match != not, i + 1
		case i+2 < len(pat) && pat[i+1] == '-' && pat[i+2] != ']':
			lo, hi := pat[i], pat[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if b >= lo && b <= hi {
				match = true
			}
			i += 2
		default:
			if pat[i] == b {
				match = true
			}
		}
	}
	return false, 0
}
