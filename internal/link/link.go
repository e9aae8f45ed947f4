// Package link moves Ethernet frames between the outside world and the
// stack. Backends (AF_PACKET rings, pcap file) implement Link; nothing
// here interprets frames.
//
// The contract is batched in both directions, in the manner of
// wireguard-go's conn.Bind and tun.Device: Recv fills a batch of frames
// (as many as the backend has ready, at least one), the caller hands each
// to the stack and collects the replies, and Send transmits the batch of
// replies in one call (one system call for a ring or sendmmsg backend).
// What only some backends can do is a small optional interface: Drainer,
// Waker, BatchSizer, Interfacer, Backlogger.
package link

import (
	"errors"
	"net"
	"time"
)

// ErrClosed is returned by Recv and Send after Close.
var ErrClosed = errors.New("link closed")

// ErrTimeout is returned by Recv when no frame came in time.
var ErrTimeout = errors.New("link: no frame before the timeout")

// Frame is one received Ethernet frame.
type Frame struct {
	// Data is the frame from the destination MAC on, 802.1Q tag included
	// (backends that receive the tag out of band put it back). It is valid
	// until the next call to Recv.
	Data []byte
	// Time is when the frame was received (capture time for files).
	Time time.Time
	// ChecksumNotReady: the kernel has not computed the L4 checksum yet
	// (checksum offload on a local path); the stack must not verify it.
	ChecksumNotReady bool
}

// Stats counts what a link did.
type Stats struct {
	Received    uint64 // frames returned by Recv
	Sent        uint64 // frames sent
	SendErrors  uint64 // frames Send failed to send
	KernelDrops uint64 // frames the kernel dropped before we read them
}

// Link is a batched source and sink of Ethernet frames. Recv belongs to
// one goroutine at a time; Send may run concurrently with Recv.
type Link interface {
	// Recv waits until at least one frame is ready, or until timeout has
	// passed (0: no limit), and fills frames[:n] with the frames ready,
	// at most len(frames). Their Data stay valid until the next Recv:
	// the backend may hand out its own buffers (a ring's slots) and takes
	// them back then. Recv returns ErrTimeout when no frame came in time
	// (or Wake was called), io.EOF when an offline source is exhausted and
	// ErrClosed after Close or at the end of a Drain.
	Recv(frames []Frame, timeout time.Duration) (n int, err error)
	// Send transmits frames, in order, in as few system calls as the
	// backend can. The caller may reuse the frames once it returns. It
	// returns how many were sent; on an error the rest were not (and are
	// counted in Stats.SendErrors).
	Send(frames [][]byte) (n int, err error)
	// Close releases the link and unblocks Recv.
	Close() error
	// Stats returns counters.
	Stats() Stats
}

// BatchSizer is implemented by links that want batches of a given size:
// the caller passes Recv up to BatchSize frames (a capture replays one
// frame at a time, so that replies are stamped with their frame's time).
type BatchSizer interface {
	BatchSize() int
}

// DefaultBatchSize is the batch for links without BatchSizer.
const DefaultBatchSize = 64

// BatchSize is l's preferred batch size.
func BatchSize(l Link) int {
	if b, ok := l.(BatchSizer); ok && b.BatchSize() > 0 {
		return b.BatchSize()
	}
	return DefaultBatchSize
}

// Waker is implemented by links whose blocked Recv can be woken from
// another goroutine: it then returns ErrTimeout at once, so the caller
// runs the stack's timers (a library wrote to a connection).
type Waker interface {
	Wake()
}

// Wake wakes l if it can.
func Wake(l Link) {
	if w, ok := l.(Waker); ok {
		w.Wake()
	}
}

// Backlogger is implemented by live links that know how many received
// frames wait beyond those Recv returned (a ring's occupancy): how far
// the reader is behind its input.
type Backlogger interface {
	Backlog() int
}

// Drainer is implemented by links that can stop without losing what they
// already received: after Drain, Recv returns the frames already received
// (waiting at most a few milliseconds for the kernel to hand over a
// partly filled buffer) and then ErrClosed. Close must still be called.
type Drainer interface {
	Drain()
}

// Drain drains l if it can, else closes it.
func Drain(l Link) {
	if d, ok := l.(Drainer); ok {
		d.Drain()
		return
	}
	l.Close()
}

// Info describes the interface under a live link.
type Info struct {
	Name  string           // interface name
	Index int              // interface index
	MAC   net.HardwareAddr // its Ethernet address (nil if none)
	MTU   int
	// Queue is the receive queue the link serves (-1: all of them, as an
	// AF_PACKET socket does).
	Queue int
	// Backend names the mechanism ("afpacket tpacket-v3 rx, tx ring").
	Backend string
}

// Interfacer is implemented by live links.
type Interfacer interface {
	Interface() Info
}
