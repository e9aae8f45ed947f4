package vnc

import (
	"bytes"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

func conn() *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:5900", time.Unix(0, 0))
	c.Rand = func(p []byte) {
		for i := range p {
			p[i] = byte(i + 1)
		}
	}
	return c
}

var challenge = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func TestSession(t *testing.T) {
	resp := bytes.Repeat([]byte{0xab}, 16)
	fail38 := append([]byte{0, 0, 0, 1, 0, 0, 0, 21}, "Authentication failed"...)
	cases := []struct {
		name    string
		steps   [][]byte
		replies [][]byte
		closeAt int
		fields  map[string]any
	}{
		{"3.8", [][]byte{[]byte("RFB 003.008\n"), {2}, resp}, [][]byte{{1, 2}, challenge, fail38}, 2,
			map[string]any{"client_version": "RFB 003.008", "security_type": 2, "response": "abababababababababababababababab"}},
		{"3.7", [][]byte{[]byte("RFB 003.007\n"), {2}, resp}, [][]byte{{1, 2}, challenge, {0, 0, 0, 1}}, 2, nil},
		{"3.3", [][]byte{[]byte("RFB 003.003\n"), resp}, [][]byte{append([]byte{0, 0, 0, 2}, challenge...), {0, 0, 0, 1}}, 1, nil},
		{"none", [][]byte{[]byte("RFB 003.008\n"), {1}}, [][]byte{{1, 2}, fail38}, 1, map[string]any{"security_type": 1}},
		{"http", [][]byte{[]byte("GET / HTTP/1.0\r\n")}, [][]byte{nil}, 0, nil},
		{"rfb4", [][]byte{[]byte("RFB 004.001\n")}, [][]byte{nil}, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := New()
			c := conn()
			if g := h.Greet(c); string(g.Reply) != greeting {
				t.Fatalf("greet %q", g.Reply)
			}
			got := map[string]any{}
			for i, in := range tc.steps {
				r := h.Serve(c, in)
				if r.NeedMore || !bytes.Equal(r.Reply, tc.replies[i]) || r.Close != (i == tc.closeAt) {
					t.Fatalf("step %d: %+v", i, r)
				}
				for _, f := range r.Fields {
					got[f.Key] = f.Value
				}
			}
			for k, v := range tc.fields {
				if got[k] != v {
					t.Errorf("%s = %v want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestPartial(t *testing.T) {
	h := New()
	c := conn()
	h.Greet(c)
	for _, p := range []string{"", "R", "RFB 003.00"} {
		if r := h.Serve(c, []byte(p)); !r.NeedMore {
			t.Errorf("%q: %+v", p, r)
		}
	}
	h.Serve(c, []byte("RFB 003.008\n"))
	h.Serve(c, []byte{2})
	if r := h.Serve(c, make([]byte, 15)); !r.NeedMore {
		t.Errorf("15 bytes: %+v", r)
	}
}

func TestNmap(t *testing.T) {
	apptest.NmapNames(t, "NULL", New().Greet(conn()).Reply, "VNC")
}

func FuzzServe(f *testing.F) {
	f.Add([]byte("RFB 003.008\n\x02aaaaaaaaaaaaaaaa"))
	f.Fuzz(func(t *testing.T, data []byte) {
		apptest.Drive(t, New(), conn(), data, apptest.Limits{})
		apptest.DriveGreeter(t, New(), conn(), data)
	})
}
