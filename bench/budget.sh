#!/usr/bin/env bash
# bench/budget.sh - what the device's RAM buys: otadelta's package size on
# every corpus pair for a range of --ram budgets (LZMA, the default codec),
# each package applied back and compared. Prints a Markdown section;
# bench/run.sh appends it to RESULTS.md.
#
#   bench/budget.sh OTADELTA CORPUS
#
# The budget is the applier's whole RAM (state, page buffer, decoder); the
# generator turns what is left into LZMA dictionary, capped by the longest
# block stream, so past some size more RAM buys nothing.
set -euo pipefail

OTADELTA=${1:?usage: bench/budget.sh OTADELTA CORPUS}
CORPUS=${2:?usage: bench/budget.sh OTADELTA CORPUS}
BUDGETS=(12K 16K 32K 64K 128K 256K)
DEFAULT=16K
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

: >"$TMP/sizes.tsv"
while IFS=$'\t' read -r id _arch _step oldrel newrel _rest || [[ -n ${id:-} ]]; do
  [[ -z ${id:-} || $id == id || $id == \#* ]] && continue
  for ram in "${BUDGETS[@]}"; do
    size=fail
    dict=-
    if "$OTADELTA" diff "$CORPUS/$oldrel" "$CORPUS/$newrel" -o "$TMP/p.otad" --ram "$ram" \
      --from-version a --to-version b -q 2>"$TMP/err" &&
      "$OTADELTA" apply "$CORPUS/$oldrel" "$TMP/p.otad" -o "$TMP/out" -q 2>>"$TMP/err" &&
      cmp -s "$TMP/out" "$CORPUS/$newrel"; then
      size=$(stat -c %s "$TMP/p.otad")
      dict=$("$OTADELTA" info --json "$TMP/p.otad" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["dict_size"])')
    fi
    printf '%s\t%s\t%s\t%s\n' "$id" "$ram" "$size" "$dict" >>"$TMP/sizes.tsv"
    rm -f "$TMP/p.otad" "$TMP/out"
  done
done <"$CORPUS/pairs.tsv"

python3 - "$TMP/sizes.tsv" "$DEFAULT" "${BUDGETS[@]}" <<'PY'
import math, sys
path, default, budgets = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [l.rstrip("\n").split("\t") for l in open(path)]
size = {(r[0], r[1]): r[2] for r in rows}
dicts = {(r[0], r[1]): r[3] for r in rows}
pairs = list(dict.fromkeys(r[0] for r in rows))
print("\n## What the device's RAM buys (measured in this run)\n")
print("bench/budget.sh: `otadelta diff --ram B` (LZMA) on every pair, each package applied back and")
print("compared. The budget is the applier's whole RAM: 2048 B of state, the 256 B page and the")
print("decoder (probabilities, then the dictionary). Sizes in bytes; `/16K` is the geometric mean")
print("over the pairs of the size relative to the default budget; `dict` the largest dictionary")
print("chosen (the generator caps it at the longest block stream).\n")
print("| pair | " + " | ".join(budgets) + " |")
print("|---|" + "---:|" * len(budgets))
for p in pairs:
    print("| %s | %s |" % (p, " | ".join(size[(p, b)] for b in budgets)))
ok = [p for p in pairs if all(size[(p, b)].isdigit() for b in budgets)]
line = []
for b in budgets:
    g = math.exp(sum(math.log(int(size[(p, b)]) / int(size[(p, default)])) for p in ok) / len(ok)) if ok else float("nan")
    line.append("%.3f" % g)
print("| **/16K (geomean, %d pairs)** | %s |" % (len(ok), " | ".join(line)))
print("| dict (largest) | %s |" % " | ".join(
    str(max((int(dicts[(p, b)]) for p in pairs if dicts[(p, b)].isdigit()), default=0)) for b in budgets))
bad = [p for p in pairs if p not in ok]
if bad:
    print("\nFailed (no package, or it did not restore NEW): " + ", ".join(bad))
PY
