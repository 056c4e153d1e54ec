#!/usr/bin/env python3
"""run_spec.py - the CTest driver for od_spec_read.py (tests/spec.cmake).

FORMAT.md claims to be the whole specification. od_spec_read.py was written from it alone;
this driver holds it against everything the project produces and documents:

  1. tests/files: every good-* sample rebuilds its image byte for byte, every bad-* and
     unsupported-* one is refused for the reason tests/files/README.md gives;
  2. packages the CLI makes (every codec, delta and full, signed and not, small blocks) for
     the example firmware (when arm-none-eabi-gcc is there) and a synthesized Thumb pair;
  3. three pairs of the shared corpus, when it is there.

Exit 0 when all agree, 1 otherwise.
"""

import argparse
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import time

failures = []


def fail(what):
    failures.append(what)
    print("FAIL: %s" % what)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


class Reader:
    def __init__(self, path):
        self.path = path

    def __call__(self, pkg, old=None, out=None, extra=()):
        cmd = [sys.executable, self.path, pkg] + (["--old", old] if old else []) + \
              (["-o", out] if out else []) + list(extra)
        return run(cmd)

    def rebuilds(self, label, pkg, old, want, extra=()):
        """The reader accepts pkg and rebuilds exactly the bytes of file `want`."""
        out = pkg + ".spec.bin"
        r = self(pkg, old, out, extra)
        if r.returncode != 0:
            fail("%s: refused: %s" % (label, r.stderr.strip()))
            return None
        with open(out, "rb") as f, open(want, "rb") as g:
            if f.read() != g.read():
                fail("%s: rebuilt image differs from %s" % (label, os.path.basename(want)))
                return None
        os.remove(out)
        return r.stdout


# --------------------------------------------------------------------------------------------
# 1. tests/files
# --------------------------------------------------------------------------------------------

def readme_rows(path):
    """file -> (source, od_pkg_check result, od_patch_feed result) from the README's table."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([^`]+\.otad)`\s*\|([^|]*)\|.*\|([^|]*)\|([^|]*)\|\s*$", line)
            if m:
                rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip(), m.group(4).strip())
    return rows


def reader_codes(stderr):
    """(code, applier name) from the reader's one-line refusal."""
    m = re.search(r"od_spec_read: (\w+) \[applier (\w+)", stderr)
    return m.groups() if m else (None, None)


def check_samples(reader, files, images):
    rows = readme_rows(os.path.join(files, "README.md"))
    names = sorted(n for n in os.listdir(files)
                   if n.endswith(".otad") and n.startswith(("good-", "bad-", "unsupported-")))
    src_image = {"v1": "v1.bin", "v2": "v2.bin", "empty": "empty.bin", "-": None, "none": None}
    for name in names:
        pkg = os.path.join(files, name)
        if name not in rows:
            fail("%s: not in tests/files/README.md" % name)
            continue
        source, pkg_ret, patch_ret = rows[name]
        if source not in src_image:
            fail("%s: README source %r unknown" % (name, source))
            continue
        old = src_image[source] and os.path.join(images, src_image[source])
        if name.startswith("good-"):
            m = re.search(r"image = (\w+)", patch_ret)
            want = os.path.join(images, src_image[m.group(1)]) if m else None
            if not want:
                fail("%s: README gives no image" % name)
            elif reader.rebuilds(name, pkg, old, want) is not None:
                print("ok   %s" % name)
            continue
        r = reader(pkg, old)
        code, applier = reader_codes(r.stderr)
        if r.returncode != 1 or not code:
            fail("%s: not refused (exit %d) %s" % (name, r.returncode, r.stderr.strip()))
            continue
        # Compare with what the README expects: od_pkg_check's error where it sees the
        # defect, otherwise the applier's (od_pkg_check does not decode blocks).
        m = re.match(r"`OD_PKG_ERR_(\w+)`", pkg_ret)
        if m:
            ok, want = code == m.group(1), "OD_PKG_ERR_" + m.group(1)
        else:
            m = re.match(r"`OD_PATCH_ERR_(\w+)`", patch_ret)
            ok = bool(m) and applier == m.group(1)
            want = m and "OD_PATCH_ERR_" + m.group(1)
        if ok:
            print("ok   %s: %s" % (name, code))
        else:
            fail("%s: reader says %s / %s, README %s: %s" % (name, code, applier, want,
                                                             r.stderr.strip()))
    for name in sorted(set(rows) - set(names)):
        fail("%s: in the README but not in tests/files" % name)


# --------------------------------------------------------------------------------------------
# 2. CLI-made packages
# --------------------------------------------------------------------------------------------

def thumb_pair(path_v1, path_v2):
    """Two Cortex-M-like images: v2 inserts a function, so every later call and pointer moves.

    Functions are random halfwords with BL calls (relinked to the final layout) and a literal
    pool of function pointers and SRAM addresses: the words filter 1 is about."""
    rnd = random.Random(20240517)
    base = 0x08000000

    def gen_fn(nfunc):
        items = []
        for _ in range(rnd.randrange(20, 120)):
            r = rnd.random()
            if r < 0.12:
                items.append(("bl", rnd.randrange(nfunc)))
            else:
                # Common Thumb-1 encodings; never 0b11101/0b11110/0b11111 (32-bit prefixes).
                items.append(("h", rnd.choice((0x2000, 0x4600, 0x6800, 0x3000, 0xB500, 0xBD00,
                                               0x4770, 0x1C00, 0x4280, 0xD000))
                              | rnd.randrange(256)))
        pool = []
        for _ in range(rnd.randrange(1, 8)):
            r = rnd.random()
            if r < 0.5:
                pool.append(("ptr", rnd.randrange(nfunc)))
            elif r < 0.8:
                pool.append(("w", 0x20000000 + 4 * rnd.randrange(2048)))
            else:
                pool.append(("w", rnd.getrandbits(32) | 0x40000000))
        return items, pool

    nfunc = 40
    fns = [gen_fn(nfunc + 1) for _ in range(nfunc)]
    new_fn = gen_fn(nfunc + 1)
    v1_order = list(range(nfunc))
    v2_fns = list(fns) + [new_fn]
    v2_order = v1_order[:17] + [nfunc] + v1_order[17:]
    # v2 also edits a few instructions of one function.
    items, pool = v2_fns[5]
    items = list(items)
    for k in range(3, 9):
        items[k] = ("h", 0x2000 | k)
    v2_fns[5] = (items, pool)

    def link(fns, order):
        def size(fn):
            n = sum(4 if i[0] == "bl" else 2 for i in fn[0])
            return (n + 3) // 4 * 4 + 4 * len(fn[1])
        addr, pos = {}, 48 * 4
        for idx in order:
            addr[idx] = base + pos
            pos += size(fns[idx])
        img = bytearray()
        img += struct.pack("<I", 0x20008000)
        for k in range(47):
            img += struct.pack("<I", addr[order[k % len(order)]] | 1)
        for idx in order:
            items, pool = fns[idx]
            for it in items:
                if it[0] == "bl":
                    target = addr.get(it[1], addr[order[0]])
                    off = (target - (base + len(img) + 4)) >> 1
                    s, imm10, imm11 = off >> 23 & 1, off >> 11 & 0x3FF, off & 0x7FF
                    j1 = (~(off >> 22) ^ s) & 1
                    j2 = (~(off >> 21) ^ s) & 1
                    img += struct.pack("<HH", 0xF000 | s << 10 | imm10,
                                       0xD000 | j1 << 13 | j2 << 11 | imm11)
                else:
                    img += struct.pack("<H", it[1])
            if len(img) % 4:
                img += struct.pack("<H", 0xBF00)  # NOP before the 4-aligned pool
            for kind, v in pool:
                img += struct.pack("<I", (addr.get(v, addr[order[0]]) | 1) if kind == "ptr" else v)
        return bytes(img)

    with open(path_v1, "wb") as f:
        f.write(link(fns, v1_order))
    with open(path_v2, "wb") as f:
        f.write(link(v2_fns, v2_order))


def make_keys(otadelta, work):
    keys = []
    for name, typ in (("ed", "ed25519"), ("p256", "p256")):
        stem = os.path.join(work, name)
        r = run([otadelta, "keygen", "-o", stem, "--type", typ, "--force"])
        if r.returncode:
            fail("keygen %s: %s" % (typ, r.stderr.strip()))
        else:
            keys.append(stem + ".pem")
    return keys


def check_cli_pair(reader, otadelta, label, old, new, work, keys, geometry, signed_codecs,
                   cross_lzma=False):
    """Every codec, delta and full; the codecs in signed_codecs signed (keys alternate).

    Returns the filters the delta packages got."""
    filters = []
    for n, codec in enumerate(("none", "deflate", "lzma")):
        for kind in ("delta", "full"):
            pkg = os.path.join(work, "%s-%s-%s.otad" % (label, kind, codec))
            cmd = [otadelta, "diff", old, new, "--from-version", "1.0.0"] if kind == "delta" \
                else [otadelta, "full", new]
            # --exact-codec: the reader's decoder for each codec, even where none is smaller
            cmd += ["-o", pkg, "-q", "--to-version", "2.0.0", "--codec", codec,
                    "--exact-codec"] + geometry
            sig = codec in signed_codecs and keys
            if sig:
                cmd += ["--sign", keys[n % len(keys)]]
            r = run(cmd)
            what = "%s %s %s%s" % (label, kind, codec, " signed" if sig else "")
            if r.returncode:
                fail("%s: otadelta: %s" % (what, r.stderr.strip()))
                continue
            extra = ("--lzma", "liblzma") if cross_lzma and codec == "lzma" else ()
            out = reader.rebuilds(what, pkg, old if kind == "delta" else None, new, extra)
            if out is None:
                continue
            blocks = int(re.search(r"(\d+) block\(s\)", out).group(1))
            if blocks < 2:
                fail("%s: only %d block: the geometry should give several" % (what, blocks))
            if sig and "signature record" not in out:
                fail("%s: the reader saw no signature record" % what)
            if kind == "delta":
                filters.append(re.search(r"filter (\w+)", out).group(1))
            print("ok   %s (%d blocks%s)" % (what, blocks, ", thumb filter" if
                                                 "filter thumb" in out else ""))
    return filters


def check_forced_thumb(reader, otadelta, label, old, new, work, geometry):
    """The filter where it cannot win (codec none) and with words cut by 16-byte pages."""
    for codec, page in (("none", "64"), ("deflate", "16")):
        pkg = os.path.join(work, "%s-thumb-%s.otad" % (label, codec))
        geo = list(geometry)
        geo[geo.index("--page") + 1] = page
        r = run([otadelta, "diff", old, new, "-o", pkg, "-q", "--from-version", "1.0.0",
                 "--to-version", "2.0.0", "--codec", codec, "--filter", "thumb"] + geo)
        what = "%s delta %s --filter thumb --page %s" % (label, codec, page)
        if r.returncode:
            fail("%s: otadelta: %s" % (what, r.stderr.strip()))
        elif reader.rebuilds(what, pkg, old, new) is not None:
            print("ok   %s" % what)


# --------------------------------------------------------------------------------------------
# 3. corpus
# --------------------------------------------------------------------------------------------

CORPUS_PAIRS = ("microbit-v1-minor", "altos-easymini", "grbl-nightly")
THUMB_PAIR = "microbit-v1-minor"


def check_corpus(reader, otadelta, corpus, work, keys):
    pairs_tsv = os.path.join(corpus, "pairs.tsv") if corpus else ""
    if not os.path.isfile(pairs_tsv):
        print("SKIP corpus: no pairs.tsv in %r (set OD_CORPUS_DIR)" % corpus)
        return
    pairs = {}
    with open(pairs_tsv) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 5 and cols[0] != "id":
                pairs[cols[0]] = cols
    for pid in CORPUS_PAIRS:
        if pid not in pairs:
            fail("corpus pair %s not in pairs.tsv" % pid)
            continue
        _, arch, _, old, new = pairs[pid][:5]
        old, new = os.path.join(corpus, old), os.path.join(corpus, new)
        filters = check_cli_pair(reader, otadelta, pid, old, new, work, keys,
                                 ["--page", "64", "--erase", "1024", "--block", "8192"],
                                 ("lzma",))
        if pid == THUMB_PAIR and "thumb" not in filters:
            fail("%s (%s): no delta package got the thumb filter" % (pid, arch))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reader", required=True)
    ap.add_argument("--otadelta", required=True)
    ap.add_argument("--images", required=True, help="od_spec_images executable")
    ap.add_argument("--files", required=True, help="tests/files")
    ap.add_argument("--firmware", required=True, help="examples/firmware")
    ap.add_argument("--corpus", default=os.environ.get("OD_CORPUS_DIR", ""))
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    start = time.time()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    reader = Reader(a.reader)

    images = os.path.join(a.work, "images")
    os.makedirs(images)
    r = run([a.images, images])
    if r.returncode:
        print("cannot build the sample images: %s" % r.stderr.strip())
        return 1
    check_samples(reader, a.files, images)

    keys = make_keys(a.otadelta, a.work)
    geometry = ["--page", "64", "--erase", "1024", "--block", "2048", "--restart", "1024"]
    v1, v2 = os.path.join(a.work, "thumb-v1.bin"), os.path.join(a.work, "thumb-v2.bin")
    thumb_pair(v1, v2)
    filters = check_cli_pair(reader, a.otadelta, "synth", v1, v2, a.work, keys, geometry,
                             ("deflate", "lzma"), cross_lzma=True)
    if "thumb" not in filters:
        fail("synthesized Thumb pair: no delta package got the thumb filter")
    check_forced_thumb(reader, a.otadelta, "synth", v1, v2, a.work, geometry)

    if shutil.which("arm-none-eabi-gcc"):
        fw = os.path.join(a.work, "fw")
        r = run(["bash", os.path.join(a.firmware, "build.sh"), fw])
        if r.returncode:
            fail("example firmware build: %s" % r.stderr.strip()[-500:])
        else:
            check_cli_pair(reader, a.otadelta, "example-fw", os.path.join(fw, "fw-v1.bin"),
                           os.path.join(fw, "fw-v2.bin"), a.work, keys, geometry, ("lzma",))
    else:
        print("SKIP example firmware: arm-none-eabi-gcc not found (the synthesized pair stands in)")

    check_corpus(reader, a.otadelta, a.corpus, a.work, keys)

    print("%d failure(s), %.1f s" % (len(failures), time.time() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
