package shell

import (
	"sort"
	"strings"
)

// Android is what an Android device's shell shows beyond Host (ADB
// shell): the system properties getprop answers and the installed
// packages. The shell is mksh with toybox, running as the "shell" user
// (uid 2000) in / ; BusyBox, wget and curl are absent as on a stock build.
type Android struct {
	// Props are the system properties (ro.product.model, ...).
	Props map[string]string
	// Packages are the installed package names (pm list packages).
	Packages []string
}

// DefaultUnameAndroid is the `uname -a` line of an Android device when the
// profile names none (an Amlogic TV box kernel).
const DefaultUnameAndroid = "Linux localhost 4.9.113 #1 SMP PREEMPT Wed Jan 6 16:45:33 CST 2021 aarch64"

// DefaultAndroidPackages are the packages of a typical Android TV box.
var DefaultAndroidPackages = []string{
	"android", "com.android.bluetooth", "com.android.providers.settings", "com.android.settings",
	"com.android.shell", "com.android.systemui", "com.android.vending", "com.android.webview",
	"com.google.android.gms", "com.google.android.tvlauncher", "com.google.android.youtube.tv",
	"com.droidlogic.mboxlauncher", "com.droidlogic.tvinput", "org.xbmc.kodi",
}

// NewAndroid starts an Android shell for h (h.Android set) in /.
func NewAndroid(h Host) *Session {
	if h.Android == nil {
		h.Android = &Android{}
	}
	s := New(h)
	s.cwd = "/"
	return s
}

// AndroidPrompt is mksh's prompt on Android: "DEVICE:DIR $ " ("#" for
// root), DEVICE being ro.product.device, else the hostname.
func (s *Session) AndroidPrompt() string {
	dev := s.host.Hostname
	if s.host.Android != nil {
		if d := s.host.Android.Props["ro.product.device"]; d != "" {
			dev = d
		}
	}
	sign := " $ "
	if s.host.User == "root" {
		sign = " # "
	}
	return dev + ":" + s.cwd + sign
}

// androidDirs are the directories cd and ls know on the device.
var androidDirs = map[string]string{
	"/":                   "acct\nbin\nbugreports\ncache\ncharger\nconfig\nd\ndata\ndefault.prop\ndev\netc\nmnt\nodm\noem\nproc\nproduct\nsbin\nsdcard\nstorage\nsys\nsystem\nvendor\n",
	"/data/local/tmp":     "",
	"/data/local":         "",
	"/sdcard":             "Alarms\nAndroid\nDCIM\nDownload\nMovies\nMusic\nNotifications\nPictures\nPodcasts\nRingtones\n",
	"/storage/emulated/0": "Alarms\nAndroid\nDCIM\nDownload\nMovies\nMusic\nNotifications\nPictures\nPodcasts\nRingtones\n",
	"/storage":            "emulated\nself\n",
	"/system":             "app\nbin\nbuild.prop\netc\nfonts\nframework\nlib\nmedia\npriv-app\nusr\nvendor\nxbin\n",
	"/system/bin":         "am\ncat\nchmod\ncp\ncmd\ndumpsys\ngetprop\nid\nifconfig\nlog\nls\nmkdir\nmount\nmv\nnetstat\nping\npm\nps\nreboot\nrm\nscreencap\nsettings\nsetprop\nsh\ntoolbox\ntoybox\nuname\n",
	"/system/xbin":        "",
	"/vendor":             "",
	"/cache":              "",
	"/mnt":                "",
	"/mnt/sdcard":         "",
	"/proc":               "",
	"/dev":                "",
	"/sys":                "",
	"/etc":                "",
	"/data":               "",
	"/oem":                "",
	"/acct":               "",
}

// androidDenied are the directories the shell user cannot list.
var androidDenied = map[string]bool{"/data": true, "/cache": true, "/data/local": true}

// android answers the commands that differ on Android; false lets the
// generic shell answer (echo, pwd, uname, true, chmod, exit, ...).
func (s *Session) android(words []string, b *strings.Builder) bool {
	name, args := base(words[0]), words[1:]
	if name == "toybox" || name == "toolbox" {
		if len(args) == 0 {
			b.WriteString("acpi base64 basename blockdev cal cat chcon chgrp chmod chown chroot chrt cksum clear cmp comm cp cpio cut date dd df diff dirname dmesg dos2unix du echo env expand expr fallocate false file find flock fmt free getenforce groups gunzip gzip head hostname hwclock id ifconfig inotifyd insmod ionice iorenice kill killall ln load_policy log logname losetup ls lsmod lsof lspci lsusb md5sum microcom mkdir mkfifo mknod mkswap mktemp modinfo modprobe more mount mountpoint mv nc netcat netstat nice nl nohup nproc nsenter od paste patch pgrep pidof pkill pmap printenv printf ps pwd readlink realpath renice restorecon rm rmdir rmmod runcon sed sendevent seq setenforce setprop setsid sha1sum sha224sum sha256sum sha384sum sha512sum sleep sort split start stat stop strings stty swapoff swapon sync sysctl tac tail tar taskset tee time timeout top touch tr true truncate tty ulimit umount uname uniq unix2dos uptime usleep uudecode uuencode vmstat wc which whoami xargs xxd yes zcat\n")
			return true
		}
		name, args = args[0], args[1:]
		words = words[1:]
	}
	a := s.host.Android
	switch name {
	case "busybox", "wget", "curl", "tftp", "ftpget", "su", "bash", "python", "perl", "apt", "yum", "enable", "system", "linuxshell", "shell":
		b.WriteString(s.androidNotFound(words[0]))
	case "getprop":
		s.getprop(args, b)
	case "setprop", "start", "stop", "input", "svc", "log", "sync", "chown", "ln", "rmdir", "setenforce":
		// silent, as on success
	case "getenforce":
		b.WriteString("Enforcing\n")
	case "id":
		if s.host.User == "root" {
			b.WriteString("uid=0(root) gid=0(root) groups=0(root),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:su:s0\n")
		} else {
			b.WriteString("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0\n")
		}
	case "cd":
		s.androidCd(args, b)
	case "ls":
		s.androidLs(args, b)
	case "cat":
		for _, f := range args {
			switch p := s.abs(f); p {
			case "/system/build.prop", "/default.prop", "/vendor/build.prop":
				b.WriteString(a.buildProp())
			case "/proc/cpuinfo":
				b.WriteString(androidCPUInfo(s.host.Arch(), a.Props["ro.product.board"]))
			default:
				s.cat([]string{f}, b)
			}
		}
	case "which", "command":
		for _, w := range args {
			if w == "-v" {
				continue
			}
			if strings.Contains(androidDirs["/system/bin"], "\n"+w+"\n") || strings.HasPrefix(androidDirs["/system/bin"], w+"\n") {
				b.WriteString("/system/bin/" + w + "\n")
			}
		}
	case "pm":
		s.pm(args, b)
	case "cmd":
		if len(args) > 0 && args[0] == "package" {
			s.pm(args[1:], b)
		} else if len(args) == 0 {
			b.WriteString("cmd: No service specified; use -l to list all services\n")
		} else {
			b.WriteString("cmd: Can't find service: " + args[0] + "\n")
		}
	case "am":
		s.am(args, b)
	case "settings":
		if len(args) >= 3 && args[0] == "get" {
			b.WriteString("null\n")
		}
	case "dumpsys":
		if len(args) == 0 {
			b.WriteString("Currently running services:\n  activity\n  package\n  settings\n  window\n")
		}
	case "ps":
		b.WriteString("USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME\n" +
			"shell         4612  4121 2137700   3380 0                   0 S sh\n" +
			"shell         4630  4612 2145892   3540 0                   0 R ps\n")
	case "mount":
		if len(args) == 0 {
			b.WriteString("/dev/root on / type ext4 (ro,seclabel,relatime)\ntmpfs on /dev type tmpfs (rw,seclabel,nosuid,relatime,mode=755)\n" +
				"proc on /proc type proc (rw,relatime,gid=3009,hidepid=2)\n/dev/block/data on /data type ext4 (rw,seclabel,nosuid,nodev,noatime)\n")
		} else {
			b.WriteString("mount: Permission denied\n")
		}
	case "reboot":
		b.WriteString("reboot: Operation not permitted\n")
	case "screencap", "screenrecord", "monkey", "app_process", "dalvikvm", "ifconfig", "netstat", "ping", "df", "top", "logcat":
		if name == "ifconfig" {
			b.WriteString("lo        Link encap:Local Loopback  \n          inet addr:127.0.0.1  Mask:255.0.0.0 \n          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n")
		}
	case "chmod", "rm", "mkdir", "cp", "mv", "kill", "sleep", "touch", "echo", "pwd", "uname", "true", "false",
		"exit", "logout", "sh", "export", "unset", "nohup", "dd", "killall", "pkill", "hostname", "whoami",
		"uptime", "free", "nc", "netcat", ":", "ulimit", "crontab", "iptables", "history":
		return false
	default:
		// ./payload, /data/local/tmp/x, unknown names
		b.WriteString(s.androidNotFound(words[0]))
	}
	return true
}

func (s *Session) androidNotFound(name string) string {
	return "/system/bin/sh: " + name + ": inaccessible or not found\n"
}

func (s *Session) abs(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = s.cwd + "/" + p
	}
	return clean(p)
}

func (s *Session) androidCd(args []string, b *strings.Builder) {
	if len(args) == 0 {
		s.cwd = "/"
		return
	}
	d := s.abs(args[0])
	if _, ok := androidDirs[d]; ok {
		s.cwd = d
		return
	}
	b.WriteString("/system/bin/sh: cd: " + d + ": No such file or directory\n")
}

func (s *Session) androidLs(args []string, b *strings.Builder) {
	dir := s.cwd
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			dir = s.abs(a)
		}
	}
	if androidDenied[dir] {
		b.WriteString("ls: " + dir + ": Permission denied\n")
		return
	}
	l, ok := androidDirs[dir]
	if !ok {
		b.WriteString("ls: " + dir + ": No such file or directory\n")
		return
	}
	b.WriteString(l)
}

// getprop: no argument lists every property as "[key]: [value]"; one
// prints its value (empty line when unset), a second is the default.
func (s *Session) getprop(args []string, b *strings.Builder) {
	p := s.host.Android.Props
	if len(args) == 0 {
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("[" + k + "]: [" + p[k] + "]\n")
		}
		return
	}
	v, ok := p[args[0]]
	if !ok && len(args) > 1 {
		v = args[1]
	}
	b.WriteString(v + "\n")
}

// buildProp is /system/build.prop: the ro.* properties.
func (a *Android) buildProp() string {
	var b strings.Builder
	b.WriteString("\n# begin build properties\n")
	keys := make([]string, 0, len(a.Props))
	for k := range a.Props {
		if strings.HasPrefix(k, "ro.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + "=" + a.Props[k] + "\n")
	}
	return b.String()
}

func (s *Session) pm(args []string, b *strings.Builder) {
	a := s.host.Android
	pkgs := a.Packages
	if pkgs == nil {
		pkgs = DefaultAndroidPackages
	}
	if len(args) == 0 {
		b.WriteString("usage: pm path [--user USER_ID] PACKAGE\n       pm list packages [-f] [-d] [-e] [-s] [-3] [-i] [-l] [-u] [-U] [FILTER]\n       pm install [-lrtsfd] [-i PACKAGE] [PATH]\n       pm uninstall [-k] [--user USER_ID] PACKAGE\n")
		return
	}
	switch args[0] {
	case "list":
		if len(args) > 1 && args[1] == "packages" {
			filter := ""
			for _, x := range args[2:] {
				if !strings.HasPrefix(x, "-") {
					filter = x
				}
			}
			for _, p := range pkgs {
				if strings.Contains(p, filter) {
					b.WriteString("package:" + p + "\n")
				}
			}
		}
	case "path":
		for _, p := range pkgs {
			if len(args) > 1 && p == args[len(args)-1] {
				b.WriteString("package:/system/app/" + p + "/" + p + ".apk\n")
			}
		}
	case "install", "install-create", "install-commit":
		b.WriteString("Success\n")
	case "uninstall":
		b.WriteString("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
	case "disable", "disable-user", "enable", "hide", "grant":
		// silent or refused quietly
	default:
		b.WriteString("Unknown command: " + args[0] + "\n")
	}
}

func (s *Session) am(args []string, b *strings.Builder) {
	if len(args) == 0 {
		b.WriteString("Activity manager (activity) commands:\n  help\n  start [options] INTENT\n  startservice [options] INTENT\n  broadcast [options] INTENT\n  force-stop PACKAGE\n")
		return
	}
	intent := strings.Join(args[1:], " ")
	switch args[0] {
	case "start":
		b.WriteString("Starting: Intent { " + intent + " }\n")
	case "startservice", "start-service", "start-foreground-service":
		b.WriteString("Starting service: Intent { " + intent + " }\n")
	case "broadcast":
		b.WriteString("Broadcasting: Intent { " + intent + " }\nBroadcast completed: result=0\n")
	case "force-stop", "kill", "kill-all":
	default:
		b.WriteString("Unknown command: " + args[0] + "\n")
	}
}

// androidCPUInfo is /proc/cpuinfo of an ARM TV box SoC.
func androidCPUInfo(arch, board string) string {
	if arch != "aarch64" && !strings.HasPrefix(arch, "arm") {
		return cpuinfo(arch)
	}
	if board == "" {
		board = "Amlogic"
	}
	var b strings.Builder
	for i := 0; i < 4; i++ {
		b.WriteString("processor\t: " + string(rune('0'+i)) + "\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n" +
			"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd03\nCPU revision\t: 4\n\n")
	}
	b.WriteString("Hardware\t: " + board + "\nSerial\t\t: 290b1000010c2f0d0000000000000000\n")
	return b.String()
}
