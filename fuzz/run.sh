#!/usr/bin/env bash
# fuzz/run.sh BUILD_DIR SECONDS [HARNESS...]
#
# Runs every libFuzzer harness of a -DOD_BUILD_FUZZ=ON build for SECONDS
# each (CI: at least 60), starting from the generated seeds, the committed
# regressions and the harness's dictionary. Prints each harness's total
# executions and executions per second (libFuzzer's final stats) and a
# summary table. Exits 1 if any harness found anything: the input is saved
# under BUILD_DIR/fuzz/run/<harness>/artifacts/ (crash-*, timeout-*,
# oom-*, leak-*); reproduce it with BUILD_DIR/fuzz/<harness> FILE and
# commit it to fuzz/regressions/<harness>/ once fixed.
#
# Environment: OD_FUZZ_TIMEOUT (seconds per input, default 10),
# OD_FUZZ_RSS_MB (default 2048), OD_FUZZ_ARGS (extra libFuzzer options).
set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [HARNESS...]" >&2
    exit 2
fi
build=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
fz=$build/fuzz
if [ $# -gt 0 ]; then
    harnesses="$*"
elif [ -f "$fz/harnesses.txt" ]; then
    harnesses=$(cat "$fz/harnesses.txt") # written by fuzz/CMakeLists.txt
else
    echo "$0: $fz/harnesses.txt missing: build with -DOD_BUILD_FUZZ=ON first" >&2
    exit 2
fi
case $secs in
    ''|*[!0-9]*) echo "$0: SECONDS must be a whole number" >&2; exit 2 ;;
esac
if [ ! -d "$fz/corpus" ]; then
    echo "$0: $fz/corpus missing: build with -DOD_BUILD_FUZZ=ON first" >&2
    exit 2
fi

rows=()
failed=0
for h in $harnesses; do
    bin=$fz/$h
    work=$fz/run/$h
    if [ ! -x "$bin" ]; then
        echo "$0: $bin not built" >&2
        rows+=("$h|MISSING|-|-|-|-|-")
        failed=1
        continue
    fi
    mkdir -p "$work/corpus" "$work/artifacts"
    rm -f "$work/artifacts"/*
    dict=()
    [ -f "$src/$h.dict" ] && dict=(-dict="$src/$h.dict")
    echo "== $h: ${secs}s"
    start=$(date +%s)
    # New inputs go to the first directory (kept between runs); seeds and
    # regressions are read only.
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -timeout="${OD_FUZZ_TIMEOUT:-10}" \
        -rss_limit_mb="${OD_FUZZ_RSS_MB:-2048}" -print_final_stats=1 \
        "${dict[@]}" -artifact_prefix="$work/artifacts/" ${OD_FUZZ_ARGS:-} \
        "$work/corpus" "$fz/corpus/$h" "$src/regressions/$h" >"$work/log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(grep -a '^stat::number_of_executed_units:' "$work/log" | tail -1 | awk '{print $2}')
    eps=$(grep -a '^stat::average_exec_per_sec:' "$work/log" | tail -1 | awk '{print $2}')
    rss=$(grep -a '^stat::peak_rss_mb:' "$work/log" | tail -1 | awk '{print $2}')
    last=$(grep -a -E '^#[0-9]+' "$work/log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    # A slow-unit-* is an input that took over 10 s once, usually because
    # the machine was busy; -timeout catches real hangs (timeout-*).
    found=$(find "$work/artifacts" -type f ! -name 'slow-unit-*' | wc -l)
    slow=$(find "$work/artifacts" -type f -name 'slow-unit-*' | wc -l)
    [ "$slow" -eq 0 ] || echo "   $h: $slow slow input(s) kept in $work/artifacts (not a failure)" >&2
    status=ok
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        status=FAIL
        failed=1
        echo "   $h FAILED (exit $rc); log: $work/log" >&2
        grep -a -E 'ERROR:|SUMMARY:|Test unit written' "$work/log" | head -5 >&2
        find "$work/artifacts" -type f ! -name 'slow-unit-*' | sed 's/^/   artifact: /' >&2
    fi
    echo "   $h: ${execs:-?} executions, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, rss ${rss:-?} MB, ${took}s, $status"
    rows+=("$h|$status|${execs:--}|${eps:--}|${cov:--}|${ft:--}|${corp:--}|${rss:--}|$took")
done

echo
printf '%-16s %-7s %12s %8s %6s %7s %7s %7s %6s\n' harness status executions exec/s cov ft corpus rss_MB secs
for r in "${rows[@]}"; do
    IFS='|' read -r a b c d e f g i j <<<"$r"
    printf '%-16s %-7s %12s %8s %6s %7s %7s %7s %6s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "${i:--}" "${j:--}"
done
exit $failed
