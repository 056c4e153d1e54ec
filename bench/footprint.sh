#!/usr/bin/env bash
# bench/footprint.sh - code, RAM and stack of the applier on Cortex-M, per
# profile (patch/profiles/od_profile_{tiny,deflate,lzma}.h) and core
# (cortex-m0plus, cortex-m3, cortex-m4). Prints the report and rewrites
# bench/FOOTPRINT.md. One command, no arguments:
#
#   bench/footprint.sh
#
# For each profile x core it compiles the applier sources (patch/ and the
# freestanding part of pkgfmt/) with arm-none-eabi-gcc -Os -ffreestanding
# -ffunction-sections -fdata-sections -fstack-usage -fcallgraph-info=su,
# links them with a minimal main that calls od_patch_init/feed/offset (so
# --gc-sections keeps exactly what an integrator's program keeps) and reads
# the link map: .text/.rodata/.data/.bss per object. It also reports
# sizeof(od_patch), the work buffer a default package asks for (ram_needed
# from `otadelta info --json` of a real package: 256-byte pages, 16 KiB
# budget), the worst-case stack of od_patch_feed from the call graph GCC
# writes, and - when qemu-system-arm is there - the stack measured by
# painting under QEMU with the mps2-an385 port (Cortex-M3) and the
# instructions it counted per output byte.
#
# Environment: OTADELTA (default build/cli/otadelta, else in PATH),
# CROSS_COMPILE (default arm-none-eabi-), FOOTPRINT_OUT (report path,
# default bench/FOOTPRINT.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CROSS_COMPILE=${CROSS_COMPILE:-arm-none-eabi-}
CC=${CROSS_COMPILE}gcc
NM=${CROSS_COMPILE}nm
report=${FOOTPRINT_OUT:-$root/bench/FOOTPRINT.md}
OTADELTA=${OTADELTA:-}
if [[ -z $OTADELTA ]]; then
    if [[ -x $root/build/cli/otadelta ]]; then OTADELTA=$root/build/cli/otadelta
    else OTADELTA=$(command -v otadelta || true); fi
fi
for tool in "$CC" "$NM" python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

profiles=(tiny deflate lzma)
cores=(cortex-m0plus cortex-m3 cortex-m4)
sources=(patch/od_patch.c patch/od_lzma.c patch/od_inflate.c
         pkgfmt/od_pkg_read.c pkgfmt/od_sha256.c pkgfmt/od_md5.c pkgfmt/od_crc32.c)

cpu_flags() {
    case $1 in
    cortex-m0plus) echo "-mcpu=cortex-m0plus -mthumb -mfloat-abi=soft" ;;
    cortex-m3) echo "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft" ;;
    cortex-m4) echo "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" ;;
    esac
}

# The smallest program that uses the applier the way a bootloader does.
# Inputs come from fixed addresses so nothing is constant-folded away.
cat >"$work/harness.c" <<'EOF'
#include "od_patch.h"

int main(void);

static int cb_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
    (void)ctx; (void)off; (void)buf;
    return *(volatile int *)0x20000010 + (int)len;
}
static int cb_write(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
    (void)ctx; (void)off; (void)buf;
    return *(volatile int *)0x20000014 + (int)len;
}
static int cb_erase(void *ctx, uint32_t off, uint32_t len)
{
    (void)ctx; (void)off;
    return *(volatile int *)0x20000018 + (int)len;
}
static int cb_save(void *ctx, uint32_t blocks_done)
{
    (void)ctx;
    *(volatile uint32_t *)0x2000001C = blocks_done;
    return 0;
}

static od_patch patch;
static od_patch_config cfg;

int main(void)
{
    size_t pos = 0;
    int r;
    cfg.read_old = cb_read;
    cfg.read_new = cb_read;
    cfg.write = cb_write;
    cfg.erase = cb_erase;
    cfg.save_progress = cb_save;
    cfg.work = (uint8_t *)0x20001000;
    cfg.work_size = *(volatile uint32_t *)0x20000000;
    cfg.page_size = 256;
    cfg.erase_size = 4096;
    r = od_patch_init(&patch, &cfg, *(volatile uint32_t *)0x20000004);
    while (r >= 0 && r != OD_PATCH_DONE)
        r = od_patch_feed(&patch, (const uint8_t *)0x10000000 + od_patch_offset(&patch), &pos,
                          1024);
    return r;
}
EOF
# Object sizes as symbol sizes: sizeof() without running anything.
cat >"$work/sizes.c" <<'EOF'
#include "od_patch.h"
const char fp_state[sizeof(od_patch)];
const char fp_header[sizeof(od_pkg_header)];
const char fp_union[sizeof(((od_patch *)0)->u)];
const char fp_sha256[sizeof(od_sha256_ctx)];
const char fp_obuf[OD_PATCH_OBUF];
EOF

echo "building the applier: ${#profiles[@]} profiles x ${#cores[@]} cores" >&2
for profile in "${profiles[@]}"; do
    for core in "${cores[@]}"; do
        d=$work/$profile-$core
        mkdir -p "$d"
        # shellcheck disable=SC2046  # cpu_flags is a word list
        flags=($(cpu_flags "$core") -std=c99 -Os -ffreestanding -ffunction-sections
               -fdata-sections -Wall -Wextra -I"$root/patch/profiles" -I"$root/patch"
               -I"$root/pkgfmt" "-DOD_CONFIG=\"od_profile_$profile.h\"")
        objs=()
        for s in "${sources[@]}" harness; do
            src=$root/$s
            [[ $s == harness ]] && src=$work/harness.c
            o=$d/$(basename "${s%.c}").o
            (cd "$d" && "$CC" "${flags[@]}" -fstack-usage -fcallgraph-info=su -c "$src" -o "$o" \
                2>>"$d/warnings.txt")
            objs+=("$o")
        done
        "$CC" "${flags[@]}" "${objs[@]}" --specs=nano.specs -nostartfiles -e main \
            -Wl,--gc-sections -Wl,-Map="$d/fp.map" -o "$d/fp.elf" 2>>"$d/warnings.txt"
        "$CC" "${flags[@]}" -c "$work/sizes.c" -o "$d/sizes.o"
        "$NM" -S "$d/sizes.o" >"$d/sizes.txt"
        "$NM" -S --size-sort "$d/fp.elf" >"$d/symbols.txt"
    done
done

# ram_needed of real default packages, and the QEMU measurements.
fw=$work/fw
measured=$work/measured.txt
: >"$measured"
if [[ -n $OTADELTA ]] && command -v qemu-system-arm >/dev/null 2>&1 &&
   "$root/examples/firmware/build.sh" "$fw" >/dev/null 2>&1; then
    for codec in none deflate lzma; do
        echo "running the QEMU port ($codec)" >&2
        log=$work/qemu-$codec
        if OTADELTA=$OTADELTA OUTDIR=$log "$root/examples/qemu-mps2/run.sh" \
               "$fw/fw-v1.bin" "$fw/fw-v2.bin" "$codec" >"$log.txt" 2>&1; then
            ram=$("$OTADELTA" info --json "$log/update-$codec.otad" |
                  sed -n 's/.*"ram_needed": \([0-9]*\).*/\1/p')
            echo "$codec ram_needed $ram" >>"$measured"
            sed -n 's/^stack: \([0-9]*\) B high-water in all, \([0-9]*\) B below.*/stack_all \1\nstack_feed \2/p;
                    s/^instructions: \([0-9]*\) total, \([0-9]*\) per output byte.*/insn_total \1\ninsn_per_byte \2/p;
                    s/^image written: \([0-9]*\) B.*/target \1/p' "$log.txt" |
                sed "s/^/$codec /" >>"$measured"
        else
            echo "warning: QEMU port failed for $codec (see below)" >&2
            cat "$log.txt" >&2
        fi
        # The same update on the other cores' builds: Cortex-M4 (mps2-an386)
        # and ARMv6-M (Stellaris board with -cpu cortex-m0).
        for board in mps2-an386:m4 lm3s6965evb-m0:m0; do
            blog=$work/qemu-$codec-${board#*:}
            if BOARD=${board%:*} OTADELTA=$OTADELTA OUTDIR=$blog "$root/examples/qemu-mps2/run.sh" \
                   "$fw/fw-v1.bin" "$fw/fw-v2.bin" "$codec" >"$blog.txt" 2>&1; then
                sed -n 's/^stack: [0-9]* B high-water in all, \([0-9]*\) B below.*/stack_feed \1/p;
                        s/^instructions: [0-9]* total, \([0-9]*\) per output byte.*/insn_per_byte \1/p' \
                    "$blog.txt" | sed "s/^/$codec ${board#*:}_/" >>"$measured"
            else
                echo "warning: QEMU port failed for $codec on ${board%:*} (see below)" >&2
                cat "$blog.txt" >&2
            fi
        done
    done
else
    echo "note: otadelta CLI, qemu-system-arm or the firmware build missing: no measured stack" >&2
fi

python3 - "$work" "$report" "$CC" <<'EOF'
import collections, glob, os, re, subprocess, sys

work, report, cc = sys.argv[1:4]
profiles = ["tiny", "deflate", "lzma"]
cores = ["cortex-m0plus", "cortex-m3", "cortex-m4"]
codec_of = {"tiny": "none", "deflate": "deflate", "lzma": "lzma"}
kinds = ("text", "rodata", "data", "bss")

def kind_of(sec):
    for k in kinds:
        if sec == "." + k or sec.startswith("." + k + "."):
            return k
    return "bss" if sec == "COMMON" else None

def parse_map(path):
    """Per-object sizes of the input sections the linker kept."""
    sizes = collections.defaultdict(lambda: dict.fromkeys(kinds, 0))
    lines = open(path).read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("Linker script and memory map"))
    pending = None
    for line in lines[start:]:
        m = re.match(r"^ (\.\S+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", line)
        if not m and pending:
            m2 = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", line)
            if m2:
                m = (pending, m2.group(1), m2.group(2), m2.group(3))
        elif m:
            m = m.groups()
        pending = None
        if not m:
            m1 = re.match(r"^ (\.\S+)$", line)
            pending = m1.group(1) if m1 else None
            continue
        sec, addr, size, obj = m
        k = kind_of(sec)
        if k is None or int(size, 16) == 0:
            continue
        if "libc" in obj or "libgcc" in obj:
            name = "libc/libgcc (" + re.sub(r".*\((.*)\)", r"\1", obj).replace("libc_a-", "") + ")"
        else:
            name = os.path.basename(obj)
        sizes[name][k] += int(size, 16)
    return sizes

def parse_sizes(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) == 4:
            out[f[3]] = int(f[1], 16)
    return out

def stack_graph(d):
    """Worst-case stack of od_patch_feed/init from GCC's call graph."""
    own, edges, dyn = {}, collections.defaultdict(set), set()
    for ci in glob.glob(os.path.join(d, "*.ci")):
        for line in open(ci):
            m = re.match(r'node: \{ title: "([^"]+)" label: "[^"]*\\n(\d+) bytes \(([^)]*)\)', line)
            if m:
                own[m.group(1)] = int(m.group(2))
                if "dynamic" in m.group(3):
                    dyn.add(m.group(1))
                continue
            m = re.match(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', line)
            if m:
                edges[m.group(1)].add(m.group(2))
    memo, recursive = {}, set()
    def worst(fn, path):
        if fn in path:
            recursive.add(fn)
            return 0, [fn + " (recursion)"]
        if fn in memo:
            return memo[fn]
        best, chain = 0, []
        for callee in edges.get(fn, ()):
            s, c = worst(callee, path | {fn})
            if s > best:
                best, chain = s, c
        r = (own.get(fn, 0) + best, [fn] + chain)
        memo[fn] = r
        return r
    res = {}
    for entry in ("od_patch_feed", "od_patch_init"):
        total, chain = worst(entry, frozenset())
        res[entry] = (total, [c.split(":")[-1] + "(%d)" % own.get(c, 0) for c in chain])
    return res, dyn, recursive

measured = collections.defaultdict(dict)
for line in open(os.path.join(work, "measured.txt")):
    codec, key, val = line.split()
    measured[codec][key] = int(val)

rows, detail = {}, {}
for p in profiles:
    for c in cores:
        d = os.path.join(work, p + "-" + c)
        objs = parse_map(os.path.join(d, "fp.map"))
        app = {k: sum(v[k] for o, v in objs.items()
                      if o != "harness.o" and not o.startswith("libc")) for k in kinds}
        libc = sum(v["text"] + v["rodata"] for o, v in objs.items() if o.startswith("libc"))
        sz = parse_sizes(os.path.join(d, "sizes.txt"))
        st, dyn, rec = stack_graph(d)
        rows[p, c] = dict(app=app, libc=libc, sizes=sz, stack=st, dyn=dyn, rec=rec)
        detail[p, c] = objs

def kib(n):
    return "%.2f KiB" % (n / 1024.0)

out = []
w = out.append
gcc = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
w("# Applier footprint on Cortex-M")
w("")
w("Generated by `bench/footprint.sh` (do not edit by hand) with %s, `-Os -ffreestanding "
  "-ffunction-sections -fdata-sections`, linked with `--gc-sections` and newlib-nano into a "
  "minimal program that calls `od_patch_init`/`od_patch_feed`/`od_patch_offset`, so only what "
  "a bootloader keeps is counted. Profiles are `patch/profiles/od_profile_*.h`; the QEMU "
  "measurements come from `examples/qemu-mps2` on the example firmware pair." % gcc)
w("")
w("**Code** = .text + .rodata of the applier's own objects (patch/ and the freestanding "
  "pkgfmt/ files); memcpy/memset/memcmp from the C library are listed apart. **.data/.bss** "
  "are the applier's static data (none: all state is caller-owned). **State** = "
  "`sizeof(od_patch)`, which the caller allocates. **Work** = `ram_needed` of a default "
  "package (256-byte pages, 16 KiB budget), read with `otadelta info --json`: the page "
  "buffer plus the decoder's workspace (dictionary). **Stack (static)** = deepest chain "
  "below `od_patch_feed` in GCC's `-fcallgraph-info=su` call graph, callbacks excluded. "
  "**RAM** = state + work + static stack.")
w("")
w("| profile | core | code | .text | .rodata | .data | .bss | libc | state | work | stack (static) | RAM total |")
w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for p in profiles:
    ram = measured.get(codec_of[p], {}).get("ram_needed")
    for c in cores:
        r = rows[p, c]
        a = r["app"]
        state = r["sizes"].get("fp_state", 0)
        stk = r["stack"]["od_patch_feed"][0]
        total = state + (ram or 0) + stk
        w("| %s | %s | **%d** | %d | %d | %d | %d | %d | %d | %s | %d | %s |" % (
            p, c, a["text"] + a["rodata"], a["text"], a["rodata"], a["data"], a["bss"],
            r["libc"], state, ram if ram is not None else "n/a", stk,
            ("**%d** (%s)" % (total, kib(total))) if ram is not None else "n/a"))
w("")

w("## Measured under QEMU (mps2-an385, Cortex-M3)")
w("")
if measured:
    w("Stack painted at start, high-water mark read at the end; \"below the update loop\" is what "
      "`od_patch_feed` and the port's flash callbacks used under the caller's frame. "
      "Instructions are counted with `-icount shift=0` (1 instruction = 1 ns of virtual time) "
      "through SysTick at 25 MHz, calibrated in the run, for the whole update from block 0: "
      "the 1 KiB modem copies, decoding, the port's erase-before-write checks and page "
      "programs, and the read-back SHA-256 verification.")
    w("")
    w("| profile | package codec | target bytes | stack below update loop | stack whole program | instructions | per output byte |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for p in profiles:
        m = measured.get(codec_of[p])
        if not m or "stack_feed" not in m:
            continue
        w("| %s | %s | %d | %d B | %d B | %s | %s |" % (
            p, codec_of[p], m.get("target", 0), m["stack_feed"], m["stack_all"],
            m.get("insn_total", "n/a"), m.get("insn_per_byte", "n/a")))
else:
    w("Not measured in this run (qemu-system-arm, the otadelta CLI or the firmware build missing).")
w("")
if any("m0_insn_per_byte" in m or "m4_insn_per_byte" in m for m in measured.values()):
    w("The same update built for the other cores and run on QEMU boards that have them: "
      "Cortex-M4 on mps2-an386 (hard-float ABI, FPU enabled at reset) and ARMv6-M on the "
      "Stellaris lm3s6965evb board with `-cpu cortex-m0` (the instruction set of Cortex-M0 "
      "and M0+ parts; no 32-bit Thumb-2, no hardware divide), each verified by SHA-256 "
      "like the M3 run. Instructions per output byte, and stack below the update loop:")
    w("")
    w("| profile | Cortex-M0 (ARMv6-M) | Cortex-M3 | Cortex-M4 |")
    w("|---|---:|---:|---:|")
    for p in profiles:
        m = measured.get(codec_of[p], {})
        cell = lambda pre: ("%s (%s B)" % (m[pre + "insn_per_byte"], m[pre + "stack_feed"])
                            if pre + "insn_per_byte" in m and pre + "stack_feed" in m else "n/a")
        w("| %s | %s | %s | %s |" % (p, cell("m0_"), cell(""), cell("m4_")))
    w("")

w("## Against the targets")
w("")
m4 = {p: rows[p, "cortex-m4"] for p in profiles}
def code(p, c="cortex-m4"):
    a = rows[p, c]["app"]
    return a["text"] + a["rodata"]
tiny_state = m4["tiny"]["sizes"].get("fp_state", 0)
lz = measured.get("lzma", {}).get("ram_needed")
lz_total = m4["lzma"]["sizes"].get("fp_state", 0) + (lz or 0) + m4["lzma"]["stack"]["od_patch_feed"][0]
def verdict(ok):
    return "met" if ok else "**missed**"
w("| target (Cortex-M4, -Os) | measured | verdict |")
w("|---|---|---|")
w("| tiny code <= 2 KiB | %d B (%s) | %s |" % (code("tiny"), kib(code("tiny")), verdict(code("tiny") <= 2048)))
w("| tiny state <= 1 KiB + write buffer | %d B + %d B page | %s |" % (tiny_state, 256, verdict(tiny_state <= 1024)))
w("| lzma code <= 6 KiB | %d B (%s) | %s |" % (code("lzma"), kib(code("lzma")), verdict(code("lzma") <= 6144)))
if lz is not None:
    w("| lzma total RAM <= 16 KiB incl. dictionary | %d B state + %d B work + %d B stack = %d B (%s) | %s |" % (
        m4["lzma"]["sizes"].get("fp_state", 0), lz, m4["lzma"]["stack"]["od_patch_feed"][0],
        lz_total, kib(lz_total), verdict(lz_total <= 16384)))
w("")
sha = {p: sum(v["text"] + v["rodata"] for o, v in detail[p, "cortex-m4"].items()
              if o.startswith("od_sha256")) for p in profiles}
w("With a hash accelerator or the bootloader's own SHA-256 (`OD_SHA256_PORT`, docs/PORTING.md) "
  "od_sha256.o leaves the image: tiny %d B, deflate %d B, lzma %d B on Cortex-M4 (the code "
  "figures above minus od_sha256.o, %d B; the port's own code not counted)." % (
      code("tiny") - sha["tiny"], code("deflate") - sha["deflate"], code("lzma") - sha["lzma"],
      sha["lzma"]))
w("")
w("Anchors (published figures, not measured here): HPatchLite's patch routine is about "
  "0.7 KiB of code plus its decompressor (tuz, ~1 KiB) and works in a few hundred bytes of "
  "RAM plus a small cache; detools' C applier is 1-4 KiB of code depending on codecs, but its "
  "LZMA mode uses liblzma with heap allocations of megabytes (the dictionary) unless heatshrink "
  "or crle is chosen; JANPatch (JojoDiff) keeps three page-sized buffers (source, patch, "
  "target) and has no compression. otadelta's lzma profile holds the LZMA decoder, SHA-256 "
  "read-back verification, the container parser with CRC-32 checks and resume in the code "
  "figure above, and its RAM is bounded by the package header's `ram_needed`.")
w("")

w("## Where the bytes are (per object, Cortex-M4)")
w("")
for p in profiles:
    objs = detail[p, "cortex-m4"]
    w("**%s**" % p)
    w("")
    w("| object | .text | .rodata | .data | .bss |")
    w("|---|---:|---:|---:|---:|")
    for o, v in sorted(objs.items(), key=lambda kv: -(kv[1]["text"] + kv[1]["rodata"])):
        label = o + (" (test harness, not counted)" if o == "harness.o" else "")
        w("| %s | %d | %d | %d | %d |" % (label, v["text"], v["rodata"], v["data"], v["bss"]))
    w("")
w("Largest functions, lzma profile, Cortex-M4 (`nm --size-sort`):")
w("")
w("| function | bytes |")
w("|---|---:|")
syms = []
for line in open(os.path.join(work, "lzma-cortex-m4", "symbols.txt")):
    f = line.split()
    if len(f) == 4 and f[2] in "tTrR":
        syms.append((int(f[1], 16), f[3]))
for size, name in sorted(syms, reverse=True)[:12]:
    w("| %s | %d |" % (name, size))
w("")
w("State breakdown (Cortex-M4): `od_patch` = %s." % ", ".join(
    "%s %s B" % (p, m4[p]["sizes"].get("fp_state", 0)) for p in profiles))
s = m4["lzma"]["sizes"]
w("Of the lzma profile's state, the decoded header (`od_pkg_header`) is %d B, the SHA-256 "
  "context %d B, the union (header/signature bytes before the blocks, then the decoder "
  "state) %d B, the decode staging buffer %d B." % (
      s.get("fp_header", 0), s.get("fp_sha256", 0), s.get("fp_union", 0), s.get("fp_obuf", 0)))
w("")

w("## Deepest static stack chains")
w("")
w("| profile | core | od_patch_feed | chain (own frame in bytes) | od_patch_init |")
w("|---|---|---:|---|---:|")
for p in profiles:
    for c in cores:
        r = rows[p, c]
        total, chain = r["stack"]["od_patch_feed"]
        extra = ""
        if r["dyn"]:
            extra += " dynamic frames: " + ", ".join(sorted(x.split(":")[-1] for x in r["dyn"]))
        if r["rec"]:
            extra += " recursion: " + ", ".join(sorted(r["rec"]))
        w("| %s | %s | %d | %s%s | %d |" % (p, c, total, " > ".join(chain), extra,
                                          r["stack"]["od_patch_init"][0]))
w("")
w("Callbacks (`__indirect_call`) count as 0 here: add the deepest of the integrator's "
  "read_old/erase/write/read_new/save_progress frames. The QEMU figure above includes the "
  "port's callbacks.")
text = "\n".join(out) + "\n"
open(report, "w").write(text)
sys.stdout.write(text)
EOF
echo "wrote $report" >&2
