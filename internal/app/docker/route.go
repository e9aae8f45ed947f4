package docker

import (
	"encoding/json"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

// answer is a route's result: the HTTP status, headers a handler sets,
// a body (or chunks of a streamed one) and the recorded fields.
type answer struct {
	app.Result
	status  int
	plain   bool              // not through Docker's middleware (page not found)
	headers map[string]string // set by the route
	body    string
	chunks  []string
}

const (
	minAPI = "1.12"
)

// apiVersions maps an Engine release to its API version.
var apiVersions = map[string]string{
	"20.10": "1.41", "23.0": "1.42", "24.0": "1.43", "25.0": "1.44", "26.0": "1.45", "26.1": "1.45",
	"27.0": "1.46", "27.1": "1.46", "27.2": "1.47", "27.3": "1.47", "27.4": "1.47", "27.5": "1.47",
	"28.0": "1.48", "28.1": "1.49",
}

func version(c *app.Conn) string { return c.Banner("docker", DefaultVersion) }

func apiVersion(c *app.Conn) string {
	v := version(c)
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		if a, ok := apiVersions[parts[0]+"."+parts[1]]; ok {
			return a
		}
	}
	return "1.43"
}

// host is what /version and /info show of the machine.
type host struct {
	name, kernel, arch, goArch string
}

func hostOf(c *app.Conn) host {
	h := shell.NewHost(c.Banner("hostname", ""), c.Banner("uname", ""), false, "")
	f := strings.Fields(h.Uname)
	kernel := "5.10.0-28-amd64"
	if len(f) >= 3 {
		kernel = f[2]
	}
	arch := h.Arch()
	goArch := map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386", "mips": "mips", "mipsel": "mipsle"}[arch]
	if goArch == "" {
		goArch = arch
	}
	return host{name: h.Hostname, kernel: kernel, arch: arch, goArch: goArch}
}

func seed(c *app.Conn, what string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("docker/" + what + "/" + c.Host()))
	return h.Sum64()
}

func jsonMsg(msg string) string {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return string(b) + "\n"
}

// route answers the request and records it.
func route(c *app.Conn, r *request) answer {
	a := answer{status: 200}
	a.Fields = []event.Field{
		{Key: "method", Value: app.Printable([]byte(r.method))},
		{Key: "path", Value: app.Printable([]byte(r.path))},
	}
	if r.query != "" {
		a.Fields = append(a.Fields, event.Field{Key: "query", Value: app.Printable([]byte(r.query))})
	}
	if r.host != "" {
		a.Fields = append(a.Fields, event.Field{Key: "host", Value: app.Printable([]byte(r.host))})
	}
	if r.uaSet {
		a.Fields = append(a.Fields, event.Field{Key: "user_agent", Value: app.Printable([]byte(r.ua))})
	}
	if len(r.body) > 0 {
		b := r.body
		if len(b) > maxRec {
			b = b[:maxRec]
		}
		a.Fields = append(a.Fields, event.Field{Key: "body", Value: app.Printable(b)})
	}
	q, _ := url.ParseQuery(r.query)
	path := r.path
	// /v1.NN prefix: a version newer than ours or older than the minimum
	// is refused
	if versioned([]byte(path)) {
		i := strings.IndexByte(path[1:], '/') + 1
		v := path[2:i]
		path = path[i:]
		if cmpVersion(v, apiVersion(c)) > 0 {
			return a.fail(400, "client version "+v+" is too new. Maximum supported API version is "+apiVersion(c))
		}
		if cmpVersion(v, minAPI) < 0 {
			return a.fail(400, "client version "+v+" is too old. Minimum supported API version is "+minAPI+", please upgrade your client to a newer version")
		}
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	m := r.method
	if m == "OPTIONS" {
		return a // CORS preflight: 200, empty
	}
	get := m == "GET" || m == "HEAD"
	switch {
	case path == "/_ping" && get:
		a.headers = map[string]string{"Builder-Version": "2", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
		a.body = "OK"
		if m == "HEAD" {
			a.headers["Content-Type"] = "text/plain; charset=utf-8"
			a.headers["Content-Length"] = "0"
		}
	case path == "/version" && get:
		a.json(versionJSON(c))
	case path == "/info" && get:
		a.json(infoJSON(c))
	case path == "/containers/json" && get, path == "/images/json" && get:
		a.json("[]\n")
	case path == "/images/search" && get:
		a.json("[]\n")
	case path == "/volumes" && get:
		a.json(`{"Volumes":[],"Warnings":null}` + "\n")
	case path == "/networks" && get:
		a.json("[]\n")
	case (path == "/swarm" || path == "/nodes" || path == "/services" || path == "/tasks") && get:
		return a.fail(503, `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	case path == "/containers/create" && m == "POST":
		image, fields, err := containerFields(r.body)
		a.Fields = append(a.Fields, fields...)
		switch {
		case err != nil:
			return a.fail(400, err.Error())
		case image == "":
			return a.fail(400, "no command specified")
		}
		if n := q.Get("name"); n != "" {
			a.Fields = append(a.Fields, event.Field{Key: "name", Value: app.Printable([]byte(n))})
		}
		return a.fail(404, "No such image: "+normalize(image))
	case path == "/images/create" && m == "POST":
		image := q.Get("fromImage")
		if t := q.Get("tag"); t != "" && image != "" {
			if strings.HasPrefix(t, "sha256:") {
				image += "@" + t
			} else {
				image += ":" + t
			}
		}
		if image == "" {
			return a.fail(400, "fromSrc and fromImage are mutually exclusive") // a source import: refused
		}
		a.Fields = append(a.Fields, event.Field{Key: "image", Value: app.Printable([]byte(normalize(image)))})
		a.pull(image)
	case len(seg) >= 2 && seg[0] == "containers" && seg[1] != "":
		id := seg[1]
		if len(seg) == 3 && seg[2] == "exec" && m == "POST" {
			_, fields, _ := containerFields(r.body)
			a.Fields = append(a.Fields, fields...)
		}
		a.Fields = append(a.Fields, event.Field{Key: "container", Value: app.Printable([]byte(id))})
		return a.fail(404, "No such container: "+id)
	case len(seg) >= 2 && seg[0] == "exec" && seg[1] != "":
		return a.fail(404, "No such exec instance: "+seg[1])
	case len(seg) >= 3 && seg[0] == "images" && get:
		name := strings.Join(seg[1:len(seg)-1], "/")
		return a.fail(404, "No such image: "+name)
	default:
		a.status, a.plain = 404, true
		a.headers = map[string]string{"Content-Type": "application/json"}
		a.body = jsonMsg("page not found")
	}
	return a
}

func (a *answer) json(body string) {
	a.headers = map[string]string{"Content-Type": "application/json"}
	a.body = body
}

func (a answer) fail(status int, msg string) answer {
	a.status = status
	a.json(jsonMsg(msg))
	a.Fields = append(a.Fields, event.Field{Key: "error", Value: app.Printable([]byte(msg))})
	return a
}

// pull streams the start of a pull that Docker Hub refuses.
func (a *answer) pull(image string) {
	a.headers = map[string]string{"Content-Type": "application/json"}
	repo, tag := splitImage(image)
	const limit = "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
	status := func(s, id string) string {
		b, _ := json.Marshal(struct {
			Status string `json:"status"`
			ID     string `json:"id,omitempty"`
		}{s, id})
		return string(b) + "\r\n"
	}
	errLine, _ := json.Marshal(struct {
		Detail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
		Error string `json:"error"`
	}{struct {
		Message string `json:"message"`
	}{limit}, limit})
	a.chunks = []string{status("Pulling from "+repo, tag), string(errLine) + "\r\n"}
}

// splitImage gives the repository Docker shows ("library/alpine") and the
// tag or digest ("latest").
func splitImage(image string) (repo, tag string) {
	repo, tag = image, "latest"
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo, tag = repo[:i], repo[i+1:]
	} else if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
	}
	if first, rest, ok := strings.Cut(repo, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		repo = rest // a registry host
	} else if !ok {
		repo = "library/" + repo
	}
	return repo, tag
}

// normalize is the image reference as Docker names it in errors: a
// missing tag is :latest.
func normalize(image string) string {
	if strings.Contains(image, "@") {
		return image
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image
	}
	return image + ":latest"
}

// containerFields records what a container (or exec) body asks for: image,
// command (entrypoint and cmd joined, with its URLs and hosts), binds,
// privileged, env.
func containerFields(body []byte) (image string, f []event.Field, err error) {
	var cfg struct {
		Image      string
		Cmd        json.RawMessage
		Entrypoint json.RawMessage
		Env        []string
		User       string
		HostConfig struct {
			Privileged  bool
			Binds       []string
			NetworkMode string
			PidMode     string
			CapAdd      []string
		}
	}
	if len(body) == 0 {
		return "", nil, nil
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return "", nil, err
	}
	if cfg.Image != "" {
		f = append(f, event.Field{Key: "image", Value: app.Printable([]byte(cfg.Image))})
	}
	words := append(strSlice(cfg.Entrypoint), strSlice(cfg.Cmd)...)
	if len(words) > 0 {
		f = append(f, shell.Fields(strings.Join(words, " "))...)
	}
	if b := cfg.HostConfig.Binds; len(b) > 0 {
		f = append(f, event.Field{Key: "binds", Value: printables(b)})
	}
	if cfg.HostConfig.Privileged {
		f = append(f, event.Field{Key: "privileged", Value: true})
	}
	if cfg.HostConfig.PidMode != "" {
		f = append(f, event.Field{Key: "pid_mode", Value: app.Printable([]byte(cfg.HostConfig.PidMode))})
	}
	if cfg.HostConfig.NetworkMode != "" {
		f = append(f, event.Field{Key: "network_mode", Value: app.Printable([]byte(cfg.HostConfig.NetworkMode))})
	}
	if len(cfg.HostConfig.CapAdd) > 0 {
		f = append(f, event.Field{Key: "cap_add", Value: printables(cfg.HostConfig.CapAdd)})
	}
	if len(cfg.Env) > 0 {
		f = append(f, event.Field{Key: "env", Value: printables(cfg.Env)})
	}
	return cfg.Image, f, nil
}

func printables(l []string) []string {
	if len(l) > 16 {
		l = l[:16]
	}
	out := make([]string, len(l))
	for i, s := range l {
		if len(s) > 256 {
			s = s[:256]
		}
		out[i] = app.Printable([]byte(s))
	}
	return out
}

// strSlice decodes Docker's StrSlice: a string or a list of strings.
func strSlice(m json.RawMessage) []string {
	var l []string
	if json.Unmarshal(m, &l) == nil {
		return l
	}
	var s string
	if json.Unmarshal(m, &s) == nil && s != "" {
		return []string{s}
	}
	return nil
}

// cmpVersion compares dotted versions numerically.
func cmpVersion(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

var reasons = map[int]string{200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}

// respond writes the response as Go's net/http does for Docker: the
// handler's headers sorted, then Date, Content-Length (or
// Transfer-Encoding: chunked), the sniffed Content-Type, Connection.
func respond(c *app.Conn, r *request, status int, headers map[string]string, body string, chunks []string, closeConn bool, plain bool) []byte {
	h := map[string]string{}
	if !plain {
		h["Api-Version"] = apiVersion(c)
		h["Docker-Experimental"] = "false"
		h["Ostype"] = "linux"
		h["Server"] = "Docker/" + version(c) + " (linux)"
	}
	for k, v := range headers {
		h[k] = v
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 512+len(body))
	b = append(b, "HTTP/1."...)
	b = strconv.AppendInt(b, int64(r.minor), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " "+reasons[status]+"\r\n"...)
	for _, k := range keys {
		b = append(b, k+": "+h[k]+"\r\n"...)
	}
	b = append(b, "Date: "...)
	b = c.Now.UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\n"...)
	streamed := len(chunks) > 0
	if !streamed && h["Content-Length"] == "" {
		b = append(b, "Content-Length: "+strconv.Itoa(len(body))+"\r\n"...)
	}
	if h["Content-Type"] == "" && body != "" {
		b = append(b, "Content-Type: text/plain; charset=utf-8\r\n"...)
	}
	if closeConn && r.minor >= 1 {
		b = append(b, "Connection: close\r\n"...)
	}
	if streamed && r.minor >= 1 {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "\r\n"...)
	if r.method == "HEAD" {
		return b
	}
	if !streamed {
		return append(b, body...)
	}
	for _, ch := range chunks {
		if r.minor == 0 {
			b = append(b, ch...)
			continue
		}
		b = strconv.AppendInt(b, int64(len(ch)), 16)
		b = append(b, "\r\n"+ch+"\r\n"...)
	}
	if r.minor >= 1 {
		b = append(b, "0\r\n\r\n"...)
	}
	return b
}
