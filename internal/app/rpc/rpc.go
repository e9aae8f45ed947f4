// Package rpc answers ONC RPC (RFC 5531) calls as a portmapper / rpcbind
// (program 100000, versions 2 to 4, RFC 1833) would: NULL, GETPORT /
// GETADDR and DUMP, advertising only itself on the port the call arrived
// on. Calls to other programs are refused (PROG_UNAVAIL) but recorded.
//
// Framing comes from the transport: over TCP a call is a record made of
// fragments, each behind a 4-byte record marker (RFC 5531 §11); over UDP
// the datagram is the call.
package rpc

import (
	"encoding/binary"
	"strconv"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in protocol listings.
const Description = "ONC RPC portmapper/rpcbind v2-v4: NULL, GETPORT/GETADDR, DUMP"

// DefaultEnabled: rpcbind is answered by default.
const DefaultEnabled = true

// MaxRecord caps a TCP record (all fragments of one call).
const MaxRecord = 64 << 10

// RPC constants.
const (
	msgCall  = 0
	msgReply = 1

	msgAccepted = 0
	msgDenied   = 1

	rpcMismatch = 0

	success      = 0
	progUnavail  = 1
	progMismatch = 2
	procUnavail  = 3
	garbageArgs  = 4

	authNone = 0
	authSys  = 1

	pmapProg = 100000

	maxAuth = 400 // RFC 5531: opaque body<400>
)

var progNames = map[uint32]string{
	100000: "portmapper",
	100001: "rstatd",
	100002: "rusersd",
	100003: "nfs",
	100004: "ypserv",
	100005: "mountd",
	100007: "ypbind",
	100008: "walld",
	100009: "yppasswdd",
	100011: "rquotad",
	100012: "sprayd",
	100021: "nlockmgr",
	100024: "status",
	100068: "cmsd",
	100083: "ttdbserverd",
	100133: "nsm_addrand",
	100227: "nfs_acl",
	100249: "snmpXdmid",
	150001: "pcnfsd",
	300019: "amd",
	391002: "sgi_fam",
}

var pmapProcs = [...]string{"NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT", "GETTIME", "UADDR2TADDR", "TADDR2UADDR", "GETVERSADDR", "INDIRECT", "GETADDRLIST", "GETSTAT"}

// Handler is the ONC RPC handler.
type Handler struct{}

// New returns an RPC handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "rpc" }

// Detect implements app.Handler: a CALL message (type 0) with an RPC
// version below 256 (so that version mismatches can be answered), behind a
// sane record marker over TCP. Shorter prefixes that still fit give Maybe.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	off := 0
	if t == app.TCP {
		if len(data) < 4 {
			return app.Maybe
		}
		fl := binary.BigEndian.Uint32(data) & 0x7fffffff
		if fl < 12 || fl > MaxRecord {
			return app.No
		}
		off = 4
	}
	// xid(4) mtype(4)=0 rpcvers(4)<256
	want := [8]byte{0, 0, 0, 0, 0, 0, 0}
	h := data[min(len(data), off+4):]
	for i := 0; i < len(h) && i < 7; i++ {
		if h[i] != want[i] {
			return app.No
		}
	}
	if len(data) < off+12 {
		return app.Maybe
	}
	return app.Yes
}

// Serve implements app.Handler.
func (h *Handler) Serve(c *app.Conn, data []byte) app.Result {
	if c.Transport != app.TCP {
		body, fields := h.call(c, data)
		if body == nil {
			return app.Result{Consumed: len(data), Fields: fields}
		}
		return app.Result{Consumed: len(data), Reply: body, Fields: fields}
	}
	// Reassemble one record from its fragments.
	var rec []byte
	off := 0
	for {
		if len(data)-off < 4 {
			return app.Result{NeedMore: true}
		}
		m := binary.BigEndian.Uint32(data[off:])
		fl := int(m & 0x7fffffff)
		if len(rec)+fl > MaxRecord {
			return app.Result{Fields: []event.Field{{Key: "error", Value: "record too large"}}}
		}
		if len(data)-off-4 < fl {
			return app.Result{NeedMore: true}
		}
		if m&0x80000000 != 0 && rec == nil {
			// Single-fragment record: no copy.
			rec = data[off+4 : off+4+fl]
		} else {
			rec = append(rec, data[off+4:off+4+fl]...)
		}
		off += 4 + fl
		if m&0x80000000 != 0 {
			break
		}
	}
	body, fields := h.call(c, rec)
	if body == nil {
		return app.Result{Consumed: off, Fields: fields}
	}
	out := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(out, 0x80000000|uint32(len(body)))
	return app.Result{Consumed: off, Reply: append(out, body...), Fields: fields}
}

// reader is a bounds-checked XDR decoder.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) u32() uint32 {
	if !r.ok || len(r.b) < 4 {
		r.ok = false
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// opaque reads variable-length opaque data of at most max bytes, with its
// XDR padding.
func (r *reader) opaque(max int) []byte {
	n := r.u32()
	if !r.ok || n > uint32(max) || int(n) > len(r.b) {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	p := (int(n) + 3) &^ 3
	if p > len(r.b) {
		// Missing padding at the very end: tolerate it.
		p = len(r.b)
	}
	r.b = r.b[p:]
	return v
}

// writer is an XDR encoder.
type writer []byte

func (w *writer) u32(v uint32) { *w = binary.BigEndian.AppendUint32(*w, v) }

func (w *writer) str(s string) {
	w.u32(uint32(len(s)))
	*w = append(*w, s...)
	for i := len(s); i%4 != 0; i++ {
		*w = append(*w, 0)
	}
}

// call decodes one call message and builds the reply body (nil: no reply).
func (h *Handler) call(c *app.Conn, msg []byte) ([]byte, []event.Field) {
	r := reader{b: msg, ok: true}
	xid := r.u32()
	mtype := r.u32()
	rpcvers := r.u32()
	if !r.ok {
		return nil, []event.Field{{Key: "error", Value: "truncated header"}}
	}
	f := []event.Field{{Key: "xid", Value: int(xid)}}
	if mtype != msgCall {
		return nil, append(f, event.Field{Key: "error", Value: "not a call"})
	}
	f = append(f, event.Field{Key: "rpc_version", Value: int(rpcvers)})
	w := writer(make([]byte, 0, 128))
	w.u32(xid)
	w.u32(msgReply)
	if rpcvers != 2 {
		w.u32(msgDenied)
		w.u32(rpcMismatch)
		w.u32(2)
		w.u32(2)
		return w, append(f, event.Field{Key: "reply", Value: "RPC_MISMATCH"})
	}
	prog := r.u32()
	vers := r.u32()
	proc := r.u32()
	credFlavor := r.u32()
	cred := r.opaque(maxAuth)
	r.u32() // verifier flavor
	r.opaque(maxAuth)
	if !r.ok {
		return nil, append(f, event.Field{Key: "error", Value: "truncated call"})
	}
	f = append(f, event.Field{Key: "program", Value: int(prog)})
	if n, ok := progNames[prog]; ok {
		f = append(f, event.Field{Key: "program_name", Value: n})
	}
	f = append(f, event.Field{Key: "version", Value: int(vers)}, event.Field{Key: "procedure", Value: int(proc)})
	if prog == pmapProg && int(proc) < len(pmapProcs) {
		f = append(f, event.Field{Key: "procedure_name", Value: pmapProcs[proc]})
	}
	f = append(f, event.Field{Key: "cred_flavor", Value: int(credFlavor)})
	if credFlavor == authSys {
		f = append(f, authSysFields(cred)...)
	}
	args := r.b

	// Accepted reply, AUTH_NONE verifier.
	w.u32(msgAccepted)
	w.u32(authNone)
	w.u32(0)
	stat := func(s uint32, name string) ([]byte, []event.Field) {
		w.u32(s)
		if s == progMismatch {
			w.u32(2)
			w.u32(4)
		}
		return w, append(f, event.Field{Key: "reply", Value: name})
	}
	upstream := c.Personality == "masscanned"
	if prog != pmapProg && !upstream {
		return stat(progUnavail, "PROG_UNAVAIL")
	}
	// Upstream checks the version of any program, and answers NULL for
	// any program (nmap's rpc-grind then names the service).
	if vers < 2 || vers > 4 {
		return stat(progMismatch, "PROG_MISMATCH")
	}
	if proc == 0 {
		return stat(success, "SUCCESS")
	}
	if prog != pmapProg {
		return stat(progUnavail, "PROG_UNAVAIL")
	}
	port := c.Server.Port()
	switch {
	case proc == 3 && vers == 2: // PMAPPROC_GETPORT(mapping)
		a := reader{b: args, ok: true}
		qprog, qvers, qprot := a.u32(), a.u32(), a.u32()
		a.u32()
		if !a.ok {
			return stat(garbageArgs, "GARBAGE_ARGS")
		}
		f = append(f, event.Field{Key: "getport_program", Value: int(qprog)},
			event.Field{Key: "getport_version", Value: int(qvers)},
			event.Field{Key: "getport_protocol", Value: int(qprot)})
		w.u32(success)
		if qprog == pmapProg {
			w.u32(uint32(port))
		} else {
			w.u32(0)
		}
		return w, append(f, event.Field{Key: "reply", Value: "SUCCESS"})
	case proc == 3: // RPCBPROC_GETADDR(rpcb)
		a := reader{b: args, ok: true}
		qprog, qvers := a.u32(), a.u32()
		netid := a.opaque(255)
		a.opaque(255) // r_addr
		a.opaque(255) // r_owner
		if !a.ok {
			return stat(garbageArgs, "GARBAGE_ARGS")
		}
		f = append(f, event.Field{Key: "getport_program", Value: int(qprog)},
			event.Field{Key: "getport_version", Value: int(qvers)},
			event.Field{Key: "getport_netid", Value: app.Printable(netid)})
		w.u32(success)
		if qprog == pmapProg {
			w.str(uaddr(c))
		} else {
			w.str("")
		}
		return w, append(f, event.Field{Key: "reply", Value: "SUCCESS"})
	case proc == 4: // DUMP
		w.u32(success)
		return dump(c, w, int(vers)), append(f, event.Field{Key: "reply", Value: "SUCCESS"})
	case (proc == 1 || proc == 2) && !upstream:
		// SET / UNSET from the network: rpcbind refuses with FALSE.
		w.u32(success)
		w.u32(0)
		return w, append(f, event.Field{Key: "reply", Value: "SUCCESS"})
	case proc == 6 && vers >= 3 && !upstream:
		// GETTIME
		w.u32(success)
		w.u32(uint32(c.Now.Unix()))
		return w, append(f, event.Field{Key: "reply", Value: "SUCCESS"})
	}
	return stat(procUnavail, "PROC_UNAVAIL")
}

// dump appends the portmapper's own registrations after the SUCCESS word:
// program 100000 versions 2, 3 and 4 on the transport and port the call
// came in on. Over UDP with a reply cap, trailing entries are dropped
// until the reply fits (it remains a valid, shorter list).
func dump(c *app.Conn, w writer, vers int) []byte {
	head := len(w)
	n := 3
	for {
		w = w[:head]
		for i := 0; i < n; i++ {
			v := uint32(4 - i) // rpcbind lists the newest version first
			if c.Personality == "masscanned" {
				v = uint32(2 + i)
			}
			w.u32(1) // value follows
			w.u32(pmapProg)
			w.u32(v)
			if vers == 2 {
				prot := uint32(6)
				if c.Transport == app.UDP {
					prot = 17
				}
				w.u32(prot)
				w.u32(uint32(c.Server.Port()))
			} else {
				w.str(netid(c))
				w.str(uaddr(c))
				w.str("superuser")
			}
		}
		w.u32(0)
		if c.MaxReply == 0 || len(w) <= c.MaxReply || n == 1 {
			return w
		}
		n--
	}
}

func netid(c *app.Conn) string {
	s := "tcp"
	if c.Transport == app.UDP {
		s = "udp"
	}
	if a := c.Server.Addr(); a.Is6() && !a.Is4In6() {
		s += "6"
	}
	return s
}

// uaddr is the universal address (RFC 1833) of the port the call came to.
func uaddr(c *app.Conn) string {
	a := c.Server.Addr().Unmap().WithZone("")
	p := c.Server.Port()
	return a.String() + "." + strconv.Itoa(int(p>>8)) + "." + strconv.Itoa(int(p&0xff))
}

// authSysFields decodes an AUTH_SYS credential body (RFC 5531 §A.1).
func authSysFields(b []byte) []event.Field {
	r := reader{b: b, ok: true}
	r.u32() // stamp
	name := r.opaque(255)
	uid := r.u32()
	gid := r.u32()
	if !r.ok {
		return []event.Field{{Key: "cred_error", Value: "bad AUTH_SYS"}}
	}
	return []event.Field{
		{Key: "machinename", Value: app.Printable(name)},
		{Key: "uid", Value: int(uid)},
		{Key: "gid", Value: int(gid)},
	}
}
