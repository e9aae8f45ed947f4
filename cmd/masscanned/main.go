// Command masscanned is a network responder: it answers ARP, ICMP, TCP SYN
// on every port and application protocols on every address it owns, so
// that scanners and bots go on talking, and records everything they say.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/all"
	"github.com/masscanned-go/masscanned/internal/config"
	"github.com/masscanned-go/masscanned/internal/event"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "report" {
		os.Exit(runReport(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usageHead = `masscanned - network responder: answer them all, let them talk first

Usage:
  masscanned -i IFACE [options]         answer on a live interface (root or CAP_NET_RAW)
  masscanned --read-pcap FILE [options] replay a capture, optionally --write-pcap the replies
  masscanned report [-o OUT.html] [EVENTS...]  an HTML report of JSON events (see report --help)

Options:
`

const usageTail = `
Events (one per frame: received, answered or dropped with a reason) go to
stdout in the --format chosen; diagnostics go to stderr. SIGINT/SIGTERM stop
cleanly, flushing every event; SIGHUP reloads the self-IP and deny lists,
reopens --write-pcap and --ivre, starts the next --capture file and gives
the XDP program the new addresses.
`

// exit codes
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	var o config.Options
	fs := config.NewFlagSet(&o, stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fmt.Fprint(stderr, fs.FlagUsages())
		fmt.Fprint(stderr, usageTail)
	}
	rl := registerRateFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "masscanned: error: %v (see --help)\n", err)
		return exitUsage
	}
	if o.ShowHelp {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, usageHead)
		fmt.Fprint(stdout, fs.FlagUsages())
		fmt.Fprint(stdout, usageTail)
		return exitOK
	}
	if o.ShowVersion {
		fmt.Fprintf(stdout, "masscanned %s\n", config.Version)
		return exitOK
	}
	reg := all.Registry()
	if err := reg.SetEnabled(o.EnableProto, true); err != nil {
		fmt.Fprintf(stderr, "masscanned: error: --enable-proto: %v\n", err)
		return exitUsage
	}
	if err := reg.SetEnabled(o.DisableProto, false); err != nil {
		fmt.Fprintf(stderr, "masscanned: error: --disable-proto: %v\n", err)
		return exitUsage
	}
	if o.ListProtocols {
		listProtocols(stdout, reg)
		return exitOK
	}
	if err := o.Finish(); err != nil {
		fmt.Fprintf(stderr, "masscanned: error: %v\n", err)
		return exitUsage
	}
	budget, err := rl.build(o.NoRateLimit)
	if err != nil {
		fmt.Fprintf(stderr, "masscanned: error: %v\n", err)
		return exitUsage
	}
	log := newLogger(stderr, o.Verbose)
	if !o.HasCookieKey {
		if _, err := rand.Read(o.CookieKey[:]); err != nil {
			fmt.Fprintf(stderr, "masscanned: error: no randomness for the cookie key: %v\n", err)
			return exitRuntime
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{o: &o, reg: reg, budget: budget, log: log, stdout: stdout, stderr: stderr}
	if err := r.run(ctx); err != nil {
		fmt.Fprintf(stderr, "masscanned: error: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

func listProtocols(w io.Writer, reg *app.Registry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tSTATE\tDESCRIPTION")
	for _, p := range reg.List() {
		state := "enabled"
		if !p.Enabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, state, p.Description)
	}
	tw.Flush()
}

// LevelTrace is below slog's debug level (-vvv).
const LevelTrace = slog.Level(-8)

func newLogger(w io.Writer, verbose int) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case verbose >= 3:
		level = LevelTrace
	case verbose == 2:
		level = slog.LevelDebug
	case verbose == 1:
		level = slog.LevelInfo
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey && a.Value.Any() == LevelTrace {
			a.Value = slog.StringValue("TRACE")
		}
		return a
	}})
	return slog.New(h)
}

func formatSink(format string, w io.Writer) (event.Sink, error) {
	mk, err := event.ParseFormat(strings.ToLower(format))
	if err != nil {
		return nil, err
	}
	return mk(w), nil
}
