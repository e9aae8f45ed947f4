package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	var o Options
	fs := NewFlagSet(&o, io.Discard)
	if err := fs.Parse(args); err != nil {
		return &o, err
	}
	return &o, o.Finish()
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "self")
	if err := os.WriteFile(good, []byte("# ours\n198.51.100.10\n2001:db8::/64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("198.51.100.10\nnope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("000102030405060708090a0b0c0d0e0f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortKey := filepath.Join(dir, "short")
	if err := os.WriteFile(shortKey, []byte("0001"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		err  string // substring; "" = must succeed
	}{
		{"minimal", []string{"-i", "eth1"}, ""},
		{"upstream style", []string{"--iface", "eth1", "-m", "52:1c:4e:c2:a4:1f", "--self-ip-file", good, "-vvv", "--format", "logfmt"}, ""},
		{"pcap", []string{"--read-pcap", "x.pcap", "--write-pcap", "y.pcap"}, ""},
		{"no interface", nil, "no interface"},
		{"both sources", []string{"-i", "eth1", "--read-pcap", "x"}, "cannot be used together"},
		{"bad format", []string{"-i", "eth1", "--format", "xml"}, `invalid --format "xml"`},
		{"bad personality", []string{"-i", "eth1", "--personality", "bsd"}, `unknown personality "bsd"`},
		{"bad mac", []string{"-i", "eth1", "-m", "zz"}, "invalid MAC address"},
		{"multicast mac", []string{"-i", "eth1", "-m", "01:00:5e:00:00:01"}, "multicast"},
		{"missing self file", []string{"-i", "eth1", "--self-ip-file", filepath.Join(dir, "none")}, "cannot read"},
		{"bad self file", []string{"-i", "eth1", "--self-ip-file", bad}, "bad:2:"},
		{"bad deny list", []string{"-i", "eth1", "--remote-ip-deny-list", "1.2.3"}, "remote deny list"},
		{"key file", []string{"-i", "eth1", "--cookie-key-file", key}, ""},
		{"short key", []string{"-i", "eth1", "--cookie-key-file", shortKey}, "32 hexadecimal digits"},
		{"negative ratio", []string{"-i", "eth1", "--udp-max-ratio", "-1"}, "--udp-max-ratio"},
		{"zero conns", []string{"-i", "eth1", "--max-conns", "0"}, "must be positive"},
		{"unknown flag", []string{"-i", "eth1", "--frobnicate"}, "unknown flag"},
		{"capture", []string{"-i", "eth1", "--capture", "c.pcapng", "--capture-rotate-size", "100M", "--capture-rotate-every", "1h"}, ""},
		{"capture size", []string{"-i", "eth1", "--capture", "c.pcapng", "--capture-rotate-size", "1.5G"}, "--capture-rotate-size"},
		{"capture size zero", []string{"-i", "eth1", "--capture", "c.pcapng", "--capture-rotate-size", "0"}, "--capture-rotate-size"},
		{"rotation without capture", []string{"-i", "eth1", "--capture-rotate-every", "1h"}, "need --capture"},
		{"stray argument", []string{"-i", "eth1", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		o, err := parse(t, tc.args...)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			_ = o
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", tc.name, err)
		}
	}
}

func TestDerived(t *testing.T) {
	o, err := parse(t, "-i", "eth1", "-m", "52:1c:4e:c2:a4:1f", "--self-ip-list", "198.51.100.10", "-vv", "--personality", "masscanned")
	if err != nil {
		t.Fatal(err)
	}
	if !o.HasMAC || o.MACAddr != [6]byte{0x52, 0x1c, 0x4e, 0xc2, 0xa4, 0x1f} {
		t.Errorf("MAC %v", o.MACAddr)
	}
	if o.Verbose != 2 || o.Persona.Name != "masscanned" || o.Self.Len() != 1 || o.Deny != nil {
		t.Errorf("derived: v=%d p=%s self=%d", o.Verbose, o.Persona.Name, o.Self.Len())
	}
	if o.HasCookieKey {
		t.Errorf("a cookie key without --cookie-key-file")
	}
}
