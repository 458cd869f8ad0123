#!/usr/bin/env bash
# ccbulk's benchmark harness: starts the minimal loopback server (benches/server.rs) and measures,
# on this machine and in one run:
#   - requests/s of `ccbulk update --mode replace --rate unlimited --concurrency 32`, next to oha (a
#     raw HTTP load generator) sending the same PATCH and to `xargs -P 32 curl` (one curl per row);
#   - merge mode (GET + PATCH per row) requests/s;
#   - CPU time (user+sys) per row, and per request for oha and curl;
#   - peak RSS of a 1M-row --dry-run and of a 200k-row live run;
#   - --dry-run rows/s on 1M rows;
#   - pacing: the achieved rate at --rate 200, 500, 2000 and 5000/s (default --burst 1) over
#     RATE_SECS seconds each; and against the server throttled to THROTTLE calls/s (a token bucket
#     holding a second's worth, 429 with Retry-After: 1 when empty), THROTTLE_ROWS rows with
#     --rate unlimited --concurrency 16: the time against the ideal (rows / THROTTLE) and the
#     429s per row.
# Request rates are what the server saw: calls / (last call - first call), so process start-up and
# the load generator's own reporting are left out alike. Each measurement runs REPEAT times; the
# table shows the median (and the range when REPEAT > 1).
#
# Usage: benches/run.sh            full run (installs oha with cargo if missing; prints Markdown)
#        benches/run.sh --smoke    tiny sizes, no installs, no network beyond loopback; checks only
#                                  that every run did what it should (never a timing)
# Environment: ROWS_LIVE (200000) ROWS_MERGE (100000) ROWS_DRY (1000000) ROWS_CURL (5000)
#   CONCURRENCY (32) RATES ("200 500 2000 5000") RATE_SECS (10) THROTTLE (100) THROTTLE_ROWS (3000)
#   REPEAT (3) OUT (target/bench)
#   SCENARIOS ("throughput pacing"): throughput is everything but pacing; pacing alone is about
#   1.5 minutes a repetition.
#   WAIT_QUIET=1 waits (up to 30 min) for a 1-minute load average below 0.5 before measuring.
#   CCBULK_BIN / SERVER_BIN use ready binaries instead of building release ones.
# Exits non-zero only when a run fails or the server saw other calls than expected.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then SMOKE=1; fi
if [ $SMOKE = 1 ]; then
    ROWS_LIVE=${ROWS_LIVE:-2000} ROWS_MERGE=${ROWS_MERGE:-500} ROWS_DRY=${ROWS_DRY:-20000}
    ROWS_CURL=${ROWS_CURL:-64} RATES=${RATES:-"200 2000"} RATE_SECS=${RATE_SECS:-1} REPEAT=${REPEAT:-1}
    THROTTLE_ROWS=${THROTTLE_ROWS:-300}
fi
ROWS_LIVE=${ROWS_LIVE:-200000}
ROWS_MERGE=${ROWS_MERGE:-100000}
ROWS_DRY=${ROWS_DRY:-1000000}
ROWS_CURL=${ROWS_CURL:-5000}
CONCURRENCY=${CONCURRENCY:-32}
RATES=${RATES:-200 500 2000 5000}
RATE_SECS=${RATE_SECS:-10}
THROTTLE=${THROTTLE:-100}
THROTTLE_ROWS=${THROTTLE_ROWS:-3000}
SCENARIOS=${SCENARIOS:-throughput pacing}
scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
REPEAT=${REPEAT:-3}
OUT=${OUT:-$ROOT/target/bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

say() { echo "bench: $*" >&2; }
fail() {
    echo "bench: FAILED: $*" >&2
    exit 1
}

# --- tools -------------------------------------------------------------------------------------
if [ -z "${CCBULK_BIN:-}" ] || [ -z "${SERVER_BIN:-}" ]; then
    say "building release binaries"
    cargo build --release --locked --bin ccbulk --example bench_server >&2
fi
CCBULK_BIN=${CCBULK_BIN:-$ROOT/target/release/ccbulk}
SERVER_BIN=${SERVER_BIN:-$ROOT/target/release/examples/bench_server}

OHA=$(command -v oha || true)
if [ -z "$OHA" ] && [ -x "$HOME/.cargo/bin/oha" ]; then OHA=$HOME/.cargo/bin/oha; fi
# oha and curl are for the throughput comparison only.
if [ -z "$OHA" ] && [ $SMOKE = 0 ] && scenario throughput; then
    say "installing oha from the crate registry (once; later runs reuse it)"
    cargo install oha --locked >&2
    OHA=$HOME/.cargo/bin/oha
fi
CURL=$(command -v curl || true)
if [ -z "$CURL" ] && [ $SMOKE = 0 ] && scenario throughput; then
    say "installing curl"
    if [ "$(id -u)" = 0 ]; then apt-get install -y curl >&2 || true; else sudo apt-get install -y curl >&2 || true; fi
    CURL=$(command -v curl || true)
fi
TIME=/usr/bin/time
[ -x "$TIME" ] || TIME=

# --- a quiet machine -----------------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
if [ "${WAIT_QUIET:-0}" = 1 ]; then
    for _ in $(seq 180); do
        if awk -v l="$(load1)" 'BEGIN { exit !(l < 0.5) }'; then break; fi
        say "load average $(load1): waiting for a quiet machine"
        sleep 10
    done
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- inputs --------------------------------------------------------------------------------------
# Every row a different customer (per-customer order never holds a row back), every field set, so
# replace mode accepts it and merge mode finds something to change on the server's customer.
HEADER=customerId,companyName,taxId,country,addressLine1,addressLine2,city,state,zip,firstName,lastName,email,phone,internalIdentifier
gen() { # gen ROWS FILE
    [ -s "$2" ] && [ "$(head -c 200 "$2" | head -1)" = "$HEADER" ] &&
        [ "$(($(wc -l <"$2") - 1))" = "$1" ] && return 0
    awk -v n="$1" -v h="$HEADER" 'BEGIN {
        print h
        for (i = 1; i <= n; i++)
            printf "6a1f0c2e-1b7d-4c3a-9e55-%012x,Company %d Lda,PT%09d,PT,Rua das Flores %d,2.o Esq.,Lisboa,Lisboa,1000-%03d,Ana,Silva,ana%d@fabrikam.pt,+351 21 000 %04d,CUST-%d\n",
                i, i, i, i % 1000, i % 1000, i, i % 10000, i
    }' >"$2"
}
if scenario throughput; then
    gen "$ROWS_LIVE" "$OUT/live.csv"
    gen "$ROWS_MERGE" "$OUT/merge.csv"
    gen "$ROWS_DRY" "$OUT/dry.csv"
fi
if scenario pacing; then
    for r in $RATES; do gen "$((r * RATE_SECS))" "$OUT/rate-$r.csv"; done
    gen "$THROTTLE_ROWS" "$OUT/throttled.csv"
fi
# What ccbulk sends for row 1 in replace mode, for oha and curl to send too.
ID1=6a1f0c2e-1b7d-4c3a-9e55-000000000001
BODY='{"customer":{"id":"'$ID1'","companyName":"Company 1 Lda","taxId":"PT000000001","country":"PT","addressLine1":"Rua das Flores 1","addressLine2":"2.o Esq.","city":"Lisboa","state":"Lisboa","zip":"1000-001","firstName":"Ana","lastName":"Silva","email":"ana1@fabrikam.pt","phone":"+351 21 000 0001","internalIdentifier":"CUST-1"},"retryFailedProviderCustomersFromCompanyInfo":false}'

# --- the server ----------------------------------------------------------------------------------
SERVER_THREADS=${SERVER_THREADS:-$(nproc)}
"$SERVER_BIN" 0 "$SERVER_THREADS" >"$OUT/server.out" 2>&1 &
SERVER_PID=$!
# The same server with a limit, for the throttled scenario.
"$SERVER_BIN" 0 "$SERVER_THREADS" "$THROTTLE" >"$OUT/throttled-server.out" 2>&1 &
THROTTLED_PID=$!
trap 'kill "$SERVER_PID" "$THROTTLED_PID" 2>/dev/null || true' EXIT
listening() { # listening FILE -> URL
    for _ in $(seq 100); do
        grep -q '^listening on ' "$1" 2>/dev/null && break
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$1"
}
URL=$(listening "$OUT/server.out")
[ -n "$URL" ] || fail "the bench server did not start: $(cat "$OUT/server.out")"
THROTTLED_URL=$(listening "$OUT/throttled-server.out")
[ -n "$THROTTLED_URL" ] || fail "the throttled server did not start: $(cat "$OUT/throttled-server.out")"
say "server $URL ($SERVER_THREADS threads); throttled to $THROTTLE/s: $THROTTLED_URL"

# Tiny HTTP helpers without curl: bash's /dev/tcp.
HOSTPORT=${URL#http://}
http() { # http METHOD PATH -> body
    exec 3<>"/dev/tcp/${HOSTPORT%:*}/${HOSTPORT#*:}"
    printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$1" "$2" "$HOSTPORT" >&3
    sed -n '/^\r$/,$p' <&3 | tail -n +2
    exec 3<&-
}
stats() { http GET /stats; }
stat_field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }

# CPU seconds the whole machine spent (user+nice+system), and the server's own.
CLK=$(getconf CLK_TCK)
machine_cpu() { awk -v c="$CLK" '/^cpu / { printf "%.2f", ($2 + $3 + $4) / c }' /proc/stat; }
steal_cpu() { awk -v c="$CLK" '/^cpu / { printf "%.2f", $9 / c }' /proc/stat; }
server_cpu() { awk -v c="$CLK" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / c }' "/proc/$SERVER_PID/stat"; }

# measure NAME CMD...: runs CMD under /usr/bin/time -v with the server's counters reset; sets
# WALL USER SYS RSS_MB (peak RSS) PATCH GET SPAN (last call - first call) RC, and OTHER: CPU
# seconds that neither the measured command nor the server used meanwhile (other people's work)
# and the CPU time the hypervisor stole (a VM's neighbours): the noise indicators.
measure() {
    local name=$1
    shift
    http POST /reset >/dev/null
    local t0 t1 m0 m1 s0 s1 st0 st1
    st0=$(steal_cpu)
    m0=$(machine_cpu)
    s0=$(server_cpu)
    t0=$(date +%s.%N)
    set +e
    if [ -n "$TIME" ]; then
        "$TIME" -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
    else
        "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
    fi
    RC=$?
    set -e
    t1=$(date +%s.%N)
    m1=$(machine_cpu)
    s1=$(server_cpu)
    st1=$(steal_cpu)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [ -n "$TIME" ]; then
        USER=$(sed -n 's/.*User time (seconds): //p' "$OUT/$name.time")
        SYS=$(sed -n 's/.*System time (seconds): //p' "$OUT/$name.time")
        RSS_MB=$(awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$OUT/$name.time")
    else
        USER=nan SYS=nan RSS_MB=nan
    fi
    OTHER=$(awk -v a="$m0" -v b="$m1" -v sa="$s0" -v sb="$s1" -v u="$USER" -v s="$SYS" \
        'BEGIN { if (u == "nan") print "nan"; else { o = (b - a) - (sb - sa) - u - s; printf "%.2f", o < 0 ? 0 : o } }')
    rec other_cpu_s "$OTHER"
    rec steal_cpu_s "$(awk -v a="$st0" -v b="$st1" 'BEGIN { printf "%.2f", b - a }')"
    local s
    s=$(stats)
    PATCH=$(stat_field patch "$s")
    GET=$(stat_field get "$s")
    SPAN=$(awk -v a="$(stat_field first_s "$s")" -v b="$(stat_field last_s "$s")" 'BEGIN { printf "%.6f", b - a }')
    REFUSED=$(stat_field refused "$s")
}

check() { # check MESSAGE: records a functional failure (never a timing); reported at the end
    say "CHECK FAILED: $1"
    FAILED="${FAILED:-}$1; "
}

# Results of every repetition, one "metric value" per line; summarised at the end.
RESULTS=$OUT/results.txt
: >"$RESULTS"
rec() { echo "$1 $2" >>"$RESULTS"; }
per_s() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "nan" }'; }
cpu_per() { awk -v u="$USER" -v s="$SYS" -v n="$1" 'BEGIN { if (n > 0 && u != "nan") printf "%.2f", (u + s) * 1e6 / n; else print "nan" }'; }

export CLOUDCOCKPIT_TOKEN=bench-token
CC=("$CCBULK_BIN" update --rate unlimited --concurrency "$CONCURRENCY" --base-url "$URL" --tenant bench -q --overwrite)

for rep in $(seq "$REPEAT"); do
    say "repetition $rep of $REPEAT"

    if scenario throughput; then
        # ccbulk, replace mode, unlimited rate.
        measure replace "${CC[@]}" "$OUT/live.csv" --mode replace --results "$OUT/live.results.csv"
        [ "$RC" = 0 ] || check "replace run exited $RC: $(tail -3 "$OUT/replace.err")"
        [ "$PATCH" = "$ROWS_LIVE" ] || check "replace: the server saw $PATCH PATCHes for $ROWS_LIVE rows"
        REPLACE_RPS=$(per_s "$PATCH" "$SPAN")
        rec replace_rps "$REPLACE_RPS"
        rec replace_rows_wall "$(per_s "$ROWS_LIVE" "$WALL")"
        rec replace_cpu_us_row "$(cpu_per "$ROWS_LIVE")"
        rec replace_rss_mb "$RSS_MB"
        rm -f "$OUT/live.results.csv"

        # oha: the same PATCH, same concurrency, as fast as it goes.
        if [ -n "$OHA" ]; then
            measure oha "$OHA" --no-tui -n "$ROWS_LIVE" -c "$CONCURRENCY" -m PATCH \
                -H "Authorization: Bearer bench-token" -H "X-Tenant: bench" \
                -H "X-Correlation-Id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301" \
                -H "Content-Type: application/json" -d "$BODY" "$URL/v1/Customers/$ID1/account-info"
            [ "$RC" = 0 ] || check "oha exited $RC: $(tail -3 "$OUT/oha.err")"
            [ "$PATCH" = "$ROWS_LIVE" ] || check "oha: the server saw $PATCH PATCHes for $ROWS_LIVE requests"
            rec oha_rps "$(per_s "$PATCH" "$SPAN")"
            # The two runs of one repetition are back to back, so their ratio is the fairer figure
            # on a machine whose speed drifts (a VM's neighbours): the table shows its median too.
            rec ratio_oha "$(awk -v a="$REPLACE_RPS" -v b="$(per_s "$PATCH" "$SPAN")" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')"
            rec oha_cpu_us_req "$(cpu_per "$ROWS_LIVE")"
        fi

        # The shell way: one curl per row, 32 at a time.
        if [ -n "$CURL" ]; then
            seq "$ROWS_CURL" | awk '{ printf "%s/v1/Customers/6a1f0c2e-1b7d-4c3a-9e55-%012x/account-info\n", u, $1 }' u="$URL" >"$OUT/curl.urls"
            measure curl xargs -P "$CONCURRENCY" -n 1 "$CURL" -s -o /dev/null -X PATCH \
                -H "Authorization: Bearer bench-token" -H "X-Tenant: bench" \
                -H "Content-Type: application/json" -d "$BODY" <"$OUT/curl.urls"
            [ "$RC" = 0 ] || check "xargs curl exited $RC"
            [ "$PATCH" = "$ROWS_CURL" ] || check "curl: the server saw $PATCH PATCHes for $ROWS_CURL requests"
            rec curl_rps "$(per_s "$PATCH" "$SPAN")"
            rec curl_cpu_us_req "$(cpu_per "$ROWS_CURL")"
        fi

        # ccbulk, merge mode: GET, overlay, PATCH (the server's customer differs in every field).
        measure merge "${CC[@]}" "$OUT/merge.csv" --mode merge --results "$OUT/merge.results.csv" \
            --undo "$OUT/merge.undo.csv"
        [ "$RC" = 0 ] || check "merge run exited $RC: $(tail -3 "$OUT/merge.err")"
        [ "$GET" = "$ROWS_MERGE" ] && [ "$PATCH" = "$ROWS_MERGE" ] ||
            check "merge: the server saw $GET GETs and $PATCH PATCHes for $ROWS_MERGE rows"
        rec merge_rps "$(per_s "$((GET + PATCH))" "$SPAN")"
        rec merge_rows_s "$(per_s "$ROWS_MERGE" "$SPAN")"
        rec merge_cpu_us_row "$(cpu_per "$ROWS_MERGE")"
        rec merge_rss_mb "$RSS_MB"
        rm -f "$OUT/merge.results.csv" "$OUT/merge.undo.csv"

        # Dry run: read, check and write results; no network.
        measure dry "$CCBULK_BIN" update "$OUT/dry.csv" --dry-run -q --overwrite --results "$OUT/dry.results.csv"
        [ "$RC" = 0 ] || check "dry run exited $RC: $(tail -3 "$OUT/dry.err")"
        lines=$(($(wc -l <"$OUT/dry.results.csv") - 1))
        [ "$lines" = "$ROWS_DRY" ] || check "dry run: $lines results lines for $ROWS_DRY rows"
        rec dry_rows_s "$(per_s "$ROWS_DRY" "$WALL")"
        rec dry_cpu_us_row "$(cpu_per "$ROWS_DRY")"
        rec dry_rss_mb "$RSS_MB"
        rm -f "$OUT/dry.results.csv"
    fi

    if scenario pacing; then
        # --rate R/s for RATE_SECS seconds' worth of rows (burst 1, the default).
        for r in $RATES; do
            n=$((r * RATE_SECS))
            measure "rate-$r" "$CCBULK_BIN" update "$OUT/rate-$r.csv" --mode replace --rate "$r/s" \
                --concurrency "$CONCURRENCY" --base-url "$URL" --tenant bench -q --overwrite \
                --results "$OUT/rate.results.csv"
            [ "$RC" = 0 ] || check "rate $r/s run exited $RC: $(tail -3 "$OUT/rate-$r.err")"
            [ "$PATCH" = "$n" ] || check "rate $r/s: the server saw $PATCH PATCHes for $n rows"
            # N calls paced at R/s span (N-1)/R seconds.
            rec "rate_achieved_$r" "$(awk -v n="$PATCH" -v s="$SPAN" 'BEGIN { if (s > 0) printf "%.1f", (n - 1) / s; else print "nan" }')"
            rm -f "$OUT/rate.results.csv"
        done

        # A limited API, --rate unlimited: how long against the ideal, and how many 429s.
        MAIN_HOSTPORT=$HOSTPORT
        HOSTPORT=${THROTTLED_URL#http://}
        measure throttled "$CCBULK_BIN" update "$OUT/throttled.csv" --mode replace --rate unlimited \
            --concurrency 16 --base-url "$THROTTLED_URL" --tenant bench -q --overwrite \
            --results "$OUT/throttled.results.csv"
        HOSTPORT=$MAIN_HOSTPORT
        [ "$RC" = 0 ] || check "throttled run exited $RC: $(tail -3 "$OUT/throttled.err")"
        [ "$PATCH" = "$THROTTLE_ROWS" ] ||
            check "throttled: the server accepted $PATCH PATCHes for $THROTTLE_ROWS rows"
        rec throttled_time_ideal "$(awk -v w="$WALL" -v n="$THROTTLE_ROWS" -v l="$THROTTLE" 'BEGIN { printf "%.3f", w / (n / l) }')"
        rec throttled_wall_s "$WALL"
        rec throttled_429_share "$(awk -v r="$REFUSED" -v n="$THROTTLE_ROWS" 'BEGIN { printf "%.4f", r / n }')"
        rm -f "$OUT/throttled.results.csv"
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report --------------------------------------------------------------------------------------
# med METRIC: "median" or "median (min-max)".
med() {
    awk -v m="$1" '$1 == m { v[++n] = $2 } END {
        if (n == 0) { print "n/a"; exit }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
        mid = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        if (n > 1) printf "%s (%s–%s)", mid, v[1], v[n]; else printf "%s", mid
    }' "$RESULTS"
}
mednum() { med "$1" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f×", a / b; else print "n/a" }'; }

# The table's rows of each scenario (none when it did not run: an empty line would end the table).
throughput_rows() {
    cat <<ROWS
| ccbulk replace, $ROWS_LIVE rows, requests/s | $(med replace_rps) |
| oha, same PATCH, requests/s | $(med oha_rps) |
| ccbulk / oha (ratio of the medians) | $(ratio "$(mednum replace_rps)" "$(mednum oha_rps)") |
| ccbulk / oha (median of each repetition's ratio) | $(med ratio_oha) |
| xargs -P $CONCURRENCY curl, $ROWS_CURL rows, requests/s | $(med curl_rps) |
| ccbulk / xargs+curl | $(ratio "$(mednum replace_rps)" "$(mednum curl_rps)") |
| ccbulk replace, rows/s including start-up | $(med replace_rows_wall) |
| CPU per row, replace (µs user+sys) | $(med replace_cpu_us_row) |
| CPU per request, oha (µs) | $(med oha_cpu_us_req) |
| CPU per request, curl (µs, fork+exec included) | $(med curl_cpu_us_req) |
| peak RSS, replace $ROWS_LIVE rows (MB) | $(med replace_rss_mb) |
| ccbulk merge, $ROWS_MERGE rows, requests/s (GET+PATCH) | $(med merge_rps) |
| ccbulk merge, rows/s | $(med merge_rows_s) |
| CPU per row, merge (µs) | $(med merge_cpu_us_row) |
| peak RSS, merge $ROWS_MERGE rows (MB) | $(med merge_rss_mb) |
| --dry-run, $ROWS_DRY rows, rows/s | $(med dry_rows_s) |
| CPU per row, dry run (µs) | $(med dry_cpu_us_row) |
| peak RSS, dry run $ROWS_DRY rows (MB) | $(med dry_rss_mb) |
ROWS
}
pacing_rows() {
    for r in $RATES; do echo "| --rate $r/s (burst 1) over $RATE_SECS s, achieved/s | $(med "rate_achieved_$r") |"; done
    cat <<ROWS
| throttled to $THROTTLE/s, $THROTTLE_ROWS rows, --rate unlimited: seconds (ideal $((THROTTLE_ROWS / THROTTLE))) | $(med throttled_wall_s) |
| throttled: time ÷ ideal | $(med throttled_time_ideal) |
| throttled: 429s per row (extra calls ÷ calls needed) | $(med throttled_429_share) |
ROWS
}

cat <<EOF
## Benchmark run $(date -u +%Y-%m-%dT%H:%M:%SZ)

- Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); load average before: $LOAD_BEFORE, after: $LOAD_AFTER
- ccbulk: $CCBULK_BIN; tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (+ uncommitted changes)'); $(rustc --version)
- oha: $([ -n "$OHA" ] && "$OHA" --version 2>/dev/null | head -1 || echo 'not available'); curl: $([ -n "$CURL" ] && "$CURL" --version | head -1 | cut -d' ' -f1-2 || echo 'not available')
- Server: benches/server.rs, $SERVER_THREADS threads; concurrency $CONCURRENCY; median of $REPEAT (range in brackets)

| measurement | result |
|---|---|
$({ scenario throughput && throughput_rows; scenario pacing && pacing_rows; } | grep .)
| noise: CPU s used by other processes during one measurement | $(med other_cpu_s) |
| noise: CPU s stolen by the hypervisor during one measurement | $(med steal_cpu_s) |
EOF

if [ -n "${FAILED:-}" ]; then fail "$FAILED"; fi
