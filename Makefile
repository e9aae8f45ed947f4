# masscanned: build, test, fuzz, benchmark, demo.
#
#   make build       static binary in bin/masscanned
#   make demo        throwaway namespaces, masscanned answering real clients
#   make test        the whole suite (root: end-to-end tests in namespaces)
#   make fuzz        every fuzz target for FUZZTIME (default 10m) each
#   make fuzz-short  every fuzz target for 10s each (part of make test)
#   make bench       per-packet micro-benchmarks
#   make deps        install the Debian packages the tests and demo use
#   make clean

GO        ?= go
FUZZTIME  ?= 10m
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || ls $$($(GO) env GOPATH)/bin/staticcheck 2>/dev/null)
E2E_TIMEOUT ?= 40m

# Debian packages used by the tests, the demo and CI.
DEB_PACKAGES = iproute2 nmap hping3 arping ndisc6 netcat-openbsd iputils-ping \
	nftables tcpdump python3-scapy masscan tshark smbclient rpcbind stun-client \
	dnsutils curl openssh-client systemd netsniff-ng p0f sshpass openssh-server hydra \
	telnet ssh-audit openssl sipvicious sipsak mosquitto-clients freetds-bin \
	python3-impacket freerdp2-x11 xvfb xauth adb redis-tools mbpoll prometheus \
	lftp ftp swaks mariadb-client vncsnapshot chromium nats-server

.PHONY: all build demo test check unit fuzz fuzz-short e2e bench deps clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o bin/masscanned ./cmd/masscanned

demo:
	./scripts/demo.sh

test: deps check unit fuzz-short e2e

# gofmt, go vet, staticcheck (when installed)
check:
	@echo "== gofmt"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "== go vet"
	$(GO) vet ./...
	@if [ -n "$(STATICCHECK)" ]; then echo "== staticcheck"; $(STATICCHECK) ./...; \
	else echo "== staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@latest); skipped"; fi

unit:
	@echo "== unit tests"
	CGO_ENABLED=0 $(GO) test -count=1 ./...

# Every fuzz target (discovered with go test -list), one after the other;
# a failing target is run once more (see below).
fuzz:
	@set -e; $(GO) test -list 'Fuzz.*' ./... | \
	awk '/^Fuzz/ { n[++c] = $$1; next } /^ok/ { for (i = 1; i <= c; i++) print $$2, n[i]; c = 0 }' | \
	while read -r pkg name; do \
		echo "== fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || \
		{ echo "== $$name failed: once more (the engine can report 'context deadline exceeded' on a loaded machine; a real crasher is now in testdata and fails again)"; \
		  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; } || exit 1; \
	done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

e2e:
	@echo "== end-to-end tests (network namespaces)"
	@if [ "$$(id -u)" != 0 ]; then echo "make e2e/test: the end-to-end tests need root" >&2; exit 1; fi
	MASSCANNED_E2E=1 $(GO) test -count=1 -p 1 -parallel 4 -timeout $(E2E_TIMEOUT) ./e2e/...

bench:
	$(GO) test -run XXX -bench . -benchmem ./internal/...

# Install the Debian packages when missing (only as root with apt-get).
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "deps: missing Debian packages:$$missing (install them as root)" >&2; exit 0; fi; \
	echo "== installing:$$missing"; \
	echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get install -y -q --no-install-recommends $$missing

clean:
	rm -rf bin
	$(GO) clean -testcache
