#!/usr/bin/env bash
# One CTest case of the QEMU port (tests/qemu.cmake):
#
#   qemu_case.sh OTADELTA OUTDIR CODEC RESET OLD NEW
#   qemu_case.sh OTADELTA OUTDIR CODEC RESET --pair ID CORPUS_DIR
#
# RESET: 0 for a straight run; K > 0 to cut power at the K-th page program
# of the first two boots (packages then use 8 KiB blocks, so the device
# really resumes at a later block). Exits 77 when a tool or the corpus is
# missing, else with examples/qemu-mps2/run.sh's status.
set -u
otadelta=$1 out=$2 codec=$3 reset=$4
shift 4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)

for tool in arm-none-eabi-gcc qemu-system-arm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
if [[ $1 == --pair ]]; then
    id=$2 corpus=$3
    [[ -f $corpus/pairs.tsv ]] || { echo "SKIP: no corpus at $corpus"; exit 77; }
    line=$(awk -F'\t' -v id="$id" '$1 == id { print $4 "\t" $5 }' "$corpus/pairs.tsv")
    [[ -n $line ]] || { echo "SKIP: pair $id not in $corpus/pairs.tsv"; exit 77; }
    old=$corpus/${line%%$'\t'*} new=$corpus/${line#*$'\t'}
else
    old=$1 new=$2
fi
[[ -f $old && -f $new ]] || { echo "SKIP: $old or $new missing"; exit 77; }

export OTADELTA=$otadelta OUTDIR=$out QEMU_TIMEOUT=${QEMU_TIMEOUT:-60}
rm -rf "$out"
if [[ $reset != 0 ]]; then
    export RESET_AFTER=$reset RESETS=2 DIFF_ARGS="--block 8192 --restart 8192"
fi
exec "$root/examples/qemu-mps2/run.sh" "$old" "$new" "$codec"
