// Package link moves Ethernet frames between the outside world and the
// stack. Backends (AF_PACKET ring, pcap file) implement Link; nothing here
// interprets frames.
package link

import (
	"errors"
	"time"
)

// ErrClosed is returned by Recv after Close.
var ErrClosed = errors.New("link closed")

// ErrTimeout is returned by RecvTimeout when no frame came in time.
var ErrTimeout = errors.New("link: no frame before the timeout")

// TimedReceiver is implemented by live links whose receive can give up
// after a while, so that the run loop runs the stack's timers on an idle
// link.
type TimedReceiver interface {
	// RecvTimeout is Recv, but returns ErrTimeout when no frame arrived
	// within d.
	RecvTimeout(f *Frame, d time.Duration) error
}

// Waker is implemented by links whose blocked RecvTimeout can be woken
// from another goroutine: it then returns ErrTimeout at once, so the run
// loop runs the stack's timers (a library wrote to a connection).
type Waker interface {
	Wake()
}

// Wake wakes l if it can.
func Wake(l Link) {
	if w, ok := l.(Waker); ok {
		w.Wake()
	}
}

// RecvTimeout receives from l, giving up after d if l can.
func RecvTimeout(l Link, f *Frame, d time.Duration) error {
	if tr, ok := l.(TimedReceiver); ok {
		return tr.RecvTimeout(f, d)
	}
	return l.Recv(f)
}

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

// Link is a source and sink of Ethernet frames.
type Link interface {
	// Recv blocks until a frame arrives. It returns io.EOF when an
	// offline source is exhausted and ErrClosed after Close.
	Recv(f *Frame) error
	// Send transmits one frame. The caller may reuse frame afterwards.
	Send(frame []byte) error
	// Close releases the link and unblocks Recv.
	Close() error
	// Stats returns counters.
	Stats() Stats
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
