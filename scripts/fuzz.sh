#!/usr/bin/env bash
# Fuzz the network-facing decoders with cargo-fuzz (nightly toolchain).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Builds the targets in fuzz/ (its own workspace), then runs each for the given
# time (default 60 s), seeded from fuzz/seeds/<target> (committed) with the
# working corpus in fuzz/corpus/<target> (not committed). Any crash, panic,
# timeout (an input taking over FUZZ_INPUT_TIMEOUT_S, default 10 s) or an RSS
# over FUZZ_RSS_LIMIT_MB (default 2048) fails the run; the input is kept in
# fuzz/artifacts/<target>/. A summary line per target (executions, seconds,
# result) is printed at the end. FUZZ_SANITIZER (default address) is passed to
# cargo fuzz; `none` builds faster and still catches panics and timeouts.
# FUZZ_SEED and FUZZ_RUNS (both optional) make a run reproducible: libFuzzer's
# random seed and a cap on executions per target (the time limit still holds),
# so a slower machine runs a prefix of the same input sequence.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
all=(json_decode bson_decode envelope_bind rest_xml rest_uri udp_datagram)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# With no target named, `cargo fuzz build` builds them all in one go.
sanitizer="${FUZZ_SANITIZER:-address}"
cargo +nightly fuzz build --sanitizer "$sanitizer"

repro=()
[ -n "${FUZZ_SEED:-}" ] && repro+=("-seed=$FUZZ_SEED")
[ -n "${FUZZ_RUNS:-}" ] && repro+=("-runs=$FUZZ_RUNS")

summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    started=$(date +%s)
    set +e
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" \
        -timeout="${FUZZ_INPUT_TIMEOUT_S:-10}" \
        -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" \
        -max_len=65536 \
        -print_final_stats=1 "${repro[@]}" >"$log" 2>&1
    rc=$?
    set -e
    took=$(( $(date +%s) - started ))
    # A crash ends libFuzzer before its final stats: no count is not an error here.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
    if [ $rc -eq 0 ]; then
        result="ok"
    else
        result="FAILED (exit $rc; see fuzz/$log and fuzz/artifacts/$t/)"
        failed=1
        # Show why (the log stays in fuzz/artifacts, which CI does not keep):
        # the end of the run's log and every crashing input, base64-encoded.
        echo "== fuzz target $t failed (exit $rc); last lines of its log:" >&2
        tail -n 40 "$log" >&2 || true
        for input in "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* "artifacts/$t"/slow-unit-*; do
            [ -f "$input" ] || continue
            echo "== input $input ($(wc -c <"$input") bytes), base64:" >&2
            head -c 4096 "$input" | base64 >&2
        done
    fi
    summary+=("$(printf '%-14s %12s execs %5s s  %s' "$t" "${execs:-?}" "$took" "$result")")
done

printf '\n%s\n' "fuzz summary (${seconds} s per target):"
printf '%s\n' "${summary[@]}"
exit $failed
