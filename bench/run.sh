#!/usr/bin/env bash
# bench/run.sh - run otadelta (default and --effort fast) and the Debian peers (bsdiff, xdelta3,
# zstd) on the shared firmware corpus in one run, apply every patch back, and write
# bench/RESULTS.md.
#
# Usage: bench/run.sh [--corpus DIR] [--otadelta PATH] [--out FILE] [--runs N] [--synthetic-mib N]
# See bench/README.md for what is measured and how to read the output.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
usage: bench/run.sh [options]

Runs otadelta (LZMA, LZMA with --effort fast, deflate, and none) and bsdiff, xdelta3 -9 lzma,
zstd -19 --patch-from on every pair of the corpus's pairs.tsv, applies every patch back and
compares it byte for byte, measures sizes, wall times and peak RSS, and writes a Markdown report.

  --corpus DIR        corpus folder with pairs.tsv and peer-results.md
                      (default: shared/corpus beside the checkout, i.e. REPO/../shared/corpus)
  --otadelta PATH     otadelta binary to measure (default: build the working tree, CMake Release,
                      into REPO/build-bench and use build-bench/cli/otadelta)
  --out FILE          report to write (default: REPO/bench/RESULTS.md)
  --runs N            timed runs per measurement, the median is reported (default 3)
  --synthetic-mib N   size of the synthetic files for the uncompressed applier throughput row
                      and the generator-at-scale pair, otadelta against bsdiff (bench/scale.sh)
                      (default 64; 0 skips both)
  -h, --help          this text

Missing peers are installed with apt-get when running as root; otherwise the script says which
Debian packages to install.
EOF
}

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
CORPUS="$REPO/../shared/corpus"
OTADELTA=""
OUT="$REPO/bench/RESULTS.md"
RUNS=3
SYN_MIB=64
CMDLINE="bench/run.sh"
[[ $# -eq 0 ]] || CMDLINE+=$(printf ' %q' "$@")

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --corpus) need_arg "$@"; CORPUS=$2; shift 2 ;;
    --corpus=*) CORPUS=${1#*=}; shift ;;
    --otadelta) need_arg "$@"; OTADELTA=$2; shift 2 ;;
    --otadelta=*) OTADELTA=${1#*=}; shift ;;
    --out) need_arg "$@"; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --runs) need_arg "$@"; RUNS=$2; shift 2 ;;
    --runs=*) RUNS=${1#*=}; shift ;;
    --synthetic-mib) need_arg "$@"; SYN_MIB=$2; shift 2 ;;
    --synthetic-mib=*) SYN_MIB=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $SYN_MIB =~ ^[0-9]+$ ]] || die "--synthetic-mib must be a non-negative integer"

[[ -n ${EPOCHREALTIME:-} ]] ||
  die "bash 5.0 or newer is needed (EPOCHREALTIME); this is bash $BASH_VERSION"
START_US=${EPOCHREALTIME//[!0-9]/}

# --- corpus -------------------------------------------------------------------------------------
[[ -d $CORPUS ]] ||
  die "corpus not found at $CORPUS (pass --corpus DIR; it is the shared/corpus folder)"
CORPUS=$(cd "$CORPUS" && pwd)
[[ -f $CORPUS/pairs.tsv ]] || die "no pairs.tsv in $CORPUS"
[[ -f $CORPUS/peer-results.md ]] || die "no peer-results.md in $CORPUS"

# --- peers and helpers --------------------------------------------------------------------------
missing=()
{ have bsdiff && have bspatch; } || missing+=(bsdiff)
have xdelta3 || missing+=(xdelta3)
have zstd || missing+=(zstd)
{ [[ -x /usr/bin/time ]] && /usr/bin/time --version 2>&1 | grep -q 'GNU'; } || missing+=(time)
have python3 || missing+=(python3)
have cmp || missing+=(diffutils)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -eq 0 ]] && have apt-get; then
    log "installing missing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >&2
  else
    die "missing tools; install them with: sudo apt-get install ${missing[*]}"
  fi
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)' ||
  die "python3 3.6 or newer is needed for the report"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/otadelta-bench.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$TMP/w"
: >"$TMP/runs.tsv"
: >"$TMP/status.tsv"
: >"$TMP/pairs.tsv"
: >"$TMP/tp.tsv"
: >"$TMP/container.tsv"
: >"$TMP/meta.tsv"

meta() { # KEY VALUE... (tabs and newlines in values become spaces)
  local k=$1; shift
  local v="$*"
  v=${v//$'\t'/ }
  v=${v//$'\n'/ }
  printf '%s\t%s\n' "$k" "$v" >>"$TMP/meta.tsv"
}

# --- otadelta -----------------------------------------------------------------------------------
if [[ -z $OTADELTA ]]; then
  have cmake || die "cmake is needed to build otadelta (or pass --otadelta PATH)"
  BUILD="$REPO/build-bench"
  log "building otadelta from $REPO (CMake Release) into $BUILD"
  # The server and its fleet simulator (a test target) are built when their
  # libraries are present, for the server rows at the end.
  server_opts=(-DOD_BUILD_TESTS=OFF)
  if pkg-config --exists libmicrohttpd jansson sqlite3 2>/dev/null; then
    server_opts=(-DOD_BUILD_SERVER=ON -DOD_BUILD_TESTS=ON)
  fi
  if ! { cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${server_opts[@]}" &&
    cmake --build "$BUILD" -j"$(nproc)"; } >"$TMP/build.log" 2>&1; then
    tail -n 40 "$TMP/build.log" >&2
    die "building otadelta failed (log above)"
  fi
  OTADELTA="$BUILD/cli/otadelta"
  meta od_source "built by this run from the working tree $REPO" \
    "(CMake Release, OD_BUILD_TESTS=OFF) into $BUILD"
  cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" | head -n 1)
  if [[ -n $cc ]]; then
    meta od_compiler "$("$cc" --version 2>/dev/null | head -n 1) ($cc)"
  fi
  meta od_cflags "$(sed -n 's/^CMAKE_C_FLAGS_RELEASE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" |
    head -n 1)"
else
  [[ -x $OTADELTA ]] || die "--otadelta $OTADELTA is not an executable file"
  OTADELTA=$(cd "$(dirname "$OTADELTA")" && pwd)/$(basename "$OTADELTA")
  meta od_source "given with --otadelta $OTADELTA (not built by this run)"
fi
[[ -x $OTADELTA ]] || die "otadelta binary not found at $OTADELTA"
meta od_path "$OTADELTA"
meta od_version "$("$OTADELTA" version 2>&1 | head -n 1 || true)"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
  rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  subject=$(git -C "$REPO" log -1 --format=%s 2>/dev/null || true)
  dirty=$(git --no-optional-locks -C "$REPO" status --porcelain 2>/dev/null | wc -l)
  meta od_git "$rev ($subject); $dirty path(s) with uncommitted or untracked changes at run time"
fi

# --- timing -------------------------------------------------------------------------------------
# timed KEY TOOL PHASE RUN CMD... - runs CMD once under GNU time (-f '%e %M') and brackets it with
# EPOCHREALTIME for microsecond wall time; appends one line to runs.tsv; returns CMD's exit status.
timed() {
  local key=$1 tool=$2 phase=$3 run=$4 t0 t1 rc=0 e=- rss=- line
  shift 4
  rm -f "$TMP/time.txt"
  t0=${EPOCHREALTIME//[!0-9]/}
  /usr/bin/time -f '%e %M' -o "$TMP/time.txt" "$@" </dev/null >"$TMP/last.log" 2>&1 || rc=$?
  t1=${EPOCHREALTIME//[!0-9]/}
  if [[ -s $TMP/time.txt ]]; then
    line=$(tail -n 1 "$TMP/time.txt")
    read -r e rss <<<"$line" || true
    [[ $e =~ ^[0-9.]+$ ]] || e=-
    [[ ${rss:-} =~ ^[0-9]+$ ]] || rss=-
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$tool" "$phase" "$run" "$((t1 - t0))" \
    "$e" "$rss" "$rc" >>"$TMP/runs.tsv"
  return "$rc"
}

# last_log - the tail of the last timed command's output, on one line
last_log() {
  local s
  s=$(tail -n 3 "$TMP/last.log" 2>/dev/null | tr '\t\n' '  ' | cut -c 1-200)
  printf '%s' "${s:-no output}"
}

# The overhead of the measurement itself and two otadelta memory baselines: the bare process
# (`otadelta version`) and the generator's fixed cost (a diff of two 4 KiB files).
for r in 1 2 3 4 5; do timed _overhead true base "$r" true || true; done
timed _overhead otadelta-version base 1 "$OTADELTA" version || true
python3 -c '
import hashlib, sys
d = hashlib.shake_128(b"otadelta-bench tiny").digest(4096)
open(sys.argv[1], "wb").write(d)
open(sys.argv[2], "wb").write(d[:2000] + b"bench" + d[2005:])
' "$TMP/w/tiny.old" "$TMP/w/tiny.new"
timed _overhead otadelta-tiny-diff base 1 "$OTADELTA" diff "$TMP/w/tiny.old" "$TMP/w/tiny.new" \
  -o "$TMP/w/tiny.od" --from-version old --to-version new -q || true
rm -f "$TMP/w/tiny.old" "$TMP/w/tiny.new" "$TMP/w/tiny.od"

# --- per pair, per tool -------------------------------------------------------------------------
TOOLS=(otadelta otadelta-fast otadelta-deflate otadelta-none bsdiff xdelta3-lzma zstd19)

# bench_tool PAIR TOOL OLD NEW
bench_tool() {
  local pair=$1 tool=$2 old=$3 new=$4
  local patch="$TMP/w/patch.$tool" out="$TMP/w/out.$tool"
  local -a enc dec
  local r rc size=- status=ok detail="" wl big
  local -a zlong=() odopt=()
  case $tool in
    otadelta | otadelta-fast | otadelta-deflate | otadelta-none)
      # One command: otadelta-fast adds --effort fast (still LZMA), otadelta-deflate --codec
      # deflate, otadelta-none --codec none (what the tiny applier profile takes)
      case $tool in
        otadelta-fast) odopt=(--effort fast) ;;
        otadelta-deflate) odopt=(--codec deflate) ;;
        otadelta-none) odopt=(--codec none) ;;
      esac
      enc=("$OTADELTA" diff "$old" "$new" -o "$patch" --from-version old --to-version new -q
        ${odopt[@]+"${odopt[@]}"})
      dec=("$OTADELTA" apply "$old" "$patch" -o "$out" -q) ;;
    bsdiff)
      enc=(bsdiff "$old" "$new" "$patch")
      dec=(bspatch "$old" "$out" "$patch") ;;
    xdelta3-lzma)
      enc=(xdelta3 -e -9 -S lzma -s "$old" "$new" "$patch")
      dec=(xdelta3 -d -s "$old" "$patch" "$out") ;;
    zstd19)
      # zstd sizes its window for --patch-from itself; decoding needs --long beyond 2^27 bytes.
      big=$(stat -c %s "$old" "$new" | sort -n | tail -n 1)
      wl=10
      while (((1 << wl) < big)); do wl=$((wl + 1)); done
      if ((wl > 27)); then
        zlong=(--long="$wl")
        detail="used --long=$wl"
      fi
      enc=(zstd -q -f -19 ${zlong[@]+"${zlong[@]}"} --patch-from="$old" "$new" -o "$patch")
      dec=(zstd -q -f -d ${zlong[@]+"${zlong[@]}"} --patch-from="$old" "$patch" -o "$out") ;;
    *) die "internal: unknown tool $tool" ;;
  esac

  for ((r = 1; r <= RUNS; r++)); do
    rm -f "$patch"
    rc=0
    timed "$pair" "$tool" diff "$r" "${enc[@]}" || rc=$?
    if ((rc != 0)); then
      status=fail
      detail="diff exited with status $rc: $(last_log)"
      break
    fi
    if [[ ! -f $patch ]]; then
      status=fail
      detail="diff exited 0 but wrote no patch"
      break
    fi
  done
  if [[ $status == ok ]]; then
    size=$(stat -c %s "$patch")
    # The container's share of a default package (header, extensions,
    # index): fixed bytes that carry the hashes FORMAT.md requires.
    if [[ $tool == otadelta ]]; then
      payload=$("$OTADELTA" info --json "$patch" | sed -n 's/^ *"payload_size": *\([0-9]*\).*/\1/p')
      [[ -n $payload ]] && printf '%s\t%s\n' "$pair" "$((size - payload))" >>"$TMP/container.tsv"
    fi
    for ((r = 1; r <= RUNS; r++)); do
      rm -f "$out"
      rc=0
      timed "$pair" "$tool" apply "$r" "${dec[@]}" || rc=$?
      if ((rc != 0)); then
        status=fail
        detail="apply/decode exited with status $rc: $(last_log)"
        break
      fi
      if ! cmp -s "$out" "$new"; then
        status=fail
        detail="applied output differs from NEW (cmp)"
        break
      fi
    done
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$pair" "$tool" "$size" "$status" "$detail" >>"$TMP/status.tsv"
  rm -f "$patch" "$out"
}

meta load_start "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)"
npairs=0
largest=""
largest_size=0
while IFS=$'\t' read -r id arch step oldrel newrel _rest || [[ -n ${id:-} ]]; do
  [[ -z ${id:-} || $id == id || $id == \#* ]] && continue
  old="$CORPUS/$oldrel"
  new="$CORPUS/$newrel"
  [[ -f $old ]] || die "pair $id: $old is missing"
  [[ -f $new ]] || die "pair $id: $new is missing"
  osz=$(stat -c %s "$old")
  nsz=$(stat -c %s "$new")
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$arch" "$step" "$osz" "$nsz" >>"$TMP/pairs.tsv"
  log "pair $id ($osz -> $nsz B)"
  for tool in "${TOOLS[@]}"; do
    bench_tool "$id" "$tool" "$old" "$new"
  done
  for f in "$old" "$new"; do
    s=$(stat -c %s "$f")
    if ((s > largest_size)); then largest_size=$s; largest=$f; fi
  done
  npairs=$((npairs + 1))
done <"$CORPUS/pairs.tsv"
((npairs > 0)) || die "no pairs in $CORPUS/pairs.tsv"

# --- applier throughput, uncompressed -----------------------------------------------------------
# tp_run KEY DESCRIPTION FILE - full package with --codec none, then apply --chunk 65536
tp_run() {
  local key=$1 desc=$2 file=$3 pkg="$TMP/w/tp.od" out="$TMP/w/tp.out" r rc status=ok detail=""
  local bytes
  bytes=$(stat -c %s "$file")
  log "applier throughput: $desc"
  rc=0
  timed "$key" otadelta full 1 "$OTADELTA" full "$file" -o "$pkg" --codec none --to-version x -q ||
    rc=$?
  if ((rc != 0)); then
    status=fail
    detail="otadelta full exited with status $rc: $(last_log)"
  else
    for ((r = 1; r <= RUNS; r++)); do
      rm -f "$out"
      rc=0
      timed "$key" otadelta apply "$r" "$OTADELTA" apply "$pkg" -o "$out" --chunk 65536 -q || rc=$?
      if ((rc != 0)); then
        status=fail
        detail="otadelta apply exited with status $rc: $(last_log)"
        break
      fi
      if ! cmp -s "$out" "$file"; then
        status=fail
        detail="applied output differs from the input (cmp)"
        break
      fi
    done
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$key" "$desc" "$bytes" "$status" "$detail" >>"$TMP/tp.tsv"
  rm -f "$pkg" "$out"
}

tp_run tp-largest "largest corpus image, ${largest#"$CORPUS"/}" "$largest"
if ((SYN_MIB > 0)); then
  python3 -c '
import hashlib, sys
n = int(sys.argv[1]) << 20
sys.stdout.buffer.write(hashlib.shake_128(b"otadelta-bench synthetic").digest(n))
' "$SYN_MIB" >"$TMP/w/synthetic.bin"
  tp_run tp-synthetic "synthetic $SYN_MIB MiB (SHAKE-128 stream, incompressible, deterministic)" \
    "$TMP/w/synthetic.bin"
  rm -f "$TMP/w/synthetic.bin"
fi
meta load_end "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)"

# --- machine and versions -----------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[[ -n $cpu ]] || cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
meta date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta cmdline "$CMDLINE"
meta nproc "$(nproc)"
meta cpu "${cpu:-unknown}"
meta memtotal "$(sed -n 's/^MemTotal:[[:space:]]*//p' /proc/meminfo 2>/dev/null | head -n 1)"
meta kernel "$(uname -srm)"
# shellcheck disable=SC1091
meta os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")"
meta corpus "$CORPUS"
meta runs "$RUNS"
meta v_bsdiff "$(dpkg-query -W -f '${Package} ${Version}' bsdiff 2>/dev/null ||
  echo 'bsdiff (version unknown, not from dpkg)')"
meta v_xdelta3 "$(xdelta3 -V 2>&1 | head -n 1 | sed 's/, Copyright.*//')"
meta v_zstd "$(zstd --version 2>&1 | head -n 1 | sed 's/^[* ]*//; s/[* ]*$//')"
meta v_time "$(/usr/bin/time --version 2>&1 | head -n 1)" \
  "$(dpkg-query -W -f '(Debian ${Package} ${Version})' time 2>/dev/null || true)"
meta v_python "$(python3 --version 2>&1)"
meta elapsed_ms "$(((${EPOCHREALTIME//[!0-9]/} - START_US) / 1000))"

# --- report -------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
rc=0
python3 "$SCRIPT_DIR/lib/report.py" --dir "$TMP" --peers "$CORPUS/peer-results.md" --out "$OUT" ||
  rc=$?
if ((rc != 0 && rc != 3)); then
  die "writing the report failed (status $rc)"
fi
# In-process applier throughput and the server, when this run built them.
if [[ -n ${BUILD:-} && -x $BUILD/bench/od_bench_apply ]]; then
  log "applier throughput in process (64 MiB images)"
  {
    printf '\n## Applier throughput in process (measured in this run)\n\n'
    printf 'build/bench/od_bench_apply 64: packages and images in memory, flash callbacks are\n'
    printf 'memcpy, 4 KiB pages; includes CRC, payload SHA-256 and the read-back SHA-256 + MD5.\n\n'
    "$BUILD/bench/od_bench_apply" 64
  } >>"$OUT" || log "od_bench_apply failed"
fi
if [[ -n ${BUILD:-} && -x $BUILD/server-stub/otadelta-server && -x $BUILD/server-stub/od_srv_test_live ]]; then
  log "server on loopback (Range requests, 10,000-device fleet)"
  {
    printf '\n## Server on loopback (measured in this run)\n\n'
    printf 'bench/server/bench_server.sh: client and server share the same %s cores.\n\n' "$(nproc)"
    sh "$SCRIPT_DIR/server/bench_server.sh" "$BUILD" 10000
  } >>"$OUT" 2>"$TMP/server.log" || log "server benchmark failed: $(tail -n 3 "$TMP/server.log")"
fi
if ((SYN_MIB > 0)); then
  log "generator at scale: synthetic $SYN_MIB MiB pair, otadelta and bsdiff"
  bash "$SCRIPT_DIR/scale.sh" "$OTADELTA" "$SYN_MIB" >>"$OUT" 2>"$TMP/scale.log" ||
    log "scale benchmark failed: $(tail -n 3 "$TMP/scale.log")"
fi
log "what the RAM budget buys: every pair at --ram 12K .. 256K"
bash "$SCRIPT_DIR/budget.sh" "$OTADELTA" "$CORPUS" >>"$OUT" 2>"$TMP/budget.log" ||
  log "budget benchmark failed: $(tail -n 3 "$TMP/budget.log")"
log "wrote $OUT in $(((${EPOCHREALTIME//[!0-9]/} - START_US) / 1000000)) s"
if ((rc == 3)); then
  log "some patches failed to build or to verify; see the Failures section of $OUT"
  exit 3
fi
