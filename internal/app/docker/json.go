package docker

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
)

// component is one entry of /version's Components.
type component struct {
	Name    string
	Version string
	Details map[string]string
}

// versionJSON is GET /version's body (Docker Engine - Community).
func versionJSON(c *app.Conn) string {
	h := hostOf(c)
	v, api := version(c), apiVersion(c)
	const build = "2023-10-26T09:07:41.000000000+00:00"
	const commit, goVersion = "311b9ff", "go1.20.10"
	body := struct {
		Platform      struct{ Name string }
		Components    []component
		Version       string
		ApiVersion    string
		MinAPIVersion string
		GitCommit     string
		GoVersion     string
		Os            string
		Arch          string
		KernelVersion string
		BuildTime     string
	}{
		Components: []component{
			{"Engine", v, map[string]string{"ApiVersion": api, "Arch": h.goArch, "BuildTime": build, "Experimental": "false",
				"GitCommit": commit, "GoVersion": goVersion, "KernelVersion": h.kernel, "MinAPIVersion": minAPI, "Os": "linux"}},
			{"containerd", "1.6.24", map[string]string{"GitCommit": "61f9fd88f79f081d64d6fa3bb1a0dc71ec870523"}},
			{"runc", "1.1.9", map[string]string{"GitCommit": "v1.1.9-0-gccaecfc"}},
			{"docker-init", "0.19.0", map[string]string{"GitCommit": "de40ad0"}},
		},
		Version: v, ApiVersion: api, MinAPIVersion: minAPI, GitCommit: commit, GoVersion: goVersion,
		Os: "linux", Arch: h.goArch, KernelVersion: h.kernel, BuildTime: build,
	}
	body.Platform.Name = "Docker Engine - Community"
	b, _ := json.Marshal(body)
	return string(b) + "\n"
}

// infoJSON is GET /info's body: an idle host with no container or image.
func infoJSON(c *app.Conn) string {
	h := hostOf(c)
	s := seed(c, "id")
	id := make([]byte, 16)
	for i := range id {
		id[i] = byte(s >> (8 * (i % 8)) * uint64(i+1))
	}
	uuid := hex.EncodeToString(id)
	ncpu := 2 + int(s%3)*2
	mem := int64(4+s%4*4) << 30
	mem -= 180 << 20
	type kv = map[string]any
	body := kv{
		"ID":                 uuid[:8] + "-" + uuid[8:12] + "-" + uuid[12:16] + "-" + uuid[16:20] + "-" + uuid[20:],
		"Containers":         0,
		"ContainersRunning":  0,
		"ContainersPaused":   0,
		"ContainersStopped":  0,
		"Images":             0,
		"Driver":             "overlay2",
		"DriverStatus":       [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}, {"Using metacopy", "false"}, {"Native Overlay Diff", "true"}, {"userxattr", "false"}},
		"Plugins":            kv{"Volume": []string{"local"}, "Network": []string{"bridge", "host", "ipvlan", "macvlan", "null", "overlay"}, "Authorization": nil, "Log": []string{"awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "logentries", "splunk", "syslog"}},
		"MemoryLimit":        true,
		"SwapLimit":          false,
		"CpuCfsPeriod":       true,
		"CpuCfsQuota":        true,
		"CPUShares":          true,
		"CPUSet":             true,
		"PidsLimit":          true,
		"IPv4Forwarding":     true,
		"BridgeNfIptables":   true,
		"BridgeNfIp6tables":  true,
		"Debug":              false,
		"NFd":                24,
		"OomKillDisable":     false,
		"NGoroutines":        34,
		"SystemTime":         c.Now.UTC().Format(time.RFC3339Nano),
		"LoggingDriver":      "json-file",
		"CgroupDriver":       "systemd",
		"CgroupVersion":      "2",
		"NEventsListener":    0,
		"KernelVersion":      h.kernel,
		"OperatingSystem":    "Debian GNU/Linux 12 (bookworm)",
		"OSVersion":          "12",
		"OSType":             "linux",
		"Architecture":       h.arch,
		"IndexServerAddress": "https://index.docker.io/v1/",
		"RegistryConfig":     kv{"AllowNondistributableArtifactsCIDRs": nil, "AllowNondistributableArtifactsHostnames": nil, "InsecureRegistryCIDRs": []string{"127.0.0.0/8"}, "IndexConfigs": kv{"docker.io": kv{"Name": "docker.io", "Mirrors": []string{}, "Secure": true, "Official": true}}, "Mirrors": nil},
		"NCPU":               ncpu,
		"MemTotal":           mem,
		"GenericResources":   nil,
		"DockerRootDir":      "/var/lib/docker",
		"HttpProxy":          "",
		"HttpsProxy":         "",
		"NoProxy":            "",
		"Name":               h.name,
		"Labels":             []string{},
		"ExperimentalBuild":  false,
		"ServerVersion":      version(c),
		"Runtimes":           kv{"io.containerd.runc.v2": kv{"path": "runc"}, "runc": kv{"path": "runc"}},
		"DefaultRuntime":     "runc",
		"Swarm":              kv{"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": nil},
		"LiveRestoreEnabled": false,
		"Isolation":          "",
		"InitBinary":         "docker-init",
		"ContainerdCommit":   kv{"ID": "61f9fd88f79f081d64d6fa3bb1a0dc71ec870523", "Expected": "61f9fd88f79f081d64d6fa3bb1a0dc71ec870523"},
		"RuncCommit":         kv{"ID": "v1.1.9-0-gccaecfc", "Expected": "v1.1.9-0-gccaecfc"},
		"InitCommit":         kv{"ID": "de40ad0", "Expected": "de40ad0"},
		"SecurityOptions":    []string{"name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"},
		"Warnings":           []string{"WARNING: API is accessible on http://0.0.0.0:" + strconv.Itoa(int(c.Server.Port())) + " without encryption.\n         Access to the remote API is equivalent to root access on the host. Refer\n         to the 'Docker daemon attack surface' section in the documentation for\n         more information: https://docs.docker.com/go/attack-surface/", "WARNING: No swap limit support"},
	}
	b, _ := json.Marshal(body)
	return string(b) + "\n"
}
