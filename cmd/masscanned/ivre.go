package main

import (
	"errors"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/ivre"
)

// openIVRE starts --ivre: its writer joins the event sink s (nil with
// -q), in the same Async goroutine, off the packet path. It runs after
// privileges are dropped: the file belongs to --user.
func (r *runner) openIVRE(s event.Sink) (event.Sink, error) {
	if r.o.IVRE == "" {
		return s, nil
	}
	w, err := ivre.Create(r.o.IVRE)
	if err != nil {
		return nil, err
	}
	r.ivre = w
	r.log.Info("IVRE passive recon records", "file", r.o.IVRE)
	if s == nil {
		return w, nil
	}
	return teeSink{s, w}, nil
}

// reopenIVRE makes the --ivre writer reopen its file (SIGHUP: log
// rotation).
func (r *runner) reopenIVRE() {
	if r.ivre != nil {
		r.ivre.Reopen()
		r.log.Warn("reopening --ivre", "path", r.o.IVRE)
	}
}

// ivreReport adds the records written to report's arguments.
func (r *runner) ivreReport(args []any) []any {
	if r.ivre == nil {
		return args
	}
	return append(args, "ivre_records", r.ivre.Records())
}

// teeSink writes every event to both sinks; an error of either is
// returned, the other still gets the event.
type teeSink struct{ a, b event.Sink }

func (t teeSink) Write(e *event.Event) error { return errors.Join(t.a.Write(e), t.b.Write(e)) }
func (t teeSink) Flush() error               { return errors.Join(t.a.Flush(), t.b.Flush()) }
func (t teeSink) Close() error               { return errors.Join(t.a.Close(), t.b.Close()) }
