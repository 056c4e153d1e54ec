#!/usr/bin/env bash
# bench/scale.sh - the generator on one large synthetic pair, otadelta against
# bsdiff in the same run: wall time, peak RSS (also over the old image size)
# and package size, each package applied back and compared. Prints a Markdown
# section; bench/run.sh appends it to RESULTS.md.
#
#   bench/scale.sh OTADELTA MIB
#
# The pair is deterministic: old is a SHAKE-128 stream of MIB MiB (no
# structure to exploit, so matching alone decides); new is old with 2000
# short edits, a 64 KiB insertion at 1/3 and a 32 KiB cut at 2/3, the kind of
# change a release makes. One run per tool: at this size a run takes seconds.
set -euo pipefail

OTADELTA=${1:?usage: bench/scale.sh OTADELTA MIB}
MIB=${2:?usage: bench/scale.sh OTADELTA MIB}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

python3 - "$MIB" "$TMP/old" "$TMP/new" <<'PY'
import hashlib, random, sys
n = int(sys.argv[1]) << 20
old = hashlib.shake_128(b"otadelta-bench scale").digest(n)
new = bytearray(old)
rnd = random.Random(1)
for _ in range(2000):
    at = rnd.randrange(n - 64)
    new[at:at + rnd.randrange(1, 16)] = rnd.randbytes(rnd.randrange(1, 16))
third = len(new) // 3
new[third:third] = rnd.randbytes(64 << 10)
cut = 2 * len(new) // 3
del new[cut:cut + (32 << 10)]
open(sys.argv[2], "wb").write(old)
open(sys.argv[3], "wb").write(new)
PY

old_size=$(stat -c %s "$TMP/old")
new_size=$(stat -c %s "$TMP/new")

# measure NAME CMD...: "ms rss_kib status" of one run
measure() {
  local t0 t1 rc=0 e rss
  shift
  t0=${EPOCHREALTIME//[!0-9]/}
  /usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || rc=$?
  t1=${EPOCHREALTIME//[!0-9]/}
  read -r e rss <"$TMP/time" || rss=-
  echo "$(((t1 - t0) / 1000)) ${rss:--} $rc"
}

row() { # TOOL "ms rss rc" PKG CHECK
  local tool=$1 ms rss rc pkg=$3 check=$4 size=-
  read -r ms rss rc <<<"$2"
  [[ -f $pkg ]] && size=$(stat -c %s "$pkg")
  if ((rc != 0)); then check="failed (exit $rc: $(tail -n 1 "$TMP/err"))"; fi
  awk -v t="$tool" -v ms="$ms" -v rss="$rss" -v old="$old_size" -v size="$size" -v c="$check" \
    'BEGIN { printf "| %s | %d | %s | %.2f | %s | %s |\n", t, ms, rss, rss * 1024 / old, size, c }'
}

od=$(measure otadelta "$OTADELTA" diff "$TMP/old" "$TMP/new" -o "$TMP/od.otad" \
  --from-version old --to-version new -q)
od_check=mismatch
"$OTADELTA" apply "$TMP/old" "$TMP/od.otad" -o "$TMP/od.out" -q 2>/dev/null &&
  cmp -s "$TMP/od.out" "$TMP/new" && od_check="applied, equal"
rm -f "$TMP/od.out"
bs=$(measure bsdiff bsdiff "$TMP/old" "$TMP/new" "$TMP/bs.patch")
bs_check=mismatch
bspatch "$TMP/old" "$TMP/bs.out" "$TMP/bs.patch" 2>/dev/null &&
  cmp -s "$TMP/bs.out" "$TMP/new" && bs_check="applied, equal"

read -r od_ms _ <<<"$od"
read -r bs_ms _ <<<"$bs"
printf '\n## Generator at scale (measured in this run)\n\n'
printf 'bench/scale.sh: a synthetic %s MiB pair (old %s B, new %s B; see the script for the\n' \
  "$MIB" "$old_size" "$new_size"
printf 'edits), one run each, default settings, on %s cores. RSS/old is peak RSS over the old\n' \
  "$(nproc)"
printf 'image size (target: 6, architecture.md).\n\n'
printf '| tool | diff ms | peak RSS KiB | RSS/old | package B | check |\n'
printf '|---|---:|---:|---:|---:|---|\n'
row otadelta "$od" "$TMP/od.otad" "$od_check"
row "bsdiff 4.3" "$bs" "$TMP/bs.patch" "$bs_check"
if ((od_ms > 0)); then
  awk -v a="$bs_ms" -v b="$od_ms" 'BEGIN { printf "\nbsdiff time / otadelta time: %.2f\n", a / b }'
fi
