#!/usr/bin/env bash
# ccbulk export of N customers (default 100,000) from the loopback sandbox: wall time, rows/s and
# ccbulk's peak RSS (GNU time's maximum resident set size). One run; loopback only.
#   CCBULK_BIN=target/release/ccbulk N=100000 bash benches/export.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CCBULK_BIN:-$PWD/target/release/ccbulk}
N=${N:-100000}
PORT=${PORT:-18799}
[ -x "$BIN" ] || cargo build --release --locked --bin ccbulk
OUT=$(mktemp -d)
trap 'kill "$SANDBOX" 2>/dev/null || true; rm -rf "$OUT"' EXIT
"$BIN" sandbox --in-memory --customers "$N" --listen "127.0.0.1:$PORT" > "$OUT/sandbox.out" 2> /dev/null &
SANDBOX=$!
for _ in $(seq 50); do [ -s "$OUT/sandbox.out" ] && break; sleep 0.2; done
BASE=$(head -1 "$OUT/sandbox.out")
CLOUDCOCKPIT_CLIENT_ID=ccbulk-sandbox CLOUDCOCKPIT_CLIENT_SECRET=sandbox-secret \
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/time" \
  "$BIN" export -q --base-url "$BASE" --token-url "$BASE/oauth2/v2.0/token" --tenant bench.local \
  --rate unlimited --output "$OUT/customers.csv" --summary-json "$OUT/summary.json"
read -r WALL RSS_KB USER SYS < "$OUT/time"
ROWS=$(($(wc -l < "$OUT/customers.csv") - 1))
echo "export of $ROWS customers: ${WALL}s, $(awk "BEGIN{printf \"%.0f\", $ROWS/$WALL}") rows/s, peak RSS $((RSS_KB / 1024)) MB ($(wc -c < "$OUT/customers.csv") bytes written; ccbulk CPU ${USER}s user, ${SYS}s sys)"
