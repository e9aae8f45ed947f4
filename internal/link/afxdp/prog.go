//go:build linux

package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/masscanned-go/masscanned/internal/addrset"
)

// XDP verdicts (enum xdp_action).
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpTx       = 3
	xdpRedirect = 4
)

// Key of the address map, an LPM trie: prefix length in bits (host
// order), then 20 bytes of data: a 4-byte family marker (0,0,0,4 or
// 0,0,0,6) and the address (4 or 16 bytes). The marker keeps the IPv4 and
// IPv6 spaces apart; a prefix length of 32 (the marker alone) matches a
// whole family.
const (
	keySize     = 24
	markerBits  = 32
	maxAddrKeys = 1 << 16
)

// addrKey is the map key of prefix p.
func addrKey(p netip.Prefix) [keySize]byte {
	var k [keySize]byte
	a := p.Addr()
	bitsN := p.Bits()
	if bitsN < 0 {
		bitsN = a.BitLen()
	}
	if a.Is4In6() {
		a = a.Unmap()
		bitsN = max(bitsN-96, 0)
	}
	binary.NativeEndian.PutUint32(k[0:], uint32(markerBits+bitsN))
	if a.Is4() {
		k[7] = 4
		b := a.As4()
		copy(k[8:], b[:])
	} else {
		k[7] = 6
		b := a.As16()
		copy(k[8:], b[:])
	}
	return k
}

// familyKey matches every address of one family (4 or 6).
func familyKey(fam byte) [keySize]byte {
	var k [keySize]byte
	binary.NativeEndian.PutUint32(k[0:], markerBits)
	k[7] = fam
	return k
}

// selfKeys are the keys for a self list; nil (no list) answers for every
// address, as the stack does.
func selfKeys(self *addrset.Set) map[[keySize]byte]bool {
	keys := map[[keySize]byte]bool{}
	if self == nil {
		keys[familyKey(4)] = true
		keys[familyKey(6)] = true
		return keys
	}
	for _, a := range self.Addrs() {
		a = a.Unmap()
		keys[addrKey(netip.PrefixFrom(a, a.BitLen()))] = true
	}
	for _, p := range self.Prefixes() {
		keys[addrKey(p.Masked())] = true
	}
	return keys
}

// nat16 and nat32 are the values a native-endian load of the big-endian
// v reads, for comparing packet fields without byte swapping.
func nat16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

func nat32(v uint32) int64 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return int64(binary.NativeEndian.Uint32(b[:]))
}

// Offsets in struct xdp_md.
const (
	mdData    = 0
	mdDataEnd = 4
	mdRxQueue = 16
)

// program returns the XDP program: frames masscanned answers (ARP whose
// target address, IPv4 and IPv6 whose destination, and IPv6 neighbour
// solicitations whose target is in addrs; one 802.1Q/802.1ad tag allowed)
// are redirected to the XSK of their receive queue in xsks (fallback when
// the queue has none), and so is every frame to ownMAC (when not nil);
// everything else goes to the kernel (XDP_PASS).
//
// Registers: r6 ctx, r7 data (advanced past a VLAN tag), r8 data_end; the
// key is built at fp-24 (prefix length), fp-20 (marker), fp-16 (address).
func program(addrs, xsks *ebpf.Map, ownMAC *[6]byte, fallback int32) asm.Instructions {
	const (
		kLen  = -24
		kMark = -20
		kAddr = -16
	)
	bound := func(n int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R2, asm.R7),
			asm.Add.Imm(asm.R2, n),
			asm.JGT.Reg(asm.R2, asm.R8, "pass"),
		}
	}
	var in asm.Instructions
	add := func(is ...asm.Instruction) { in = append(in, is...) }
	add(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, mdData, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, mdDataEnd, asm.Word),
		asm.Mov.Imm(asm.R0, 0),
		asm.StoreMem(asm.RFP, kLen, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, kAddr, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, kAddr+8, asm.R0, asm.DWord),
	)
	add(bound(14)...)
	if ownMAC != nil {
		// unicast to masscanned's own MAC: ours, whatever it holds
		add(
			asm.LoadMem(asm.R3, asm.R7, 0, asm.Word),
			asm.JNE.Imm32(asm.R3, int32(binary.NativeEndian.Uint32(ownMAC[0:4])), "ethertype"),
			asm.LoadMem(asm.R3, asm.R7, 4, asm.Half),
			asm.JEq.Imm32(asm.R3, int32(binary.NativeEndian.Uint16(ownMAC[4:6])), "redirect"),
		)
	}
	add(
		asm.LoadMem(asm.R3, asm.R7, 12, asm.Half).WithSymbol("ethertype"),
		asm.JEq.Imm(asm.R3, nat16(0x8100), "vlan"),
		asm.JEq.Imm(asm.R3, nat16(0x88a8), "vlan"),
		asm.Ja.Label("dispatch"),
	)
	// one tag: move r7 on by 4 so the L3 offsets below hold
	in = append(in, bound(18)[0].WithSymbol("vlan"))
	add(bound(18)[1:]...)
	add(
		asm.LoadMem(asm.R3, asm.R7, 16, asm.Half),
		asm.Add.Imm(asm.R7, 4),
	)
	add(
		asm.JEq.Imm(asm.R3, nat16(unix.ETH_P_ARP), "arp").WithSymbol("dispatch"),
		asm.JEq.Imm(asm.R3, nat16(unix.ETH_P_IP), "ipv4"),
		asm.JEq.Imm(asm.R3, nat16(unix.ETH_P_IPV6), "ipv6"),
		asm.Ja.Label("pass"),
	)
	// ARP: target protocol address at 14+24
	in = append(in, bound(42)[0].WithSymbol("arp"))
	add(bound(42)[1:]...)
	add(
		asm.LoadMem(asm.R3, asm.R7, 38, asm.Word),
		asm.Ja.Label("v4key"),
	)
	// IPv4: destination at 14+16
	in = append(in, bound(34)[0].WithSymbol("ipv4"))
	add(bound(34)[1:]...)
	add(
		asm.LoadMem(asm.R3, asm.R7, 30, asm.Word),
		asm.StoreMem(asm.RFP, kAddr, asm.R3, asm.Word).WithSymbol("v4key"),
		asm.StoreImm(asm.RFP, kMark, nat32(4), asm.Word),
		asm.StoreImm(asm.RFP, kLen, markerBits+32, asm.Word),
		asm.Ja.Label("lookup"),
	)
	// IPv6: a neighbour solicitation (next header 58, type 135; no
	// extension header) is looked up by its target at 14+40+8, whatever
	// its destination; anything else by its destination at 14+24, except
	// multicast, which stays with the kernel
	in = append(in, bound(54)[0].WithSymbol("ipv6"))
	add(bound(54)[1:]...)
	add(
		asm.LoadMem(asm.R3, asm.R7, 20, asm.Byte),
		asm.JNE.Imm(asm.R3, unix.IPPROTO_ICMPV6, "v6dst"),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, 78),
		asm.JGT.Reg(asm.R2, asm.R8, "v6dst"),
		asm.LoadMem(asm.R3, asm.R7, 54, asm.Byte),
		asm.JNE.Imm(asm.R3, 135, "v6dst"),
		asm.LoadMem(asm.R3, asm.R7, 62, asm.DWord),
		asm.LoadMem(asm.R4, asm.R7, 70, asm.DWord),
		asm.Ja.Label("v6key"),
		asm.LoadMem(asm.R3, asm.R7, 38, asm.Byte).WithSymbol("v6dst"),
		asm.JEq.Imm(asm.R3, 0xff, "pass"),
		asm.LoadMem(asm.R3, asm.R7, 38, asm.DWord),
		asm.LoadMem(asm.R4, asm.R7, 46, asm.DWord),
		asm.StoreMem(asm.RFP, kAddr, asm.R3, asm.DWord).WithSymbol("v6key"),
		asm.StoreMem(asm.RFP, kAddr+8, asm.R4, asm.DWord),
		asm.StoreImm(asm.RFP, kMark, nat32(6), asm.Word),
		asm.StoreImm(asm.RFP, kLen, markerBits+128, asm.Word),
	)
	// ours? then to the queue's socket
	add(
		asm.LoadMapPtr(asm.R1, addrs.FD()).WithSymbol("lookup"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, kLen),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R2, asm.R6, mdRxQueue, asm.Word).WithSymbol("redirect"),
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, fallback),
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	)
	return in
}

// Program is the loaded XDP program with its two maps.
type Program struct {
	Prog  *ebpf.Program
	Addrs *ebpf.Map // LPM trie of our addresses
	XSKs  *ebpf.Map // receive queue -> XSK
	keys  map[[keySize]byte]bool
}

// LoadProgram creates the maps (xsks with room for queues entries, the
// address map filled from self) and loads the program (see program). fallback is the
// verdict for a frame of ours on a queue without a socket (xdpPass in
// production).
func LoadProgram(queues int, self *addrset.Set, ownMAC *[6]byte, fallback int32) (*Program, error) {
	p := &Program{}
	var err error
	p.Addrs, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "mc_addrs", Type: ebpf.LPMTrie, KeySize: keySize, ValueSize: 1,
		MaxEntries: maxAddrKeys, Flags: unix.BPF_F_NO_PREALLOC,
	})
	if err != nil {
		return nil, bpfErr("creating the address map", err)
	}
	p.XSKs, err = ebpf.NewMap(&ebpf.MapSpec{Name: "mc_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(max(queues, 1))})
	if err != nil {
		p.Close()
		return nil, bpfErr("creating the XSK map", err)
	}
	if err := p.SetSelf(self); err != nil {
		p.Close()
		return nil, err
	}
	p.Prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "masscanned", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: program(p.Addrs, p.XSKs, ownMAC, fallback),
	})
	if err != nil {
		p.Close()
		return nil, bpfErr("loading the XDP program", err)
	}
	return p, nil
}

func bpfErr(what string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("afxdp: %s: %v (needs CAP_BPF and CAP_NET_ADMIN, or root)", what, err)
	}
	return fmt.Errorf("afxdp: %s: %w", what, err)
}

// SetSelf makes the address map hold exactly self's entries (nil: every
// address). Entries are added before stale ones are removed, so an
// address in both the old and the new list is never passed to the kernel.
func (p *Program) SetSelf(self *addrset.Set) error {
	keys := selfKeys(self)
	if len(keys) > maxAddrKeys {
		return fmt.Errorf("afxdp: %d self entries, at most %d", len(keys), maxAddrKeys)
	}
	one := []byte{1}
	for k := range keys {
		if p.keys[k] {
			continue
		}
		if err := p.Addrs.Update(k[:], one, ebpf.UpdateAny); err != nil {
			return bpfErr("updating the address map", err)
		}
	}
	for k := range p.keys {
		if keys[k] {
			continue
		}
		if err := p.Addrs.Delete(k[:]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return bpfErr("updating the address map", err)
		}
	}
	p.keys = keys
	return nil
}

// Close releases the program and the maps.
func (p *Program) Close() error {
	var errs []error
	if p.Prog != nil {
		errs = append(errs, p.Prog.Close())
	}
	if p.XSKs != nil {
		errs = append(errs, p.XSKs.Close())
	}
	if p.Addrs != nil {
		errs = append(errs, p.Addrs.Close())
	}
	return errors.Join(errs...)
}
