#!/bin/sh
# Check contrib/masscanned.service with `systemd-analyze verify`, for CI.
#
# The unit names /usr/local/bin/masscanned, which CI machines do not have,
# so the check runs on a copy whose ExecStart points at a placeholder
# executable in a temporary directory: every other warning or error is
# real and fails the check (exit 1). Exit 77 (skip) if systemd-analyze is
# missing.
#
# Usage: contrib/verify-unit.sh [path/to/masscanned.service]
set -eu

unit=${1:-$(dirname "$0")/masscanned.service}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "verify-unit: systemd-analyze not found (apt-get install systemd); skipping" >&2
	exit 77
fi
[ -r "$unit" ] || { echo "verify-unit: cannot read $unit" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
printf '#!/bin/sh\nexit 0\n' >"$tmp/masscanned"
chmod 0755 "$tmp/masscanned"
grep -q '^ExecStart=/usr/local/bin/masscanned' "$unit" || {
	echo "verify-unit: ExecStart does not start with /usr/local/bin/masscanned" >&2
	exit 1
}
sed "s|^ExecStart=/usr/local/bin/masscanned|ExecStart=$tmp/masscanned|" "$unit" >"$tmp/masscanned.service"

# verify prints problems on stderr and may still exit 0 for some of them:
# any output at all counts as a failure.
out=$(cd "$tmp" && systemd-analyze verify --man=no "$tmp/masscanned.service" 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	echo "verify-unit: $unit: FAILED (systemd-analyze verify exit $rc)" >&2
	exit 1
fi

# Exposure score, for information (systemd >= 250 can score a unit file).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
	score=$(cd "$tmp" && systemd-analyze security --offline=yes --no-pager "$tmp/masscanned.service" 2>/dev/null | tail -n 1) || true
	[ -n "${score:-}" ] && echo "verify-unit: $score"
fi
echo "verify-unit: $unit: OK"
