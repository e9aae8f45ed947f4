package shell

import (
	"strconv"
	"strings"
)

// applets are the BusyBox applets a typical router or camera build has;
// `/bin/busybox NAME` for any other name says "applet not found", which is
// what Mirai-style bots check for with a random name.
var applets = map[string]bool{
	"ash": true, "cat": true, "cd": true, "chmod": true, "cp": true, "dd": true, "echo": true,
	"ftpget": true, "free": true, "grep": true, "hostname": true, "id": true, "kill": true,
	"ls": true, "mkdir": true, "mount": true, "mv": true, "ps": true, "rm": true, "sh": true,
	"sleep": true, "tftp": true, "uname": true, "wget": true, "whoami": true, "nc": true,
	"pwd": true, "head": true, "tail": true, "true": true, "false": true, "uptime": true,
}

// exec answers one command (words already split off the line).
func (s *Session) exec(cmd string, b *strings.Builder) {
	argv := fieldsOf(cmd)
	// drop redirections: "> file", ">file", "2>/dev/null"
	words := argv[:0:0]
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == ">" || a == ">>" || a == "<" || a == "2>" || a == "2>&1" {
			i++
			continue
		}
		if strings.HasPrefix(a, ">") || strings.HasPrefix(a, "2>") || strings.HasPrefix(a, "<") {
			continue
		}
		words = append(words, a)
	}
	if len(words) == 0 {
		return
	}
	if s.host.Android != nil && s.android(words, b) {
		return
	}
	name := words[0]
	if base(name) == "busybox" {
		if len(words) == 1 {
			b.WriteString(s.busyboxBanner())
			return
		}
		if !applets[words[1]] {
			b.WriteString(words[1] + ": applet not found\n")
			return
		}
		words = words[1:]
		name = words[0]
	}
	args := words[1:]
	switch base(name) {
	case "exit", "logout":
		s.done = true
	case "sh", "ash", "bash", "true", ":", "enable", "system", "shell", "linuxshell":
		if base(name) == "enable" || base(name) == "system" || base(name) == "shell" || base(name) == "linuxshell" {
			b.WriteString(s.notFound(base(name)))
		}
	case "false", "chmod", "rm", "mkdir", "cp", "mv", "kill", "sleep", "export", "unset", "history",
		"touch", "dd", "mount", "ulimit", "nohup", "killall", "pkill", "iptables", "crontab":
		// silent, as on success
	case "cd":
		s.cd(args, b)
	case "pwd":
		b.WriteString(s.cwd + "\n")
	case "id":
		b.WriteString(s.id() + "\n")
	case "whoami":
		b.WriteString(s.host.User + "\n")
	case "hostname":
		b.WriteString(s.host.Hostname + "\n")
	case "uname":
		b.WriteString(s.uname(args) + "\n")
	case "echo":
		b.WriteString(echo(args))
	case "cat":
		s.cat(args, b)
	case "ls":
		s.ls(args, b)
	case "uptime":
		b.WriteString(" 10:21:42 up 41 days,  3:07,  1 user,  load average: 0.08, 0.03, 0.01\n")
	case "free":
		b.WriteString("              total        used        free      shared  buff/cache   available\nMem:         " +
			"  1012616      214340      402184        1060      396092      639956\nSwap:             0           0           0\n")
	case "ps":
		b.WriteString("  PID TTY          TIME CMD\n    1 ?        00:00:03 init\n  412 pts/0    00:00:00 sh\n")
	case "wget":
		s.fetch("wget", args, b)
	case "curl":
		s.fetch("curl", args, b)
	case "tftp":
		if u := tftpURL(args); u != "" {
			b.WriteString("tftp: timeout\n")
		} else {
			b.WriteString("BusyBox v1.31.1 multi-call binary.\n\nUsage: tftp [OPTIONS] HOST [PORT]\n")
		}
	case "ftpget":
		b.WriteString("ftpget: can't connect to remote host: Connection timed out\n")
	case "nc", "ncat", "netcat":
		b.WriteString(base(name) + ": timed out\n")
	default:
		b.WriteString(s.notFound(base(name)))
	}
}

func (s *Session) busyboxBanner() string {
	return "BusyBox v1.31.1 (2021-03-04 10:21:42 CST) multi-call binary.\nBusyBox is copyrighted by many authors between 1998-2015.\n"
}

func (s *Session) notFound(name string) string {
	if s.host.BusyBox {
		return "-sh: " + name + ": not found\n"
	}
	return "-bash: " + name + ": command not found\n"
}

func (s *Session) id() string {
	if s.host.User == "root" {
		return "uid=0(root) gid=0(root) groups=0(root)"
	}
	return "uid=1000(" + s.host.User + ") gid=1000(" + s.host.User + ") groups=1000(" + s.host.User + ")"
}

func (s *Session) cd(args []string, b *strings.Builder) {
	if len(args) == 0 {
		s.cwd = "/root"
		if s.host.User != "root" {
			s.cwd = "/home/" + s.host.User
		}
		return
	}
	d := args[0]
	if !strings.HasPrefix(d, "/") {
		d = s.cwd + "/" + d
	}
	d = clean(d)
	switch d {
	case "/", "/tmp", "/var", "/var/tmp", "/var/run", "/dev", "/dev/shm", "/mnt", "/root", "/etc", "/proc", "/bin", "/usr", "/home", "/data":
		s.cwd = d
	default:
		if s.host.BusyBox {
			b.WriteString("-sh: cd: can't cd to " + args[0] + ": No such file or directory\n")
		} else {
			b.WriteString("-bash: cd: " + args[0] + ": No such file or directory\n")
		}
	}
}

// clean resolves . and .. in an absolute path.
func clean(p string) string {
	var parts []string
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, e)
		}
	}
	return "/" + strings.Join(parts, "/")
}

func (s *Session) uname(args []string) string {
	f := strings.Fields(s.host.Uname)
	if len(args) == 0 {
		return "Linux"
	}
	switch args[0] {
	case "-a", "--all":
		return s.host.Uname
	case "-m", "-p", "-i":
		return s.host.Arch()
	case "-n":
		return s.host.Hostname
	case "-r":
		if len(f) > 2 {
			return f[2]
		}
	case "-s", "-o":
		if args[0] == "-o" {
			return "GNU/Linux"
		}
	}
	return "Linux"
}

// echo is sh's echo with -n and -e (backslash escapes: \n \t \\ \xHH \0NNN).
func echo(args []string) string {
	nl, esc := true, false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
		if strings.ContainsRune(args[0], 'n') {
			nl = false
		}
		if strings.ContainsRune(args[0], 'e') {
			esc = true
		}
		args = args[1:]
	}
	s := strings.Join(args, " ")
	if esc {
		s = unescape(s)
	}
	if nl {
		s += "\n"
	}
	return s
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case 'a':
			b.WriteByte(7)
		case 'x':
			j := i + 1
			for j < len(s) && j < i+3 && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteString(`\x`)
				continue
			}
			v, _ := strconv.ParseUint(s[i+1:j], 16, 8)
			b.WriteByte(byte(v))
			i = j - 1
		case '0':
			j := i + 1
			for j < len(s) && j < i+4 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint("0"+s[i+1:j], 8, 16)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *Session) cat(args []string, b *strings.Builder) {
	for _, f := range args {
		if strings.HasPrefix(f, "-") {
			continue
		}
		p := f
		if !strings.HasPrefix(p, "/") {
			p = clean(s.cwd + "/" + p)
		}
		switch p {
		case "/proc/cpuinfo":
			b.WriteString(cpuinfo(s.host.Arch()))
		case "/proc/version":
			f := strings.Fields(s.host.Uname)
			rel := "5.10.0"
			if len(f) > 2 {
				rel = f[2]
			}
			b.WriteString("Linux version " + rel + " (gcc version 8.3.0) #1 SMP\n")
		case "/proc/mounts":
			b.WriteString("rootfs / rootfs rw 0 0\nproc /proc proc rw,relatime 0 0\ntmpfs /tmp tmpfs rw,relatime 0 0\ntmpfs /dev/shm tmpfs rw,relatime 0 0\n")
		case "/etc/hostname":
			b.WriteString(s.host.Hostname + "\n")
		case "/etc/passwd":
			b.WriteString("root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
		default:
			if s.host.BusyBox {
				b.WriteString("cat: can't open '" + f + "': No such file or directory\n")
			} else {
				b.WriteString("cat: " + f + ": No such file or directory\n")
			}
		}
	}
}

func (s *Session) ls(args []string, b *strings.Builder) {
	dir := s.cwd
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			dir = a
			if !strings.HasPrefix(dir, "/") {
				dir = clean(s.cwd + "/" + dir)
			}
		}
	}
	switch dir {
	case "/":
		b.WriteString("bin   dev   etc   home  lib   mnt   proc  root  sbin  sys   tmp   usr   var\n")
	case "/bin":
		b.WriteString("busybox  cat  chmod  cp  echo  ls  mkdir  mount  mv  rm  sh  sleep  uname\n")
	case "/tmp", "/root", "/var/tmp", "/dev/shm", "/mnt", "/home":
	default:
		if strings.HasPrefix(dir, "/proc") || strings.HasPrefix(dir, "/etc") || strings.HasPrefix(dir, "/dev") || dir == "/var" || dir == "/usr" {
			return
		}
		b.WriteString("ls: " + dir + ": No such file or directory\n")
	}
}

// fetch answers a download attempt without fetching anything: the remote
// host does not answer (timed out), as behind a filtering firewall.
func (s *Session) fetch(tool string, args []string, b *strings.Builder) {
	var target string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") && strings.Contains(a, ".") {
			target = a
			break
		}
	}
	if target == "" {
		if tool == "wget" {
			b.WriteString("BusyBox v1.31.1 multi-call binary.\n\nUsage: wget [-c|--continue] [--spider] [-q|--quiet] [-O|--output-document FILE] URL...\n")
		} else {
			b.WriteString("curl: try 'curl --help' or 'curl --manual' for more information\n")
		}
		return
	}
	host := target
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if tool == "wget" {
		b.WriteString("Connecting to " + host + "\nwget: can't connect to remote host: Connection timed out\n")
		return
	}
	b.WriteString("curl: (28) Failed to connect to " + host + " port 80: Connection timed out\n")
}

// cpuinfo is a plausible /proc/cpuinfo for the machine architecture.
func cpuinfo(arch string) string {
	switch {
	case strings.HasPrefix(arch, "arm"), arch == "aarch64":
		return "processor\t: 0\nmodel name\t: ARMv7 Processor rev 5 (v7l)\nBogoMIPS\t: 48.00\nFeatures\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm\n" +
			"CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xc07\nCPU revision\t: 5\n\nHardware\t: Generic DT based system\nRevision\t: 0000\nSerial\t\t: 0000000000000000\n"
	case strings.HasPrefix(arch, "mips"):
		return "system type\t\t: MediaTek MT7621 ver:1 eco:3\nmachine\t\t\t: Generic MT7621\nprocessor\t\t: 0\ncpu model\t\t: MIPS 1004Kc V2.15\nBogoMIPS\t\t: 586.13\n" +
			"wait instruction\t: yes\nmicrosecond timers\t: yes\ntlb_entries\t\t: 32\nisa\t\t\t: mips1 mips2 mips32r1 mips32r2\nASEs implemented\t: mips16 dsp mt\n"
	}
	return "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz\nstepping\t: 4\n" +
		"cpu MHz\t\t: 2294.608\ncache size\t: 25344 KB\ncpu cores\t: 1\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch avx2 bmi1 bmi2 erms avx512f\nbogomips\t: 4589.21\n\n"
}
