// Package addrset is a set of IPv4 and IPv6 addresses and prefixes, parsed
// from the files and comma lists the CLI accepts, with an allocation-free
// membership test for the packet path.
package addrset

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// Set is an immutable set of addresses and prefixes.
type Set struct {
	addrs    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

// Len is the number of entries (addresses plus prefixes).
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.addrs) + len(s.prefixes)
}

// Contains reports whether a is in the set. A nil set contains nothing.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil {
		return false
	}
	a = a.Unmap()
	if _, ok := s.addrs[a]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addrs lists the single addresses, in no particular order.
func (s *Set) Addrs() []netip.Addr {
	if s == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(s.addrs))
	for a := range s.addrs {
		out = append(out, a)
	}
	return out
}

// Prefixes lists the prefixes (entries with fewer bits than a full address).
func (s *Set) Prefixes() []netip.Prefix {
	if s == nil {
		return nil
	}
	return append([]netip.Prefix(nil), s.prefixes...)
}

// Entries lists every entry as text, addresses first.
func (s *Set) Entries() []string {
	var out []string
	for _, a := range s.Addrs() {
		out = append(out, a.String())
	}
	for _, p := range s.Prefixes() {
		out = append(out, p.String())
	}
	return out
}

// Builder accumulates entries.
type Builder struct {
	s Set
}

// Add parses one entry: an address or a CIDR prefix, surrounding
// whitespace ignored.
func (b *Builder) Add(entry string) error {
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return fmt.Errorf("empty address")
	}
	if b.s.addrs == nil {
		b.s.addrs = make(map[netip.Addr]struct{})
	}
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or CIDR prefix", entry)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		if p.IsSingleIP() {
			b.s.addrs[p.Addr()] = struct{}{}
		} else {
			b.s.prefixes = append(b.s.prefixes, p)
		}
		return nil
	}
	a, err := netip.ParseAddr(entry)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%q is not an IP address or CIDR prefix", entry)
	}
	b.s.addrs[a.Unmap()] = struct{}{}
	return nil
}

// AddList adds a comma-separated list; empty items are skipped.
func (b *Builder) AddList(list string) error {
	for _, item := range strings.Split(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		if err := b.Add(item); err != nil {
			return err
		}
	}
	return nil
}

// AddReader adds one entry per line; blank lines and '#' comments (whole
// line or trailing) are skipped. name is used in error messages.
func (b *Builder) AddReader(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := b.Add(line); err != nil {
			return fmt.Errorf("%s:%d: %v", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// AddFile adds the entries of a file.
func (b *Builder) AddFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, unwrapPathErr(err))
	}
	defer f.Close()
	return b.AddReader(f, path)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Set returns the set built so far, or nil if it is empty.
func (b *Builder) Set() *Set {
	if len(b.s.addrs) == 0 && len(b.s.prefixes) == 0 {
		return nil
	}
	s := b.s
	return &s
}

// Parse builds a set from an optional file and an optional comma list.
func Parse(file, list string) (*Set, error) {
	var b Builder
	if file != "" {
		if err := b.AddFile(file); err != nil {
			return nil, err
		}
	}
	if list != "" {
		if err := b.AddList(list); err != nil {
			return nil, err
		}
	}
	return b.Set(), nil
}
