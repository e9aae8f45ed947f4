package main

import (
	"context"
	"log/slog"

	"github.com/masscanned-go/masscanned/internal/capture"
	"github.com/masscanned-go/masscanned/internal/config"
	"github.com/masscanned-go/masscanned/internal/event"
)

// openCapture starts --capture. It runs after privileges are dropped: the
// files, and the next ones rotation creates, belong to --user.
func (r *runner) openCapture() error {
	o := r.o
	if o.Capture == "" {
		return nil
	}
	iface := o.Iface
	if iface == "" {
		iface = "read-pcap"
	}
	c, err := capture.Open(capture.Options{
		Path:        o.Capture,
		RotateSize:  o.CaptureRotateBytes,
		RotateEvery: o.CaptureRotateEvery,
		Queue:       o.CaptureQueue,
		Interface:   iface,
		Application: "masscanned " + config.Version,
		OnFile: func(path, why string) {
			level := slog.LevelInfo
			if why == "reopen" {
				level = slog.LevelWarn // as the other SIGHUP actions
			}
			r.log.Log(context.Background(), level, "capture file", "path", path, "why", why)
		},
		OnError: func(err error) { r.log.Error("capture failed, packets are lost until the next file", "err", err) },
	})
	if err != nil {
		return err
	}
	r.capt = c
	return nil
}

// captureEmit returns the Config.Emit of a worker's stack: next, through
// the worker's capture tap when --capture is on.
func (r *runner) captureEmit(next func(*event.Event)) func(*event.Event) {
	if r.capt == nil {
		return next
	}
	t := r.capt.NewTap(next)
	r.taps = append(r.taps, t)
	return t.Emit
}

// tap is worker i's capture tap (nil without --capture).
func (r *runner) tap(i int) *capture.Tap {
	if i < len(r.taps) {
		return r.taps[i]
	}
	return nil
}

// closeCapture writes what is queued and closes the file; it may be
// called again.
func (r *runner) closeCapture() error {
	if r.capt == nil {
		return nil
	}
	return r.capt.Close()
}

// captureReport adds the capture's counters to report's arguments.
func (r *runner) captureReport(args []any) []any {
	if r.capt == nil {
		return args
	}
	return append(args, "capture_packets", r.capt.Written(), "capture_dropped", r.capt.Dropped(),
		"capture_errors", r.capt.Errors(), "capture_files", r.capt.Files())
}
