package mysql

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

func conn() *app.Conn {
	return apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:3306", time.Unix(0, 0))
}

func TestGreet(t *testing.T) {
	g := New().Greet(conn()).Reply
	n := int(g[0]) | int(g[1])<<8 | int(g[2])<<16
	if n+4 != len(g) || g[3] != 0 || g[4] != 10 || !bytes.HasPrefix(g[5:], []byte("8.0.36\x00")) {
		t.Fatalf("greeting %q", g)
	}
	if !bytes.HasSuffix(g, []byte("caching_sha2_password\x00")) {
		t.Fatalf("plugin: %q", g)
	}
	c := conn()
	c.Banners = map[string]string{"mysql": "5.7.44-log"}
	if g := New().Greet(c).Reply; !bytes.HasPrefix(g[5:], []byte("5.7.44-log\x00")) {
		t.Fatalf("banner %q", g)
	}
}

// response builds a HandshakeResponse41 as the mysql client sends it.
func response(user string, auth []byte, db string, attrs bool) []byte {
	caps := uint32(capProtocol41 | capSecureConn | capPluginAuth | capLenencAuth)
	if db != "" {
		caps |= capConnectWithDB
	}
	if attrs {
		caps |= capConnectAttrs
	}
	p := binary.LittleEndian.AppendUint32(nil, caps)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 0xff)
	p = append(p, make([]byte, 23)...)
	p = append(append(p, user...), 0)
	p = append(append(p, byte(len(auth))), auth...)
	if db != "" {
		p = append(append(p, db...), 0)
	}
	p = append(append(p, "caching_sha2_password"...), 0)
	if attrs {
		kv := []byte{3}
		kv = append(kv, "_os\x05Linux"...)
		p = append(append(p, byte(len(kv))), kv...)
	}
	return packet(1, p)
}

func TestLogin(t *testing.T) {
	h := New()
	c := conn()
	h.Greet(c)
	auth := bytes.Repeat([]byte{0x5a}, 32)
	in := response("root", auth, "mysql", true)
	for i := 0; i < len(in); i++ {
		if r := h.Serve(c, in[:i]); !r.NeedMore {
			t.Fatalf("prefix %d: %+v", i, r)
		}
	}
	r := h.Serve(c, in)
	want := errPacket(2, 1045, "28000", "Access denied for user 'root'@'192.0.2.1' (using password: YES)")
	if !bytes.Equal(r.Reply, want) || !r.Close || r.Consumed != len(in) {
		t.Fatalf("reply %q close %v", r.Reply, r.Close)
	}
	got := map[string]any{}
	for _, f := range r.Fields {
		got[f.Key] = f.Value
	}
	if got["user"] != "root" || got["database"] != "mysql" || got["auth_plugin"] != "caching_sha2_password" ||
		got["auth_response"] != "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a" {
		t.Fatalf("fields %v", got)
	}
	if a, _ := got["attributes"].([]string); len(a) != 1 || a[0] != "_os=Linux" {
		t.Fatalf("attributes %v", got["attributes"])
	}
	r = New().Serve(conn(), response("guest", nil, "", false))
	if !bytes.Contains(r.Reply, []byte("(using password: NO)")) {
		t.Fatalf("no password: %q", r.Reply)
	}
}

func TestGarbage(t *testing.T) {
	for _, in := range []string{"GET / HTTP/1.0\r\n\r\n", "\x05\x00\x00\x01abcde", "\x00\x00\x00\x00"} {
		r := New().Serve(conn(), []byte(in))
		if !r.Close || !bytes.Contains(r.Reply, []byte("#08S01Bad handshake")) {
			t.Errorf("%q: %+v", in, r)
		}
	}
}

func TestNmap(t *testing.T) {
	apptest.NmapNames(t, "NULL", New().Greet(conn()).Reply, "MySQL")
}

func FuzzServe(f *testing.F) {
	f.Add(response("root", []byte("x"), "db", true))
	f.Fuzz(func(t *testing.T, data []byte) {
		apptest.Drive(t, New(), conn(), data, apptest.Limits{})
		apptest.DriveGreeter(t, New(), conn(), data)
	})
}
