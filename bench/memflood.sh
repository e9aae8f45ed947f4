#!/bin/bash
# bench/memflood.sh: masscanned's memory stays bounded while a client
# opens connections as fast as it can (valid cookies, random 4-tuples)
# and leaves a partial HTTP request on each. Lab: two namespaces + veth,
# removed on exit. Prints VmRSS every second; fails if it exceeds
#   BOUND = 2 * (MAX_CONN_BYTES + MAX_CONNS * 1 KiB) + BASE
# live table data (buffered bytes + ~1 KiB per entry), doubled for the Go
# GC's headroom (GOGC=100), plus BASE = 64 MiB (runtime, packet ring,
# rate tables).
#
# usage: sudo bench/memflood.sh [DURATION_S]      (default 60; CI: 10)
# env:   MAX_CONNS (65536) MAX_CONN_BYTES (67108864) PPS (20000) PAD (1000)
set -euo pipefail
DUR=${1:-60}
MAX_CONNS=${MAX_CONNS:-65536}
MAX_CONN_BYTES=${MAX_CONN_BYTES:-67108864}
PPS=${PPS:-20000}
PAD=${PAD:-1000}
BASE=$((64 << 20))
BOUND=$((2 * (MAX_CONN_BYTES + MAX_CONNS * 1024) + BASE))
HERE=$(cd "$(dirname "$0")/.." && pwd)
ID=$$
C=mcmc-$ID R=mcmr-$ID VC=vmc$ID VR=vmr$ID
MAC=52:1c:4e:c2:a4:1f
TMP=$(mktemp -d)
MP= FP=
cleanup() {
	[ -n "$FP" ] && kill "$FP" 2>/dev/null || true
	[ -n "$MP" ] && kill -INT "$MP" 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$C" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
(cd "$HERE" && CGO_ENABLED=0 go build -o "$TMP/masscanned" ./cmd/masscanned && CGO_ENABLED=0 go build -o "$TMP/memflood" ./bench/memflood)

ip netns add "$C"
ip netns add "$R"
ip -n "$C" link add "$VC" type veth peer name "$VR" netns "$R"
for ns in "$C" "$R"; do ip -n "$ns" link set dev lo up; done
ip -n "$C" addr add 198.51.100.1/24 dev "$VC"
ip -n "$C" link set dev "$VC" up
ip -n "$R" link set dev "$VR" up
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$C" nft 'table inet mf { chain in { type filter hook input priority 0; policy accept; meta l4proto tcp drop; }; }'
ip netns exec "$R" nft 'table inet mf { chain in { type filter hook input priority 0; policy drop; }; }'

ip netns exec "$R" "$TMP/masscanned" -i "$VR" -m $MAC -q -v --no-rate-limit --self-ip-list 198.51.100.2 \
	--max-conns "$MAX_CONNS" --max-conn-bytes "$MAX_CONN_BYTES" 2>"$TMP/mc.err" &
MP=$!
sleep 1
kill -0 "$MP" || { cat "$TMP/mc.err"; exit 1; }
echo "masscanned pid $MP: --max-conns $MAX_CONNS --max-conn-bytes $MAX_CONN_BYTES; bound $((BOUND >> 20)) MiB; ${DUR}s at $PPS SYN/s, ${PAD}-byte partial requests"
ip netns exec "$C" "$TMP/memflood" -i "$VC" -dst-mac $MAC -duration "${DUR}s" -pps "$PPS" -pad "$PAD" &
FP=$!
printf '%6s %10s %10s\n' t VmRSS_MiB VmHWM_MiB
peak=0
for t in $(seq 1 $((DUR + 1))); do
	sleep 1
	rss=$(awk '/^VmRSS/ {print $2}' /proc/$MP/status)
	hwm=$(awk '/^VmHWM/ {print $2}' /proc/$MP/status)
	printf '%6d %10.1f %10.1f\n' "$t" "$(echo "$rss/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)"
	[ "$rss" -gt "$peak" ] && peak=$rss
done
wait "$FP" || true
FP=
kill -INT "$MP"; wait "$MP" || true
MP=
grep -E "stopped" "$TMP/mc.err" || true
echo "peak VmRSS $((peak / 1024)) MiB, bound $((BOUND >> 20)) MiB"
if [ $((peak * 1024)) -gt "$BOUND" ]; then echo "FAIL: RSS above the bound"; exit 1; fi
echo PASS
