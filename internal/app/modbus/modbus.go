// Package modbus plays a Modbus/TCP PLC (a Schneider Electric Modicon by
// default): it answers Read Device Identification (0x2B/0x0E, basic and
// regular objects), Report Server ID (0x11) and reads of coils, discrete
// inputs, holding and input registers (0x01-0x04) with plausible values
// that stay the same for a host and address, refuses every write (0x05,
// 0x06, 0x0F, 0x10) with exception 0x01 (illegal function: the device is
// read-only to the network, so no write is ever acknowledged) and
// answers other functions with exception 0x01 as well. It records the
// unit id, the function, the address and quantity read and the values a
// client tried to write.
//
// Detection is by content on a weak signature, so it is strict: an MBAP
// header with protocol id 0, a length of 2 to 254, a known function code
// and, for the functions of fixed size, the length that function has.
//
// Profile key: banner "modbus" is "Vendor|ProductCode|Revision|ProductName|ModelName"
// (missing fields keep their defaults: "Schneider Electric|BMX P34 2020|v3.10|Modicon M340|BMX P34 2020").
package modbus

import (
	"encoding/binary"
	"hash/fnv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Description is the one-line summary shown in the protocol list.
const Description = "Modbus/TCP PLC (Schneider Modicon): device identification, server id and reads answered, writes refused (exception 01); records unit, function, address, values"

// DefaultEnabled says whether the protocol is on by default.
const DefaultEnabled = true

// DefaultIdentity is the device shown without a profile value.
const DefaultIdentity = "Schneider Electric|BMX P34 2020|v3.10|Modicon M340|BMX P34 2020"

// Handler is the Modbus/TCP handler.
type Handler struct{}

// New returns the Modbus handler.
func New() *Handler { return &Handler{} }

// Name implements app.Handler.
func (*Handler) Name() string { return "modbus" }

// Exception codes.
const (
	exIllegalFunction = 0x01
	exIllegalAddress  = 0x02
	exIllegalValue    = 0x03
)

var names = map[byte]string{
	0x01: "read_coils", 0x02: "read_discrete_inputs", 0x03: "read_holding_registers",
	0x04: "read_input_registers", 0x05: "write_single_coil", 0x06: "write_single_register",
	0x07: "read_exception_status", 0x08: "diagnostics", 0x0B: "get_comm_event_counter",
	0x0C: "get_comm_event_log", 0x0F: "write_multiple_coils", 0x10: "write_multiple_registers",
	0x11: "report_server_id", 0x14: "read_file_record", 0x15: "write_file_record",
	0x16: "mask_write_register", 0x17: "read_write_multiple_registers", 0x18: "read_fifo_queue",
	0x2B: "encapsulated_interface_transport",
}

// pduLen checks the MBAP length field l (unit id + PDU) against function
// fc: the fixed size of fc's request, or at least its minimum.
func pduLen(fc byte, l int) bool {
	switch fc {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06:
		return l == 6
	case 0x07, 0x0B, 0x0C, 0x11:
		return l == 2
	case 0x2B:
		return l >= 3 // MEI 0x0E: 5, checked with the MEI type
	case 0x0F, 0x10:
		return l >= 8
	case 0x08:
		return l >= 6
	case 0x16:
		return l == 8
	case 0x17:
		return l >= 12
	case 0x18:
		return l == 4
	case 0x14, 0x15:
		return l >= 3
	}
	return false
}

// Detect implements app.Handler.
func (*Handler) Detect(data []byte, t app.Transport) app.Verdict {
	if t != app.TCP {
		return app.No
	}
	for i, b := range data {
		switch {
		case i == 2 || i == 3 || i == 4:
			if b != 0 {
				return app.No
			}
		case i == 5:
			if b < 2 || b > 254 {
				return app.No
			}
		case i == 7:
			if _, ok := names[b]; !ok || !pduLen(b, int(data[5])) {
				return app.No
			}
			return detectMore(data)
		}
	}
	return app.Maybe
}

// detectMore checks what follows the function code where it is known.
func detectMore(data []byte) app.Verdict {
	fc, l := data[7], int(data[5])
	switch fc {
	case 0x2B:
		if len(data) < 9 {
			return app.Maybe
		}
		if data[8] == 0x0E && l != 5 || data[8] != 0x0E && data[8] != 0x0D {
			return app.No
		}
	case 0x0F, 0x10:
		if len(data) < 13 {
			return app.Maybe
		}
		if int(data[12])+7 != l {
			return app.No
		}
	}
	return app.Yes
}

// Serve implements app.Handler: one ADU per call.
func (*Handler) Serve(c *app.Conn, data []byte) app.Result {
	if len(data) < 8 {
		if len(data) >= 6 && (data[2] != 0 || data[3] != 0 || data[4] != 0 || data[5] < 2 || data[5] > 254) {
			return bad(data)
		}
		return app.Result{NeedMore: true}
	}
	if data[2] != 0 || data[3] != 0 || data[4] != 0 || data[5] < 2 || data[5] > 254 {
		return bad(data)
	}
	total := 6 + int(data[5])
	if len(data) < total {
		return app.Result{NeedMore: true}
	}
	unit, fc := data[6], data[7]
	pdu := data[8:total]
	f := []event.Field{{Key: "unit_id", Value: int(unit)}, {Key: "function_code", Value: int(fc)}}
	if n, ok := names[fc&0x7f]; ok {
		f = append(f, event.Field{Key: "function", Value: n})
	} else {
		f = append(f, event.Field{Key: "function", Value: "unknown"})
	}
	res := app.Result{Consumed: total}
	pduReply, more := answer(c, fc, pdu)
	f = append(f, more...)
	res.Fields = f
	res.Reply = make([]byte, 0, 7+len(pduReply))
	res.Reply = append(res.Reply, data[0], data[1], 0, 0)
	res.Reply = binary.BigEndian.AppendUint16(res.Reply, uint16(1+len(pduReply)))
	res.Reply = append(res.Reply, unit)
	res.Reply = append(res.Reply, pduReply...)
	return res
}

// bad: a real device drops a connection whose MBAP header is broken.
func bad(data []byte) app.Result {
	return app.Result{Consumed: len(data), Close: true,
		Fields: []event.Field{{Key: "error", Value: "bad MBAP header"}, {Key: "data", Value: app.Printable(data[:min(len(data), 64)])}}}
}

func exception(fc, code byte) []byte { return []byte{fc | 0x80, code} }

// answer gives the response PDU for function fc with request data pdu,
// and the fields to record.
func answer(c *app.Conn, fc byte, pdu []byte) ([]byte, []event.Field) {
	u16 := func(i int) int { return int(binary.BigEndian.Uint16(pdu[i:])) }
	switch fc {
	case 0x01, 0x02, 0x03, 0x04:
		if len(pdu) != 4 {
			return exception(fc, exIllegalValue), nil
		}
		addr, qty := u16(0), u16(2)
		f := []event.Field{{Key: "address", Value: addr}, {Key: "quantity", Value: qty}}
		maxQty := 2000
		if fc >= 3 {
			maxQty = 125
		}
		if qty < 1 || qty > maxQty {
			return exception(fc, exIllegalValue), f
		}
		if addr+qty > 65536 {
			return exception(fc, exIllegalAddress), f
		}
		if fc <= 2 {
			n := (qty + 7) / 8
			out := make([]byte, 2+n)
			out[0], out[1] = fc, byte(n)
			for i := range qty {
				if bit(c, fc, addr+i) {
					out[2+i/8] |= 1 << (i % 8)
				}
			}
			return out, f
		}
		out := make([]byte, 2, 2+2*qty)
		out[0], out[1] = fc, byte(2*qty)
		for i := range qty {
			out = binary.BigEndian.AppendUint16(out, register(c, fc, addr+i))
		}
		return out, f
	case 0x05, 0x06:
		if len(pdu) != 4 {
			return exception(fc, exIllegalFunction), nil
		}
		return exception(fc, exIllegalFunction), []event.Field{{Key: "address", Value: u16(0)}, {Key: "values", Value: []int{u16(2)}}}
	case 0x0F, 0x10:
		if len(pdu) < 5 {
			return exception(fc, exIllegalFunction), nil
		}
		addr, qty, n := u16(0), u16(2), int(pdu[4])
		f := []event.Field{{Key: "address", Value: addr}, {Key: "quantity", Value: qty}}
		vals := pdu[5:]
		if n < len(vals) {
			vals = vals[:n]
		}
		var v []int
		if fc == 0x0F {
			for i := 0; i < qty && i/8 < len(vals) && i < 1968; i++ {
				v = append(v, int(vals[i/8]>>(i%8)&1))
			}
		} else {
			for i := 0; i+1 < len(vals) && i/2 < qty; i += 2 {
				v = append(v, int(binary.BigEndian.Uint16(vals[i:])))
			}
		}
		if len(v) > 0 {
			f = append(f, event.Field{Key: "values", Value: v})
		}
		return exception(fc, exIllegalFunction), f
	case 0x11:
		id := identity(c)
		extra := id[1]
		out := []byte{fc, byte(2 + len(extra)), 0x01, 0xFF}
		return append(out, extra...), nil
	case 0x2B:
		if len(pdu) < 1 || pdu[0] != 0x0E {
			return exception(fc, exIllegalFunction), nil
		}
		if len(pdu) != 3 {
			return exception(fc, exIllegalValue), nil
		}
		code, obj := pdu[1], pdu[2]
		f := []event.Field{{Key: "read_device_id_code", Value: int(code)}, {Key: "object_id", Value: int(obj)}}
		return deviceID(c, code, obj), f
	}
	return exception(fc, exIllegalFunction), nil
}

// identity is the device's objects 0 to 6: VendorName, ProductCode,
// MajorMinorRevision, VendorUrl, ProductName, ModelName,
// UserApplicationName.
func identity(c *app.Conn) [7]string {
	def := strings.Split(DefaultIdentity, "|")
	got := strings.Split(c.Banner("modbus", DefaultIdentity), "|")
	var id [7]string
	for i := range 5 {
		id[i+boolIdx(i >= 3)] = def[i]
		if i < len(got) && strings.TrimSpace(got[i]) != "" {
			id[i+boolIdx(i >= 3)] = strings.TrimSpace(got[i])
		}
	}
	id[3] = "http://www.schneider-electric.com"
	if !strings.EqualFold(id[0], "Schneider Electric") {
		id[3] = ""
	}
	id[6] = "PLC_" + strings.ToUpper(strings.ReplaceAll(id[5], " ", ""))
	for i := range id {
		if len(id[i]) > 64 {
			id[i] = id[i][:64]
		}
	}
	return id
}

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

// deviceID is the Read Device Identification response (Modbus spec
// 6.21): stream access (codes 1 basic, 2 regular, 3 extended = regular
// here) from obj, or one object (code 4).
func deviceID(c *app.Conn, code, obj byte) []byte {
	id := identity(c)
	last := byte(2)
	switch code {
	case 1:
	case 2, 3:
		last = 6
	case 4:
		if obj > 6 || id[obj] == "" {
			return exception(0x2B, exIllegalAddress)
		}
		out := []byte{0x2B, 0x0E, code, 0x82, 0x00, 0x00, 1, obj, byte(len(id[obj]))}
		return append(out, id[obj]...)
	default:
		return exception(0x2B, exIllegalValue)
	}
	if obj > last {
		obj = 0 // an unknown object: as if object 0 were asked
	}
	out := []byte{0x2B, 0x0E, code, 0x82, 0x00, 0x00, 0}
	n := 0
	for i := obj; i <= last; i++ {
		if id[i] == "" {
			continue
		}
		out = append(out, i, byte(len(id[i])))
		out = append(out, id[i]...)
		n++
	}
	out[6] = byte(n)
	return out
}

func hash(c *app.Conn, fc byte, addr int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.Host()))
	h.Write([]byte{fc, byte(addr >> 8), byte(addr)})
	x := h.Sum64() // splitmix64's finaliser: FNV's low bits follow the last byte
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// bit is the value of a coil or discrete input: mostly off, fixed per
// host and address.
func bit(c *app.Conn, fc byte, addr int) bool { return hash(c, fc, addr)%5 == 0 }

// register is the value of a holding or input register: zero for most
// addresses, small counters and setpoints for the others, fixed per host
// and address.
func register(c *app.Conn, fc byte, addr int) uint16 {
	h := hash(c, fc, addr)
	switch h % 4 {
	case 0:
		return 0
	case 1:
		return uint16(h >> 8 % 100)
	case 2:
		return uint16(h >> 16 % 2000)
	}
	return uint16(h >> 24 % 65536)
}
