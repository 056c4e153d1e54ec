#!/usr/bin/env bash
# `otadelta apply --resume`: kill -9 the process at random moments, run the
# same command again, and expect it to finish with the verified image, no
# stray files, and progress that never goes backwards.
set -u
otadelta=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
# Deterministic 3 MB images; small blocks make many restart points.
python3 - <<'PY'
import random
r = random.Random(7)
old = bytes(r.getrandbits(8) for _ in range(3_000_000))
new = bytearray(old[:1_000_000] + bytes(r.getrandbits(8) for _ in range(50_000)) + old[1_100_000:])
for i in range(0, len(new), 4096):
    new[i] ^= 0x5A
open("old.bin", "wb").write(old)
open("new.bin", "wb").write(new)
PY
"$otadelta" diff old.bin new.bin -o pkg.otad --from-version 1 --to-version 2 --block 4K --restart 1 -q || exit 1
blocks=$(  "$otadelta" info pkg.otad --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["block_count"])')
pass=0 fail=0 runs=0 last=0 kills=0
extra=(0 0.003 0.011 0.007 0.019 0.001 0.013 0.005)
# Saved block count, 0 without a state file.
saved() { awk '{print $5}' state 2>/dev/null | grep -E '^[0-9]+$' || echo 0; }
while :; do
    runs=$((runs + 1))
    if [ "$runs" -gt 300 ]; then echo "FAIL: no completion after 300 runs"; fail=$((fail + 1)); break; fi
    "$otadelta" apply old.bin pkg.otad -o out.bin --resume state -q >/dev/null 2>&1 &
    pid=$!
    # Six runs are killed: the first two at fixed early moments (wherever
    # they land: hashing OLD, the header, a block), the others once they
    # have saved a block more (so the timing holds on a slow sanitizer
    # build too), plus a few milliseconds. Then one run may finish.
    if [ "$kills" -lt 6 ]; then
        if [ "$kills" -lt 2 ]; then
            sleep "0.0$((kills * 3 + 1))"
        else
            for _ in $(seq 6000); do
                [ "$(saved)" -gt "$last" ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.01
            done
            sleep "${extra[$((runs % ${#extra[@]}))]}"
        fi
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] && break
    [ "$rc" = 137 ] || { echo "FAIL: apply exited $rc"; fail=$((fail + 1)); break; }
    kills=$((kills + 1))
    now=$(saved)
    if [ "$now" -lt "$last" ]; then echo "FAIL: progress went back $last -> $now"; fail=$((fail + 1)); fi
    last=$now
    [ -e out.bin ] && { echo "FAIL: out.bin exists before completion"; fail=$((fail + 1)); }
done
echo "blocks $blocks, runs $runs, kills $kills, last saved progress $last"
if cmp -s out.bin new.bin; then pass=$((pass + 1)); echo "ok: resumed image identical"; else fail=$((fail + 1)); echo "FAIL: image differs"; fi
if [ "$last" -gt 0 ]; then pass=$((pass + 1)); echo "ok: progress was kept across kills"; else echo "FAIL: no kill landed mid-apply"; fail=$((fail + 1)); fi
if ls state out.bin.part *.tmp* >/dev/null 2>&1; then fail=$((fail + 1)); echo "FAIL: leftovers: $(ls state out.bin.part *.tmp* 2>/dev/null)"; else pass=$((pass + 1)); echo "ok: no leftovers"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
