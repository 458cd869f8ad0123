#!/bin/sh
# Peak memory and time of ccbulk on hostile input files (BENCHMARKS.md, "Hostile files"):
# a file with one quote never closed, and a file without a single line break, each SIZE_MB
# (default 1024) large. Both must stop in seconds with a short message and a flat memory
# profile. The files are made in a temporary directory (TMPDIR, default /tmp) and deleted after.
#
#   benches/hostile.sh [path/to/ccbulk]     (default: target/release/ccbulk)
set -eu
BIN=${1:-target/release/ccbulk}
SIZE_MB=${SIZE_MB:-1024}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ccbulk-hostile.XXXXXX")
trap 'rm -rf "$DIR"' EXIT INT TERM

measure() { # name, then the command
    name=$1; shift
    /usr/bin/time -f "%M %e" -o "$DIR/time" "$@" >/dev/null 2>"$DIR/stderr" || true
    # GNU time puts "Command exited with non-zero status N" first: the numbers are last.
    rss=$(tail -n 1 "$DIR/time" | cut -d' ' -f1)
    secs=$(tail -n 1 "$DIR/time" | cut -d' ' -f2)
    printf '%-22s peak RSS %6.1f MB  %6.2f s  stderr %s bytes: %s\n' "$name" \
        "$(echo "$rss" | awk '{print $1/1024}')" "$secs" "$(wc -c < "$DIR/stderr" | tr -d ' ')" \
        "$(grep -o 'line [0-9]*: the record[^;]*' "$DIR/stderr" | head -1)"
}

# One header, five good rows, then a quote that is never closed and SIZE_MB of lines after it.
{
    echo "customerId,companyName,city"
    for n in 1 2 3 4 5; do echo "6a1f0c2e-1b7d-4c3a-9e55-00000000000$n,Company $n,Porto"; done
    echo '6a1f0c2e-1b7d-4c3a-9e55-000000000009,"Company never closed,Porto'
    head -c $((SIZE_MB * 1024 * 1024)) /dev/zero | tr '\0' 'x' | fold -w 100
} > "$DIR/unclosed.csv"
measure unclosed-quote "$BIN" update "$DIR/unclosed.csv" --dry-run --overwrite -q
rm -f "$DIR/unclosed.csv" "$DIR"/unclosed.*.csv

# SIZE_MB without a line break: a header that never ends.
{
    printf 'customerId,companyName'
    head -c $((SIZE_MB * 1024 * 1024)) /dev/zero | tr '\0' ','
} > "$DIR/nobreak.csv"
measure no-line-break "$BIN" update "$DIR/nobreak.csv" --dry-run --overwrite -q
