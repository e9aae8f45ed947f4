package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/masscanned-go/masscanned/internal/report"
)

const reportUsageHead = `masscanned report - one self-contained HTML page from masscanned's JSON events

Usage:
  masscanned report [options] [EVENTS...]

EVENTS are JSON-lines files as "masscanned --format json" writes them
(gzip-compressed ones too); "-" or none (without --nats) reads stdin;
--nats reads a fleet stream too. The page has no
external resource (inline CSS and SVG charts) and needs no network to view.

Options:
`

const reportUsageTail = `
Memory is bounded: at most --max-items distinct credentials, commands,
URLs and values of each fingerprint, and --max-sources distinct source
addresses, are kept (the least frequent are pruned and the page says how
many); every total in the page counts every event.

Example:
  masscanned --format json -i eth1 > events.json
  masscanned report -o report.html events.json
  masscanned report -o fleet.html --nats nats://broker:4222
`

// runReport is "masscanned report": it reads events and writes the page.
func runReport(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("masscanned report", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	out := fs.StringP("output", "o", "-", "write the page to `FILE` (- = stdout)")
	title := fs.String("title", "masscanned report", "page `TITLE`")
	var opt report.Options
	fs.IntVar(&opt.Top, "top", 50, "rows of the ranked tables (sources, ports, fingerprints)")
	fs.IntVar(&opt.MaxItems, "max-items", 10000, "distinct credentials, commands, URLs and fingerprint values kept each")
	fs.IntVar(&opt.MaxSources, "max-sources", 100000, "distinct source addresses (and networks, destinations) kept")
	var ns natsSource
	fs.StringVar(&ns.url, "nats", "", "also read the events of a NATS JetStream stream (the fleet stream --nats publishes), up to its last message")
	fs.StringVar(&ns.stream, "nats-stream", "masscanned", "the stream to read with --nats")
	fs.StringVar(&ns.subject, "nats-subject", "", "only this subject's events (one sensor: masscanned.events.<sensor id>)")
	fs.StringVar(&ns.creds, "nats-creds", "", "NATS credentials `FILE` for --nats")
	help := fs.BoolP("help", "h", false, "show this help")
	usage := func(w io.Writer) {
		fmt.Fprint(w, reportUsageHead)
		fmt.Fprint(w, fs.FlagUsages())
		fmt.Fprint(w, reportUsageTail)
	}
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "masscanned: error: report: %v (see masscanned report --help)\n", err)
		return exitUsage
	}
	if *help {
		usage(stdout)
		return exitOK
	}
	if opt.Top < 1 || opt.MaxItems < 2 || opt.MaxSources < 2 {
		fmt.Fprintln(stderr, "masscanned: error: report: --top must be at least 1, --max-items and --max-sources at least 2")
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 && ns.url == "" {
		files = []string{"-"}
	}
	agg := report.New(opt)
	if ns.url != "" {
		if err := readNATS(agg, ns); err != nil {
			fmt.Fprintf(stderr, "masscanned: error: report: %v\n", err)
			return exitRuntime
		}
	}
	for _, name := range files {
		if err := readEvents(agg, name, stdin); err != nil {
			fmt.Fprintf(stderr, "masscanned: error: report: %v\n", err)
			return exitRuntime
		}
	}
	if err := writeReport(agg, *out, *title, stdout); err != nil {
		fmt.Fprintf(stderr, "masscanned: error: report: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

func readEvents(agg *report.Aggregator, name string, stdin io.Reader) error {
	if name == "-" {
		return agg.Read("stdin", stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return agg.Read(name, f)
}

// writeReport writes the page to path (- = w) through a temporary file
// renamed into place, so that a failed run leaves no half page.
func writeReport(agg *report.Aggregator, path, title string, w io.Writer) error {
	if path == "-" {
		return agg.Render(w, title, time.Now())
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := agg.Render(tmp, title, time.Now()); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %v", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
