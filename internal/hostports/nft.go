package hostports

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// tableFlagOwner is NFT_TABLE_F_OWNER (Linux 5.12): the table belongs to
// the netlink socket that created it; the kernel deletes it when that
// socket closes, that is when the process ends however it ends, and no
// other socket may change it.
const tableFlagOwner = 2

// ndTypes are the ICMPv6 types the kernel needs on its address: MLD
// (130-132, 143) and neighbour discovery (133-137).
var ndTypes = []byte{130, 131, 132, 133, 134, 135, 136, 137, 143}

// TableName is the nftables table (family inet) for an interface.
func TableName(iface string) string {
	var b strings.Builder
	b.WriteString("masscanned_")
	for _, r := range iface {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Rules describes the kernel's half of the split.
type Rules struct {
	Iface   string
	Ifindex int
	Shared  []netip.Addr // the host's addresses masscanned shares
	Spec    Spec
	NetNS   int // a network namespace's fd (0: the current one)
}

// Firewall is masscanned's nftables table, alive while it is open.
type Firewall struct {
	conn  *nftables.Conn
	nl    *netlink.Conn // the lasting socket owning the table
	table *nftables.Table
	// Owned: the kernel deletes the table when the process ends, even on
	// SIGKILL. False on kernels before 5.12: a killed masscanned leaves
	// it, and the next start removes it.
	Owned bool
	// Stale is true when a table left by an earlier masscanned that was
	// not owned was removed at start.
	Stale bool
}

// ErrBusy: another running masscanned owns the interface's table.
var ErrBusy = errors.New("busy")

// Install creates the table: a base chain on the input hook sends the
// packets that come in on the interface for a shared address to the chain
// "shared", which accepts the established and related flows, the listed
// ports and neighbour discovery, and drops the rest, so that the kernel
// answers none of what masscanned answers. The rules are read back and
// checked.
func Install(r Rules) (*Firewall, error) {
	fw := &Firewall{}
	var err error
	fw.conn, err = nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(r.NetNS), nftables.WithSockOptions(func(c *netlink.Conn) error {
		fw.nl = c
		return nil
	}))
	if err != nil {
		return nil, nftError("opening a netfilter netlink socket", err)
	}
	name := TableName(r.Iface)
	fw.table = &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	fail := func(what string, err error) (*Firewall, error) {
		fw.Close()
		return nil, nftError(what, err)
	}
	tables, err := fw.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fail("listing nftables tables", err)
	}
	for _, t := range tables {
		if t.Name != name {
			continue
		}
		if tableFlags(t)&tableFlagOwner != 0 {
			fw.conn.CloseLasting()
			return nil, fmt.Errorf("--host-ports: nftables table inet %s belongs to another running masscanned on %s: %w", name, r.Iface, ErrBusy)
		}
		// left by a masscanned killed on a kernel without owned tables
		fw.conn.DelTable(fw.table)
		if err := fw.conn.Flush(); err != nil {
			return fail("removing the stale table inet "+name, err)
		}
		fw.Stale = true
	}
	fw.Owned = true
	if err := fw.createTable(name, tableFlagOwner); err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) {
			return fail("creating table inet "+name, err)
		}
		fw.Owned = false
		if err := fw.createTable(name, 0); err != nil {
			return fail("creating table inet "+name, err)
		}
	}
	fw.addRules(r)
	if err := fw.conn.Flush(); err != nil {
		return fail("adding the rules of table inet "+name, err)
	}
	if err := fw.Verify(r); err != nil {
		return fail("checking table inet "+name, err)
	}
	return fw, nil
}

// createTable sends NFT_MSG_NEWTABLE with flags on the lasting socket
// (google/nftables writes no table flags), in a batch of its own.
func (fw *Firewall) createTable(name string, flags uint32) error {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: []byte(name + "\x00")},
		{Type: unix.NFTA_TABLE_FLAGS, Data: binaryutil.BigEndian.PutUint32(flags)},
	})
	if err != nil {
		return err
	}
	gen := func(family uint8, resID uint16) []byte {
		b := []byte{family, unix.NFNETLINK_V0, 0, 0}
		binary.BigEndian.PutUint16(b[2:], resID)
		return b
	}
	msgs := []netlink.Message{
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
			Data: gen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWTABLE),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
			Data: append(gen(unix.NFPROTO_INET, 0), attrs...)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
			Data: gen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
	}
	if fw.nl == nil {
		return errors.New("no netlink socket")
	}
	if _, err := fw.nl.SendMessages(msgs); err != nil {
		return err
	}
	// the acknowledgment (or the error) of NEWTABLE
	_, err = fw.nl.Receive()
	return err
}

func (fw *Firewall) addRules(r Rules) {
	c := fw.conn
	input := c.AddChain(&nftables.Chain{
		Name:     "input",
		Table:    fw.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 10),
		Policy:   ptr(nftables.ChainPolicyAccept),
	})
	shared := c.AddChain(&nftables.Chain{Name: "shared", Table: fw.table})
	iif := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIF, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(uint32(r.Ifindex))},
	}
	for _, a := range r.Shared {
		a = a.Unmap()
		proto, off := byte(unix.NFPROTO_IPV4), uint32(16)
		if a.Is6() {
			proto, off = unix.NFPROTO_IPV6, 24
		}
		e := append(append([]expr.Any{}, iif...),
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: shared.Name})
		c.AddRule(&nftables.Rule{Table: fw.table, Chain: input, Exprs: e})
	}
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	c.AddRule(&nftables.Rule{Table: fw.table, Chain: shared, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		accept,
	}})
	port := func(proto byte, p uint16) {
		c.AddRule(&nftables.Rule{Table: fw.table, Chain: shared, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p)},
			&expr.Counter{},
			accept,
		}})
	}
	for _, p := range r.Spec.TCP {
		port(unix.IPPROTO_TCP, p)
	}
	for _, p := range r.Spec.UDP {
		port(unix.IPPROTO_UDP, p)
	}
	for _, t := range ndTypes {
		c.AddRule(&nftables.Rule{Table: fw.table, Chain: shared, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{t}},
			accept,
		}})
	}
	c.AddRule(&nftables.Rule{Table: fw.table, Chain: shared, Exprs: []expr.Any{
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
}

// Verify reads the table back from the kernel and checks that it holds
// what Install put there: the owner flag when Owned, a jump for each
// shared address, an accept rule for each listed port ahead of the final
// drop.
func (fw *Firewall) Verify(r Rules) error {
	t, err := fw.conn.ListTableOfFamily(fw.table.Name, fw.table.Family)
	if err != nil {
		return err
	}
	if fw.Owned && tableFlags(t)&tableFlagOwner == 0 {
		return errors.New("the table is not owned by masscanned's socket")
	}
	in, err := fw.conn.GetRules(fw.table, &nftables.Chain{Name: "input", Table: fw.table})
	if err != nil {
		return err
	}
	if len(in) != len(r.Shared) {
		return fmt.Errorf("chain input has %d rules, want one for each of the %d shared addresses", len(in), len(r.Shared))
	}
	rules, err := fw.conn.GetRules(fw.table, &nftables.Chain{Name: "shared", Table: fw.table})
	if err != nil {
		return err
	}
	want := map[[3]byte]bool{} // proto, port
	for _, p := range r.Spec.TCP {
		want[[3]byte{unix.IPPROTO_TCP, byte(p >> 8), byte(p)}] = true
	}
	for _, p := range r.Spec.UDP {
		want[[3]byte{unix.IPPROTO_UDP, byte(p >> 8), byte(p)}] = true
	}
	for i, rl := range rules {
		if v, ok := rl.Exprs[len(rl.Exprs)-1].(*expr.Verdict); ok && v.Kind == expr.VerdictDrop {
			if i != len(rules)-1 {
				return errors.New("the drop rule is not the last of chain shared")
			}
			break
		}
		if k, ok := acceptedPort(rl.Exprs); ok {
			delete(want, k)
		}
	}
	if len(want) > 0 {
		return fmt.Errorf("%d listed ports have no accept rule ahead of the drop", len(want))
	}
	return nil
}

// acceptedPort recognises the rule accepting one port of a protocol.
func acceptedPort(es []expr.Any) ([3]byte, bool) {
	var k [3]byte
	if len(es) < 5 {
		return k, false
	}
	c1, ok1 := es[1].(*expr.Cmp)
	p, ok2 := es[2].(*expr.Payload)
	c2, ok3 := es[3].(*expr.Cmp)
	v, ok4 := es[len(es)-1].(*expr.Verdict)
	if !ok1 || !ok2 || !ok3 || !ok4 || v.Kind != expr.VerdictAccept || len(c1.Data) != 1 || len(c2.Data) != 2 ||
		p.Base != expr.PayloadBaseTransportHeader || p.Offset != 2 {
		return k, false
	}
	return [3]byte{c1.Data[0], c2.Data[0], c2.Data[1]}, true
}

// Close deletes the table and closes the socket (which deletes an owned
// table anyway: the delete may fail once privileges are dropped). It may
// be called again.
func (fw *Firewall) Close() error {
	if fw == nil || fw.conn == nil {
		return nil
	}
	var err error
	if fw.table != nil && fw.nl != nil {
		fw.conn.DelTable(fw.table)
		if e := fw.conn.Flush(); e != nil && !errors.Is(e, unix.ENOENT) && !(fw.Owned && isPerm(e)) {
			err = nftError("removing table inet "+fw.table.Name, e)
		}
	}
	_ = fw.conn.CloseLasting()
	fw.conn, fw.nl = nil, nil
	return err
}

func isPerm(err error) bool { return errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) }

// nftError makes a netlink error one readable line.
func nftError(what string, err error) error {
	switch {
	case isPerm(err):
		return fmt.Errorf("--host-ports: %s: %v (needs CAP_NET_ADMIN)", what, syscall.EPERM)
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ENOENT) && strings.Contains(what, "socket"):
		return fmt.Errorf("--host-ports: %s: nftables is not available in this kernel (%v)", what, err)
	}
	return fmt.Errorf("--host-ports: %s: %v", what, err)
}

// tableFlags returns NFTA_TABLE_FLAGS: google/nftables v0.3.0 decodes
// the big-endian attribute in the machine's byte order.
func tableFlags(t *nftables.Table) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], t.Flags)
	return binary.BigEndian.Uint32(b[:])
}

func ptr[T any](v T) *T { return &v }
