// Package priv drops the privileges masscanned does not need once its
// packet socket is open: it switches to an unprivileged user and keeps only
// CAP_NET_RAW (and CAP_NET_ADMIN, for promiscuous mode and fanout).
//
// Capabilities, the keep-caps flag, the bounding set and no_new_privs are
// per-thread attributes in Linux, and a Go program has many threads. Drop
// therefore applies each change to every thread with
// syscall.AllThreadsSyscall, which works only in binaries built with
// CGO_ENABLED=0 (the default masscanned build); in a cgo binary it returns
// an error rather than leaving some threads privileged.
package priv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capability bits kept by Drop.
const (
	CapNetAdmin = unix.CAP_NET_ADMIN // 12
	CapNetRaw   = unix.CAP_NET_RAW   // 13
)

// IsRoot reports whether the process runs with effective uid 0.
func IsRoot() bool { return os.Geteuid() == 0 }

// Drop switches every thread of the process to username (its uid, primary
// gid and supplementary groups, looked up with os/user) and keeps only
// CAP_NET_RAW, plus CAP_NET_ADMIN if keepNetAdmin, in the permitted and
// effective sets. The inheritable and ambient sets are cleared, the other
// capabilities are dropped from the bounding set where the process may do
// so (it needs CAP_SETPCAP), and no_new_privs is set, so nothing executed
// later can regain privileges. It is irreversible.
//
// An empty username, or the user the process already runs as (a systemd
// unit with User= and AmbientCapabilities=), keeps the identity and only
// reduces the capabilities.
//
// Call it after the link is open and before reading any packet. Errors are
// one line: `user "x" not found`, `dropping privileges: setresuid: ...`.
func Drop(username string, keepNetAdmin bool) error {
	want := uint64(1) << CapNetRaw
	if keepNetAdmin {
		want |= 1 << CapNetAdmin
	}

	var (
		changeID bool
		uid, gid int
		groups   []int
	)
	if username != "" {
		var err error
		uid, gid, groups, err = lookup(username)
		if err != nil {
			return err
		}
		ruid, euid, suid := unix.Getresuid()
		rgid, egid, sgid := unix.Getresgid()
		changeID = ruid != uid || euid != uid || suid != uid ||
			rgid != gid || egid != gid || sgid != gid
	}

	if _, _, e := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != nil {
		return dropErr("prctl(PR_SET_NO_NEW_PRIVS)", e)
	}
	if err := dropBounding(want); err != nil {
		return err
	}
	if changeID {
		if _, _, e := allThreads(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != nil {
			return dropErr("prctl(PR_SET_KEEPCAPS)", e)
		}
		// syscall.Setgroups/Setresgid/Setresuid apply to all threads.
		if err := syscall.Setgroups(groups); err != nil {
			return dropErr("setgroups", err)
		}
		if err := syscall.Setresgid(gid, gid, gid); err != nil {
			return dropErr("setresgid", err)
		}
		if err := syscall.Setresuid(uid, uid, uid); err != nil {
			return dropErr("setresuid", err)
		}
	}
	if err := capset(want); err != nil {
		return err
	}
	if changeID {
		if _, _, e := allThreads(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); e != nil {
			return dropErr("prctl(PR_SET_KEEPCAPS, 0)", e)
		}
	}
	// Clearing the inheritable set already emptied the ambient set; this
	// makes it explicit (EINVAL on kernels before 4.3 is fine).
	if _, _, e := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != nil && e != unix.EINVAL {
		return dropErr("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", e)
	}
	return verify(username != "", uid, want)
}

func dropErr(step string, err error) error {
	return fmt.Errorf("dropping privileges: %s: %w", step, err)
}

// allThreads runs a system call with integer arguments on every thread.
func allThreads(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err error) {
	r1, r2, e := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	return r1, r2, errnoErr(e)
}

// errCgo explains the ENOTSUP that AllThreadsSyscall returns in binaries
// that use cgo.
var errCgo = errors.New("per-thread changes need a binary built with CGO_ENABLED=0")

func errnoErr(e syscall.Errno) error {
	switch e {
	case 0:
		return nil
	case syscall.ENOTSUP:
		return errCgo
	}
	return e
}

func lookup(name string) (uid, gid int, groups []int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, 0, nil, fmt.Errorf("user %q not found", name)
		}
		return 0, 0, nil, fmt.Errorf("looking up user %q: %v", name, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, nil, fmt.Errorf("user %q: bad uid %q", name, u.Uid)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, nil, fmt.Errorf("user %q: bad gid %q", name, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("user %q: looking up groups: %v", name, err)
	}
	groups = make([]int, 0, len(ids)+1)
	groups = append(groups, gid)
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("user %q: bad group id %q", name, s)
		}
		if g != gid {
			groups = append(groups, g)
		}
	}
	return uid, gid, groups, nil
}

// dropBounding removes every capability but want from the bounding set of
// every thread. Without CAP_SETPCAP (an unprivileged user with ambient
// capabilities) the bounding set is left alone: no_new_privs and the empty
// inheritable and ambient sets already keep it from mattering.
func dropBounding(want uint64) error {
	last := lastCap()
	for c := 0; c <= last; c++ {
		if want&(1<<c) != 0 {
			continue
		}
		in, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(c), 0)
		if e == unix.EINVAL {
			break // beyond what this kernel knows
		}
		if e != 0 || in == 0 {
			continue
		}
		_, _, err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
		switch {
		case err == nil:
		case err == unix.EPERM:
			return nil // no CAP_SETPCAP: not possible here
		case err == unix.EINVAL:
			return nil
		default:
			return dropErr(fmt.Sprintf("prctl(PR_CAPBSET_DROP, %d)", c), err)
		}
	}
	return nil
}

// lastCap returns the highest capability number the kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
			return n
		}
	}
	return 63
}

// capset sets permitted = effective = want and inheritable = 0 on every
// thread (capset with a version 3 header, 64-bit sets).
func capset(want uint64) error {
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{
		{Effective: uint32(want), Permitted: uint32(want)},
		{Effective: uint32(want >> 32), Permitted: uint32(want >> 32)},
	}
	// AllThreadsSyscall is //go:uintptrescapes: the pointers stay valid.
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(data)), 0)
	if err := errnoErr(e); err != nil {
		if err == unix.EPERM {
			return dropErr("capset", fmt.Errorf("%w (%s not in the permitted set)", err, capNames(want)))
		}
		return dropErr("capset", err)
	}
	return nil
}

// verify checks every thread's /proc status: the uid (if checkUID) and the
// permitted and effective sets must be what Drop set.
func verify(checkUID bool, uid int, want uint64) error {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		tasks = []string{"/proc/self/status"}
	}
	for _, path := range tasks {
		st, err := readStatus(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread exited
			}
			return dropErr("verifying", err)
		}
		if checkUID {
			for _, id := range st.uids {
				if id != uid {
					return dropErr("verifying", fmt.Errorf("%s: uid %v, want %d", path, st.uids, uid))
				}
			}
		}
		if st.capEff != want || st.capPrm != want {
			return dropErr("verifying", fmt.Errorf("%s: CapEff %016x CapPrm %016x, want %016x", path, st.capEff, st.capPrm, want))
		}
	}
	return nil
}

type status struct {
	uids                                   []int // real, effective, saved, filesystem
	capInh, capPrm, capEff, capBnd, capAmb uint64
	noNewPrivs                             string
}

func readStatus(path string) (status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return status{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (status, error) {
	var st status
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var dst *uint64
		switch key {
		case "Uid":
			for _, f := range strings.Fields(val) {
				n, err := strconv.Atoi(f)
				if err != nil {
					return st, fmt.Errorf("bad Uid line %q", val)
				}
				st.uids = append(st.uids, n)
			}
		case "NoNewPrivs":
			st.noNewPrivs = val
		case "CapInh":
			dst = &st.capInh
		case "CapPrm":
			dst = &st.capPrm
		case "CapEff":
			dst = &st.capEff
		case "CapBnd":
			dst = &st.capBnd
		case "CapAmb":
			dst = &st.capAmb
		}
		if dst != nil {
			n, err := strconv.ParseUint(val, 16, 64)
			if err != nil {
				return st, fmt.Errorf("bad %s line %q", key, val)
			}
			*dst = n
		}
	}
	if len(st.uids) == 0 {
		return st, errors.New("no Uid line")
	}
	return st, sc.Err()
}

// Status returns the effective uid and a one-line summary of the
// capability sets of the process, read from /proc/self/status, for logs:
//
//	CapEff=0000000000002000(cap_net_raw) CapPrm=0000000000002000(cap_net_raw) CapInh=0000000000000000() CapBnd=0000000000002000(cap_net_raw) CapAmb=0000000000000000() NoNewPrivs=1
func Status() (uid int, caps string, err error) {
	st, err := readStatus("/proc/self/status")
	if err != nil {
		return -1, "", fmt.Errorf("reading /proc/self/status: %w", err)
	}
	if len(st.uids) > 1 {
		uid = st.uids[1]
	} else {
		uid = st.uids[0]
	}
	var b strings.Builder
	for _, f := range []struct {
		name string
		v    uint64
	}{{"CapEff", st.capEff}, {"CapPrm", st.capPrm}, {"CapInh", st.capInh}, {"CapBnd", st.capBnd}, {"CapAmb", st.capAmb}} {
		fmt.Fprintf(&b, "%s=%016x(%s) ", f.name, f.v, capNames(f.v))
	}
	b.WriteString("NoNewPrivs=" + st.noNewPrivs)
	return uid, b.String(), nil
}

var capNameList = [...]string{
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner",
	"cap_fsetid", "cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap",
	"cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
	"cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
	"cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
	"cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
	"cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod",
	"cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
	"cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
	"cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf",
	"cap_checkpoint_restore",
}

// capNames names the capabilities of a set; large sets are summarised.
func capNames(set uint64) string {
	if n := bits.OnesCount64(set); n > 4 {
		return fmt.Sprintf("%d capabilities", n)
	}
	var names []string
	for c := 0; c < 64; c++ {
		if set&(1<<c) == 0 {
			continue
		}
		if c < len(capNameList) {
			names = append(names, capNameList[c])
		} else {
			names = append(names, "cap_"+strconv.Itoa(c))
		}
	}
	return strings.Join(names, ",")
}
