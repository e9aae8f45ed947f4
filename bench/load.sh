#!/bin/bash
# bench/load.sh: SYN load benchmark in a private lab (two network
# namespaces + one veth pair, removed on exit). Generator: one trafgen
# process (CPU0) sending 54-byte IPv4 TCP SYNs (full checksums,
# incrementing source port). Responder pinned to CPU1. Reference: the
# Linux kernel answering with SYN cookies; then masscanned.
#
# usage: sudo bench/load.sh [DURATION_S] [WARMUP_S]     (defaults 5 1)
# env:   MASSCANNED=path/to/binary (default: built from this checkout)
set -euo pipefail
DUR=${1:-5}
WARM=${2:-1}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ID=$$
G=mcbg-$ID R=mcbr-$ID VG=vbg$ID VR=vbr$ID
GIP=198.51.100.1 RIP=198.51.100.2
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$G" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for t in trafgen taskset nft ip python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
BIN=${MASSCANNED:-}
if [ -z "$BIN" ]; then
	BIN=$TMP/masscanned
	(cd "$HERE" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/masscanned)
fi

ip netns add "$G"
ip netns add "$R"
ip -n "$G" link add "$VG" type veth peer name "$VR" netns "$R"
for ns in "$G" "$R"; do ip -n "$ns" link set lo up; done
ip -n "$G" addr add $GIP/24 dev "$VG"
ip -n "$G" link set "$VG" up
ip -n "$R" link set "$VR" up
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
GMAC=$(cat /sys/class/net/"$VG"/address 2>/dev/null || ip -n "$G" -br link show "$VG" | awk '{print $3}')
RMAC=$(ip -n "$R" -br link show "$VR" | awk '{print $3}')
ip -n "$G" neigh replace $RIP lladdr "$RMAC" dev "$VG" nud permanent
# the generator's kernel never answers the SYN-ACKs
ip netns exec "$G" nft 'table inet bench { chain in { type filter hook input priority 0; policy accept; meta l4proto tcp drop; }; }'

cat >"$TMP/syn.cfg" <<CFG
cpu(0): {
  eth(da=$RMAC, sa=$GMAC),
  ipv4(saddr=$GIP, daddr=$RIP, ttl=64, df),
  tcp(sp=dinc(1024, 65000), dp=80, seq=12345, syn, win=64240)
}
CFG

rx() { ip netns exec "$1" cat /sys/class/net/"$2"/statistics/rx_packets; }
ticks() { awk '{print $14+$15}' /proc/"$1"/stat; }
HZ=$(getconf CLK_TCK)

# measure NAME [PID]: run the generator for WARM+DUR s, count over DUR s
measure() {
	local name=$1 pid=${2:-}
	setsid ip netns exec "$G" trafgen -i "$TMP/syn.cfg" -o "$VG" -P 1 -C -Q >/dev/null 2>&1 &
	local tg=$!
	PIDS+=("$tg")
	sleep "$WARM"
	local g0 r0 c0=0 g1 r1 c1=0
	g0=$(rx "$G" "$VG"); r0=$(rx "$R" "$VR")
	[ -n "$pid" ] && c0=$(ticks "$pid")
	sleep "$DUR"
	g1=$(rx "$G" "$VG"); r1=$(rx "$R" "$VR")
	[ -n "$pid" ] && c1=$(ticks "$pid")
	kill -TERM -- "-$tg" 2>/dev/null || true; wait "$tg" 2>/dev/null || true
	OFFERED=$(( (r1 - r0) / DUR ))
	REPLIES=$(( (g1 - g0) / DUR ))
	CPU=$(( (c1 - c0) * 100 / HZ / DUR ))
	printf '%-32s offered %8d pps   replies %8d /s' "$name" "$OFFERED" "$REPLIES"
	[ -n "$pid" ] && printf '   process CPU %3d %%' "$CPU"
	echo
}

echo "lab: 1 trafgen process on CPU0 -> veth -> responder on CPU1; ${WARM}s warm-up, ${DUR}s window; $(nproc) CPUs, $(uname -r)"

# (a) kernel reference: SYN cookies always, a listener on :80
ip -n "$R" addr add $RIP/24 dev "$VR"
ip netns exec "$R" sysctl -qw net.ipv4.tcp_syncookies=2
ip netns exec "$R" taskset -c 1 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 80)); s.listen(16); time.sleep(3600)' &
LP=$!
PIDS+=("$LP")
sleep 0.5
measure "kernel (syncookies=2)"
K=$REPLIES KO=$OFFERED
kill "$LP" 2>/dev/null || true; wait "$LP" 2>/dev/null || true
ip -n "$R" addr del $RIP/24 dev "$VR"

# (b) masscanned, responder kernel silenced
ip netns exec "$R" nft 'table inet bench { chain in { type filter hook input priority 0; policy drop; }; }'
ip netns exec "$R" taskset -c 1 "$BIN" -i "$VR" --no-rate-limit -q --self-ip-list $RIP 2>"$TMP/mc.err" &
MP=$!
PIDS+=("$MP")
for _ in $(seq 50); do grep -q packet /proc/$MP/net/packet 2>/dev/null && [ "$(wc -l </proc/$MP/net/packet)" -gt 1 ] && break; sleep 0.1; done
sleep 0.5
measure "masscanned (--no-rate-limit -q)" "$MP"
M=$REPLIES MO=$OFFERED MC=$CPU
kill -INT "$MP"; wait "$MP" 2>/dev/null || true
echo
printf 'offered (kernel run)      %8d pps\n' "$KO"
printf 'offered (masscanned run)  %8d pps\n' "$MO"
printf 'kernel replies/s          %8d\n' "$K"
printf 'masscanned replies/s      %8d  (CPU %d %% of one core)\n' "$M" "$MC"
awk -v m="$M" -v k="$K" 'BEGIN { if (k > 0) printf "ratio masscanned/kernel   %8.2f\n", m / k }'
