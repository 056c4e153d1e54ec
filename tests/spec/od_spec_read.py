#!/usr/bin/env python3
"""od_spec_read.py - an otadelta package reader written from docs/FORMAT.md alone.

    od_spec_read.py PKG [--old OLD] [-o OUT] [--lzma {python,liblzma}] [-q]

It exists to test the document, not the C code: every check cites the FORMAT.md section it
comes from, and it was written before anyone here read pkgfmt/, patch/, diff/ or cli/. Where
the document left something open or said something wrong, a "FORMER GAP" comment records
what this reader does; each was settled against pkgfmt/od_pkg_read.c and patch/od_patch.c,
and FORMAT.md was then amended to say it (checked again by an independent reader written
from the document alone on 2026-11-25, which found the remaining ones: the order of the
whole-package checks, non-minimal varints, filter 1 on full packages, what a resume reads).

A package that breaks a rule is refused with exit status 1 and one line on stderr:

    od_spec_read: CODE [applier APPLIER] (FORMAT.md "Section"): what is wrong

CODE is the error FORMAT.md names for the rule (od_pkg_check's names, e.g. FIELD), APPLIER
what od_patch_feed reports for it (tests/files/README.md gives that mapping). Without --old
a delta package is checked as far as it can be without the source (its op streams are parsed,
but the target is not rebuilt). Exit status 2: usage or I/O error.
"""

import argparse
import hashlib
import lzma
import struct
import sys
import zlib

MAGIC = b"OTAD\r\n\x1a\n"
FORMAT_VERSION = 2
FIXED_HEADER = 186  # bytes before the version strings
GIB = 1 << 30
MIB = 1 << 20
KIND_FULL, KIND_DELTA = 1, 2
CODEC_NONE, CODEC_DEFLATE, CODEC_LZMA = 0, 1, 2
CODEC_NAMES = {CODEC_NONE: "none", CODEC_DEFLATE: "deflate", CODEC_LZMA: "lzma"}
FILTER_NONE, FILTER_THUMB = 0, 1
TLV_SIGNATURE, TLV_NOTE = 0x0001, 0x0002
VERSION_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

# What od_patch_feed reports for each od_pkg_check error (tests/files/README.md; FORMAT.md
# names one set of errors and does not say which API they belong to).
APPLIER_NAME = {
    "MAGIC": "MAGIC", "VERSION": "VERSION", "FIELD": "HEADER", "HEADER_CRC": "HEADER",
    "TLV": "HEADER", "UNSUPPORTED": "UNSUPPORTED", "INDEX": "INDEX", "INDEX_CRC": "INDEX",
    "PAYLOAD": "CORRUPT", "CORRUPT": "CORRUPT", "VERIFY": "VERIFY",
    "TRUNCATED": "OK (wants more bytes), unless the bytes it has break another rule first",
    "TRAILING": "DONE (caller must refuse the rest)",
    "WRONG_SOURCE": "WRONG_SOURCE", "SIGNATURE": "SIGNATURE (with a verify hook)",
}


class Violation(Exception):
    """A package (or the image given with it) breaks a rule of FORMAT.md."""

    def __init__(self, code, section, message):
        super().__init__(message)
        self.code, self.section, self.message = code, section, message

    def __str__(self):
        return '%s [applier %s] (FORMAT.md "%s"): %s' % (
            self.code, APPLIER_NAME.get(self.code, "?"), self.section, self.message)


def need(cond, code, section, message, *args):
    if not cond:
        raise Violation(code, section, message % args if args else message)


def crc32(data):
    # "the zlib/PNG CRC (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF)"
    return zlib.crc32(data) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# "Core header"
# --------------------------------------------------------------------------------------------

HDR = "Core header"
# offset 12 .. 55 in one go; the hashes and version lengths follow.
_FIXED = struct.Struct("<BBBBIBBHIIIIIIII")


def lzma_props(props):
    """(lc, lp, pb) from codec_props = (pb*5+lp)*9+lc."""
    return props % 9, props // 9 % 5, props // 45


def workspace(codec, props, dict_size):
    # "Decoder workspace and RAM"
    if codec == CODEC_NONE:
        return 0
    if codec == CODEC_DEFLATE:
        return dict_size
    lc, lp, _ = lzma_props(props)
    return (1846 + (768 << (lc + lp))) * 2 + dict_size


def read_header(pkg):
    """Every field of the core header and every rule the section states."""
    # FORMER GAP: FORMAT.md does not say what fewer bytes than magic, version and header_size
    # are; like the C reader (which judges nothing before it has those 12), TRUNCATED.
    need(len(pkg) >= 12, "TRUNCATED", "Layout", "%d bytes: shorter than the header's first fields",
         len(pkg))
    need(pkg[:8] == MAGIC, "MAGIC", HDR,
         "magic is %s, not 4F 54 41 44 0D 0A 1A 0A" % pkg[:8].hex(" ").upper())
    # FORMER GAP: format_version is "checked before everything else", but bad-magic-crlf (CR LF
    # damage also shifts the version field) must give MAGIC: the magic comes first, as in C.
    version, header_size = struct.unpack_from("<HH", pkg, 8)
    need(version == FORMAT_VERSION, "VERSION", HDR, "format_version %d, not 2", version)
    need(191 <= header_size <= 290, "FIELD", HDR, "header_size %d outside 191..290", header_size)
    need(len(pkg) >= header_size, "TRUNCATED", "Layout",
         "%d bytes: shorter than header_size %d", len(pkg), header_size)
    stored_crc, = struct.unpack_from("<I", pkg, header_size - 4)
    need(crc32(pkg[:header_size - 4]) == stored_crc, "HEADER_CRC", HDR,
         "header_crc32 %08x, the header's bytes give %08x", stored_crc,
         crc32(pkg[:header_size - 4]))

    (kind, codec, filt, props, dict_size, page_log2, erase_log2, flags, ram_needed, block_size,
     block_count, ext_size, source_size, target_size, payload_size,
     index_crc) = _FIXED.unpack_from(pkg, 12)
    h = dict(format_version=version, header_size=header_size, kind=kind, codec=codec,
             filter=filt, codec_props=props, dict_size=dict_size, page_log2=page_log2,
             erase_log2=erase_log2, flags=flags, ram_needed=ram_needed, block_size=block_size,
             block_count=block_count, ext_size=ext_size, source_size=source_size,
             target_size=target_size, payload_size=payload_size, index_crc32=index_crc,
             source_md5=pkg[56:72], source_sha256=pkg[72:104], target_md5=pkg[104:120],
             target_sha256=pkg[120:152], payload_sha256=pkg[152:184], header_crc32=stored_crc)

    # FORMER GAP: FORMAT.md does not order the FIELD and UNSUPPORTED checks; the C reader
    # checks kind first, then codec, filter and flags, then every other field.
    need(kind in (KIND_FULL, KIND_DELTA), "FIELD", HDR, "kind %d is neither 1 (full) nor 2 (delta)",
         kind)
    need(codec in CODEC_NAMES, "UNSUPPORTED", HDR, "codec %d", codec)
    need(filt in (FILTER_NONE, FILTER_THUMB), "UNSUPPORTED", HDR, "filter %d", filt)
    need(flags == 0, "UNSUPPORTED", HDR, "flags %#06x: reserved bits set", flags)

    if codec == CODEC_NONE:
        need(props == 0 and dict_size == 0, "FIELD", HDR,
             "codec none needs codec_props 0 and dict_size 0, not %d and %d", props, dict_size)
    elif codec == CODEC_DEFLATE:
        need(9 <= props <= 15, "FIELD", HDR, "deflate window log %d outside 9..15", props)
        need(dict_size == 1 << props, "FIELD", HDR, "deflate dict_size %d, not 1 << %d",
             dict_size, props)
    else:
        need(props < 225, "FIELD", HDR, "lzma codec_props %d not below 225", props)
        lc, lp, pb = lzma_props(props)
        need(lc + lp <= 8, "FIELD", HDR, "lzma lc %d + lp %d above 8", lc, lp)
        need(4096 <= dict_size <= 64 * MIB, "FIELD", HDR, "lzma dict_size %d outside 4096..64 MiB",
             dict_size)

    need(4 <= page_log2 <= 16, "FIELD", HDR, "page_log2 %d outside 4..16", page_log2)
    need(page_log2 <= erase_log2 <= 24, "FIELD", HDR, "erase_log2 %d outside page_log2 (%d)..24",
         erase_log2, page_log2)
    page_size, erase_size = 1 << page_log2, 1 << erase_log2
    h.update(page_size=page_size, erase_size=erase_size)

    expect_ram = page_size + workspace(codec, props, dict_size)
    need(ram_needed == expect_ram, "FIELD", HDR,
         "ram_needed %d, not page_size + workspace = %d", ram_needed, expect_ram)
    # FORMER GAP: "largest output of any block" reads as an exact value, but it is a bound: the
    # generator rounds the largest block up to erase_size (erase_size when there is none), and
    # each block's out_len <= block_size is what readers check. FORMAT.md says "a multiple of
    # erase_size", which 0 is; the C reader requires at least erase_size, and so does this one.
    need(erase_size <= block_size <= GIB and block_size % erase_size == 0, "FIELD", HDR,
         "block_size %d: not a multiple of erase_size %d from erase_size to 1 GiB", block_size,
         erase_size)
    need(ext_size <= 65536, "FIELD", HDR, "ext_size %d above 65536", ext_size)
    need(source_size <= GIB, "FIELD", HDR, "source_size %d above 1 GiB", source_size)
    need(target_size <= GIB, "FIELD", HDR, "target_size %d above 1 GiB", target_size)
    if target_size == 0:
        need(block_count == 0, "FIELD", HDR, "block_count %d for an empty target", block_count)
    else:
        most = min(-(-target_size // erase_size), 65536)
        need(1 <= block_count <= most, "FIELD", HDR,
             "block_count %d outside 1..%d (ceil(target_size / erase_size), at most 65536)",
             block_count, most)
    need(payload_size >= 5 * block_count, "FIELD", HDR,
         "payload_size %d below 5 x block_count (%d)", payload_size, block_count)
    need(block_count or payload_size == 0, "FIELD", HDR,
         "payload_size %d without blocks", payload_size)

    ls, lt = pkg[184], pkg[185]
    if kind == KIND_FULL:
        need(source_size == 0, "FIELD", HDR, "full package with source_size %d", source_size)
        # The rules column says "zero for full packages"; FORMAT.md does not say whether the
        # reader checks it. This one does: nonzero bytes there would be unsigned-for content.
        need(not any(pkg[56:104]), "FIELD", HDR, "full package with nonzero source hashes")
        need(ls == 0, "FIELD", HDR, "full package with source_version_len %d", ls)
    else:
        need(1 <= ls <= 50, "FIELD", HDR, "source_version_len %d outside 1..50", ls)
    need(1 <= lt <= 50, "FIELD", HDR, "target_version_len %d outside 1..50", lt)
    need(FIXED_HEADER + ls + lt + 4 == header_size, "FIELD", HDR,
         "186 + %d + %d + 4 != header_size %d", ls, lt, header_size)
    sv, tv = pkg[186:186 + ls], pkg[186 + ls:186 + ls + lt]
    for name, s in (("source_version", sv), ("target_version", tv)):
        need(all(c in VERSION_CHARS for c in s), "FIELD", HDR,
             "%s %r has a character outside A-Za-z0-9._-", name, bytes(s))
    h.update(source_version=sv.decode(), target_version=tv.decode())

    total = header_size + ext_size + 8 * block_count + payload_size
    need(total < 1 << 32, "FIELD", HDR, "package size %d does not fit in 32 bits", total)
    h.update(index_offset=header_size + ext_size,
             payload_offset=header_size + ext_size + 8 * block_count, package_size=total)
    return h


def check_truncated(pkg, h):
    # "Layout": the areas end exactly at the package's end. FORMER GAP: FORMAT.md named no error
    # for a short or long package; TRUNCATED and TRAILING are od_pkg_check's (and README's).
    need(len(pkg) >= h["package_size"], "TRUNCATED", "Layout",
         "%d bytes, the header's sizes add up to %d", len(pkg), h["package_size"])


def check_trailing(pkg, h):
    # Last, as in od_pkg_check: a package with bytes after it is otherwise whole (the applier
    # finishes it and leaves them to its caller).
    need(len(pkg) == h["package_size"], "TRAILING", "Layout",
         "%d bytes after the payload's end", len(pkg) - h["package_size"])


# --------------------------------------------------------------------------------------------
# "Extensions (TLV)" and "Signature record"
# --------------------------------------------------------------------------------------------

def read_extensions(pkg, h):
    """Records as (type, value); refuses critical unknown types."""
    area = pkg[h["header_size"]:h["index_offset"]]
    records, off = [], 0
    while off < len(area):
        need(len(area) - off >= 4, "TLV", "Extensions (TLV)",
             "%d bytes left at offset %d: shorter than a record head", len(area) - off, off)
        typ, length = struct.unpack_from("<HH", area, off)
        need(off + 4 + length <= len(area), "TLV", "Extensions (TLV)",
             "record %#06x at offset %d: length %d runs past the %d-byte area",
             typ, off, length, len(area))
        value = bytes(area[off + 4:off + 4 + length])
        if typ == TLV_SIGNATURE:
            # "Signature record": at most one, of 65 bytes, but that is for verifiers; a
            # structural reader (od_pkg_check, this one) takes two or one of another length.
            # describe() reports what it found, so a test can hold a verifier to the rule.
            pass
        elif typ != TLV_NOTE:
            need(not typ & 0x8000, "UNSUPPORTED", "Extensions (TLV)",
                 "critical extension type %#06x", typ)
        records.append((typ, value))
        off += 4 + length
    return records


# --------------------------------------------------------------------------------------------
# "Block index"
# --------------------------------------------------------------------------------------------

def read_index(pkg, h):
    idx = "Block index"
    raw = pkg[h["index_offset"]:h["payload_offset"]]
    # "Verification on the device" 1: the index CRC, then its rules.
    need(crc32(raw) == h["index_crc32"], "INDEX_CRC", idx,
         "index_crc32 %08x, the index gives %08x", h["index_crc32"], crc32(raw))
    entries = [struct.unpack_from("<II", raw, 8 * i) for i in range(h["block_count"])]
    for i, (p, o) in enumerate(entries):
        if i == 0:
            need((p, o) == (0, 0), "INDEX", idx, "entry 0 is (%d, %d), not (0, 0)", p, o)
        else:
            pp, po = entries[i - 1]
            need(p >= pp + 5, "INDEX", idx,
                 "entry %d: pkg_offset %d less than 5 bytes after %d", i, p, pp)
            need(po < o <= po + h["block_size"], "INDEX", idx,
                 "entry %d: out_offset %d not in (%d, %d + block_size]", i, o, po, po)
            need(o % h["erase_size"] == 0, "INDEX", idx,
                 "entry %d: out_offset %d not a multiple of erase_size", i, o)
            need(o < h["target_size"], "INDEX", idx,
                 "entry %d: out_offset %d not below target_size", i, o)
        need(p + 5 <= h["payload_size"], "INDEX", idx,
             "entry %d: pkg_offset %d leaves fewer than 5 bytes before payload_size %d",
             i, p, h["payload_size"])
    return entries


# --------------------------------------------------------------------------------------------
# "Blocks": the container (trailers, payload SHA-256) and the three codecs
# --------------------------------------------------------------------------------------------

def split_blocks(pkg, h, index):
    """Each block's codec stream, after its CRC trailer and the payload SHA-256 are checked."""
    payload = pkg[h["payload_offset"]:h["package_size"]]
    # The last block runs to payload_size, as "Blocks" says (the applier checks that at its
    # trailer: bad-payload-size-spare).
    streams = []
    for i, (p, _) in enumerate(index):
        end = index[i + 1][0] if i + 1 < len(index) else h["payload_size"]
        stream, trailer = payload[p:end - 4], payload[end - 4:end]
        stored, = struct.unpack("<I", trailer)
        need(crc32(stream) == stored, "PAYLOAD", "Blocks",
             "block %d: CRC trailer %08x, its stream gives %08x", i, stored, crc32(stream))
        streams.append(bytes(stream))
    # FORMER GAP: FORMAT.md ("Verification on the device" 3) names no error for a payload
    # SHA-256 mismatch; PAYLOAD / CORRUPT are od_pkg_check's and the applier's.
    need(hashlib.sha256(payload).digest() == h["payload_sha256"], "PAYLOAD",
         "Verification on the device", "payload_sha256 does not match the payload%s",
         " (a package without blocks carries the SHA-256 of the empty payload)"
         if not index else "")
    return streams


def block_cap(h, full):
    # The most decoded bytes a valid block can hold, so a hostile stream cannot balloon:
    # a full block is varint + out_len bytes; in a delta block no output byte costs more
    # than 18 (an op of its own: three 5-byte varints, a zero run, a difference run, a byte).
    n = min(h["block_size"], h["target_size"])
    return 5 + n if full else 10 + 18 * n


def inflate_block(stream, window_log, cap):
    """Raw deflate, refusing back references farther than 1 << window_log.

    zlib only checks the distance against the window when the match reaches before the
    output of the current call, so the output is taken one byte per call: then every
    reference reaches into the window and "invalid distance too far back" is exact."""
    d = zlib.decompressobj(-window_log)
    out, pending, fed = bytearray(), b"", 0
    try:
        while not d.eof:
            if not pending and fed < len(stream):
                pending, fed = stream[fed:fed + 256], min(fed + 256, len(stream))
            chunk = d.decompress(pending, 1)
            pending = d.unconsumed_tail
            if chunk:
                out += chunk
                need(len(out) <= cap, "CORRUPT", "Blocks", "deflate stream decodes past %d bytes",
                     cap)
            elif not pending and fed >= len(stream) and not d.eof:
                raise Violation("CORRUPT", "Blocks",
                                "deflate stream ends before its final block is complete")
    except zlib.error as e:
        raise Violation("CORRUPT", "Blocks", "deflate: %s" % e)
    # FORMER GAP: "immediately followed by a 4-byte trailer" is the only word against bytes
    # after the stream's end; the applier reads the trailer there, so they fail its CRC.
    left = len(d.unused_data) + len(pending) + len(stream) - fed
    need(left == 0, "CORRUPT", "Blocks",
         "%d bytes between the deflate stream's end and the CRC trailer", left)
    return bytes(out)


def unlzma_block(stream, props, dict_size, cap, impl):
    lc, lp, pb = lzma_props(props)
    # The decoder below is the default: liblzma rounds the dictionary up (to 16 bytes), so it
    # lets distances slightly beyond dict_size through, and it refuses lc + lp > 4, which
    # FORMAT.md allows (up to 8). --lzma liblzma is a cross-check of the decoder below.
    if impl == "python" or lc + lp > 4:
        return LzmaDecoder(stream, lc, lp, pb, dict_size, cap).run()
    d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{
        "id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}])
    try:
        out = d.decompress(stream, cap + 1)
    except lzma.LZMAError as e:
        raise Violation("CORRUPT", "Blocks", "lzma: %s" % e)
    need(len(out) <= cap, "CORRUPT", "Blocks", "lzma stream decodes past %d bytes", cap)
    need(d.eof, "CORRUPT", "Blocks", "lzma stream ends before its end-of-payload marker")
    need(not d.unused_data, "CORRUPT", "Blocks",
         "%d bytes between the lzma stream's end and the CRC trailer", len(d.unused_data))
    return out


class LzmaDecoder:
    """Raw LZMA1 with end marker, after the LZMA SDK's reference decoder (LzmaSpec.cpp).

    It checks exactly what FORMAT.md states: distances up to dict_size, code = 0 after the
    end marker, and no byte after it; and it takes every lc/lp/pb the header allows."""

    def __init__(self, data, lc, lp, pb, dict_size, cap):
        self.data, self.lc, self.lp, self.pb = data, lc, lp, pb
        self.dict_size, self.cap = dict_size, cap
        need(len(data) >= 5 and data[0] == 0, "CORRUPT", "Blocks",
             "lzma stream does not start with a range coder head (0 and 4 bytes)")
        self.pos, self.range, self.code = 5, 0xFFFFFFFF, int.from_bytes(data[1:5], "big")
        need(self.code != self.range, "CORRUPT", "Blocks", "lzma range coder head is invalid")

    def _byte(self):
        need(self.pos < len(self.data), "CORRUPT", "Blocks",
             "lzma stream ends before its end-of-payload marker")
        self.pos += 1
        return self.data[self.pos - 1]

    def _bit(self, probs, i):
        p = probs[i]
        bound = (self.range >> 11) * p
        if self.code < bound:
            self.range = bound
            probs[i] = p + ((2048 - p) >> 5)
            bit = 0
        else:
            self.range -= bound
            self.code -= bound
            probs[i] = p - (p >> 5)
            bit = 1
        if self.range < 1 << 24:
            self.range <<= 8
            self.code = (self.code << 8) | self._byte()
        return bit

    def _direct(self, n):
        v = 0
        for _ in range(n):
            self.range >>= 1
            b = self.code >= self.range
            if b:
                self.code -= self.range
            v = (v << 1) | b
            if self.range < 1 << 24:
                self.range <<= 8
                self.code = (self.code << 8) | self._byte()
        return v

    def _tree(self, probs, base, nbits):
        m = 1
        for _ in range(nbits):
            m = (m << 1) | self._bit(probs, base + m)
        return m - (1 << nbits)

    def _tree_rev(self, probs, base, nbits):
        m, v = 1, 0
        for i in range(nbits):
            b = self._bit(probs, base + m)
            m = (m << 1) | b
            v |= b << i
        return v

    def _len(self, lp, pos_state):
        # lp: [choice, choice2, low[16][8], mid[16][8], high[256]] flattened
        if not self._bit(lp, 0):
            return self._tree(lp, 2 + pos_state * 8, 3)
        if not self._bit(lp, 1):
            return 8 + self._tree(lp, 2 + 128 + pos_state * 8, 3)
        return 16 + self._tree(lp, 2 + 256, 8)

    def run(self):
        lc, lp, pb = self.lc, self.lp, self.pb
        init = 1024
        lit = [init] * (0x300 << (lc + lp))
        is_match = [init] * (12 << 4)
        is_rep, is_rep_g0, is_rep_g1, is_rep_g2 = ([init] * 12 for _ in range(4))
        is_rep0_long = [init] * (12 << 4)
        slot = [init] * (4 << 6)
        spec = [init] * 115
        align = [init] * 16
        len_dec, rep_len_dec = [init] * (2 + 256 + 256), [init] * (2 + 256 + 256)
        out = bytearray()
        state, reps = 0, [0, 0, 0, 0]
        pb_mask, lp_mask = (1 << pb) - 1, (1 << lp) - 1
        while True:
            pos_state = len(out) & pb_mask
            if not self._bit(is_match, (state << 4) + pos_state):
                prev = out[-1] if out else 0
                base = 0x300 * (((len(out) & lp_mask) << lc) + (prev >> (8 - lc)))
                if state < 7:
                    sym = 1
                    while sym < 0x100:
                        sym = (sym << 1) | self._bit(lit, base + sym)
                else:
                    match_byte = out[len(out) - reps[0] - 1]
                    sym = 1
                    while sym < 0x100:
                        mbit = (match_byte >> 7) & 1
                        match_byte <<= 1
                        b = self._bit(lit, base + ((1 + mbit) << 8) + sym)
                        sym = (sym << 1) | b
                        if mbit != b:
                            break
                    while sym < 0x100:
                        sym = (sym << 1) | self._bit(lit, base + sym)
                out.append(sym & 0xFF)
                state = 0 if state < 4 else state - 3 if state < 10 else state - 6
            else:
                if self._bit(is_rep, state):
                    need(out, "CORRUPT", "Blocks", "lzma: repeated match before any output")
                    if not self._bit(is_rep_g0, state):
                        if not self._bit(is_rep0_long, (state << 4) + pos_state):
                            state = 9 if state < 7 else 11
                            out.append(out[len(out) - reps[0] - 1])
                            need(len(out) <= self.cap, "CORRUPT", "Blocks",
                                 "lzma stream decodes past %d bytes", self.cap)
                            continue
                    else:
                        if not self._bit(is_rep_g1, state):
                            dist = reps[1]
                        else:
                            if not self._bit(is_rep_g2, state):
                                dist = reps[2]
                            else:
                                dist = reps[3]
                                reps[3] = reps[2]
                            reps[2] = reps[1]
                        reps[1] = reps[0]
                        reps[0] = dist
                    length = self._len(rep_len_dec, pos_state)
                    state = 8 if state < 7 else 11
                else:
                    reps[3], reps[2], reps[1] = reps[2], reps[1], reps[0]
                    length = self._len(len_dec, pos_state)
                    state = 7 if state < 7 else 10
                    ls = min(length, 3)
                    s = self._tree(slot, ls << 6, 6)
                    if s < 4:
                        dist = s
                    else:
                        nd = (s >> 1) - 1
                        dist = (2 | (s & 1)) << nd
                        if s < 14:
                            dist += self._tree_rev(spec, dist - s, nd)
                        else:
                            dist += self._direct(nd - 4) << 4
                            dist += self._tree_rev(align, 0, 4)
                    if dist == 0xFFFFFFFF:
                        # "ending with the end-of-payload marker, after which the range coder
                        # must be finished (code = 0)"
                        need(self.code == 0, "CORRUPT", "Blocks",
                             "lzma range coder not finished (code %#x) after the end marker",
                             self.code)
                        need(self.pos == len(self.data), "CORRUPT", "Blocks",
                             "%d bytes between the lzma stream's end and the CRC trailer",
                             len(self.data) - self.pos)
                        return bytes(out)
                    reps[0] = dist
                length += 2
                d = reps[0] + 1
                need(d <= self.dict_size, "CORRUPT", "Blocks",
                     "lzma distance %d beyond dict_size %d", d, self.dict_size)
                need(d <= len(out), "CORRUPT", "Blocks",
                     "lzma distance %d before the block's first byte", d)
                for _ in range(length):
                    out.append(out[-d])
            need(len(out) <= self.cap, "CORRUPT", "Blocks", "lzma stream decodes past %d bytes",
                 self.cap)


def decode_stream(h, stream, impl):
    full = h["kind"] == KIND_FULL
    cap = block_cap(h, full)
    if h["codec"] == CODEC_NONE:
        return stream
    if h["codec"] == CODEC_DEFLATE:
        return inflate_block(stream, h["codec_props"], cap)
    return unlzma_block(stream, h["codec_props"], h["dict_size"], cap, impl)


# --------------------------------------------------------------------------------------------
# "Decoded block content" and "Filter 1: thumb"
# --------------------------------------------------------------------------------------------

CONTENT = "Decoded block content"


class Cursor:
    """Reads the decoded block; running out is "a stream that ends early" (CORRUPT)."""

    def __init__(self, data, block):
        self.data, self.pos, self.block = data, 0, block

    def varint(self, what):
        v = 0
        for i in range(5):
            need(self.pos < len(self.data), "CORRUPT", CONTENT,
                 "block %d: decoded stream ends inside %s", self.block, what)
            b = self.data[self.pos]
            self.pos += 1
            if i == 4:
                need(b <= 0x0F, "CORRUPT", CONTENT,
                     "block %d: %s has a 5th varint byte %#04x (above 0x0F)", self.block, what, b)
            v |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return v
        raise AssertionError("unreachable")

    def zigzag(self, what):
        u = self.varint(what)
        return (u >> 1) ^ -(u & 1)

    def take(self, n, what):
        need(len(self.data) - self.pos >= n, "CORRUPT", CONTENT,
             "block %d: decoded stream ends inside %s", self.block, what)
        self.pos += n
        return self.data[self.pos - n:self.pos]


def branch_mix(w):
    return ((w >> 16 & 0x7FF) | (w & 0x7FF) << 11 | (w >> 27) << 22 | (w >> 11 & 0x1F) << 27)


def branch_unmix(v):
    return ((v >> 11 & 0x7FF) | (v >> 27) << 11 | (v & 0x7FF) << 16 | (v >> 22 & 0x1F) << 27)


ADDRESS_TOP_BYTES = frozenset((0x00, 0x08, 0x10, 0x20))


def apply_difference(out, t, src, s, run, page_size, thumb):
    """One difference run: target bytes at out[t..], source from src[s..]."""
    n = len(run)
    if not thumb:
        out[t:t + n] = bytes((a + b) & 0xFF for a, b in zip(src[s:s + n], run))
        return
    i = 0
    while i < n:
        # "Filter 1: thumb": a word needs 4 run bytes left, an even source offset and its
        # 4 target bytes within one page, then a branch or (4-aligned) an address value.
        if n - i >= 4 and (s + i) % 2 == 0 and (t + i) % page_size <= page_size - 4:
            w = int.from_bytes(src[s + i:s + i + 4], "little")
            if (w & 0x9000F800) == 0x9000F000:
                v = branch_unmix((branch_mix(w) + int.from_bytes(run[i:i + 4], "little"))
                                 & 0xFFFFFFFF)
            elif (s + i) % 4 == 0 and (w >> 24) in ADDRESS_TOP_BYTES:
                v = (w + int.from_bytes(run[i:i + 4], "little")) & 0xFFFFFFFF
            else:
                v = None
            if v is not None:
                out[t + i:t + i + 4] = v.to_bytes(4, "little")
                i += 4
                continue
        out[t + i] = (src[s + i] + run[i]) & 0xFF
        i += 1


def decode_full_block(h, data, k, start, out):
    c = Cursor(data, k)
    out_len = block_extent(h, c, k, start)
    body = c.take(out_len, "the block's target bytes")
    if out is not None:
        out[start:start + out_len] = body
    return c, out_len


def block_extent(h, c, k, start):
    """Rule 1: out_len and where the block ends."""
    out_len = c.varint("out_len")
    end = start + out_len
    need(out_len >= 1, "CORRUPT", CONTENT, "block %d: out_len 0 (rule 1)", k)
    need(out_len <= h["block_size"], "CORRUPT", CONTENT,
         "block %d: out_len %d above block_size %d (rule 1)", k, out_len, h["block_size"])
    # FORMER GAP: rule 1 only says the *last* block ends exactly at target_size; that no block
    # may run past it, and an earlier one must end before it, only follows (out_len >= 1).
    # The applier refuses a block running past target_size (CORRUPT, bad-block-past-end).
    need(end <= h["target_size"], "CORRUPT", CONTENT,
         "block %d: [%d, %d) runs past target_size %d (rule 1)", k, start, end, h["target_size"])
    need(end % h["erase_size"] == 0 or end == h["target_size"], "CORRUPT", CONTENT,
         "block %d ends at %d: neither a multiple of erase_size nor target_size (rule 1)", k, end)
    last = k == h["block_count"] - 1
    need(not last or end == h["target_size"], "CORRUPT", CONTENT,
         "last block ends at %d, not at target_size %d (rule 1)", end, h["target_size"])
    need(last or end < h["target_size"], "CORRUPT", CONTENT,
         "block %d ends at target_size but %d more block(s) follow (rule 1)", k,
         h["block_count"] - 1 - k)
    return out_len


def decode_delta_block(h, data, k, start, src, out):
    """varint(out_len) varint(old_pos) op*, applied to src (None: parse only)."""
    c = Cursor(data, k)
    out_len = block_extent(h, c, k, start)
    ssize = h["source_size"]
    thumb = h["filter"] == FILTER_THUMB
    page = h["page_size"]
    pos = c.varint("old_pos")
    need(pos <= ssize, "CORRUPT", CONTENT, "block %d: old_pos %d beyond source_size %d (rule 2)",
         k, pos, ssize)
    t, end = start, start + out_len
    op = 0
    while t < end:
        add = c.varint("an op's add")
        extra = c.varint("an op's extra")
        seek = c.zigzag("an op's seek")
        need(add + extra >= 1, "CORRUPT", CONTENT, "block %d op %d: add + extra is 0 (rule 3)",
             k, op)
        need(add + extra <= end - t, "CORRUPT", CONTENT,
             "block %d op %d: add %d + extra %d exceed the block's remaining %d bytes (rule 3)",
             k, op, add, extra, end - t)
        need(add <= ssize - pos, "CORRUPT", CONTENT,
             "block %d op %d: add %d from source offset %d runs past source_size %d (rule 3)",
             k, op, add, pos, ssize)
        # addbody := zrun { drun zrun }, ending as soon as `add` bytes are covered.
        # FORMER GAP: with add = 0 the grammar still demands a zrun, while "it ends as soon as
        # add bytes are covered" says no run at all. The latter is right: the generator
        # writes no run there (good-empty-source) and the applier refuses a zrun(0).
        covered, zero = 0, True
        while covered < add:
            if zero:
                z = c.varint("a zero run")
                need(z <= add - covered, "CORRUPT", CONTENT,
                     "block %d op %d: zero run %d exceeds the %d add bytes left", k, op, z,
                     add - covered)
                if out is not None:
                    out[t + covered:t + covered + z] = src[pos + covered:pos + covered + z]
                covered += z
            else:
                d = c.varint("a difference run")
                need(d >= 1, "CORRUPT", CONTENT,
                     "block %d op %d: difference run of length 0", k, op)
                need(d <= add - covered, "CORRUPT", CONTENT,
                     "block %d op %d: difference run %d exceeds the %d add bytes left", k, op,
                     d, add - covered)
                run = c.take(d, "a difference run")
                if out is not None:
                    apply_difference(out, t + covered, src, pos + covered, run, page, thumb)
                covered += d
            zero = not zero
        pos += add
        lit = c.take(extra, "an op's extra bytes")
        if out is not None:
            out[t + add:t + add + extra] = lit
        t += add + extra
        pos += seek
        need(0 <= pos <= ssize, "CORRUPT", CONTENT,
             "block %d op %d: seek %+d leaves the source ([0, %d]) at %d (rule 3)",
             k, op, seek, ssize, pos)
        op += 1
    return c, out_len


def decode_blocks(h, index, streams, src, impl):
    """Rebuilds the target (or only parses it, src None for a delta without --old)."""
    rebuild = h["kind"] == KIND_FULL or src is not None
    out = bytearray(h["target_size"]) if rebuild else None
    real_index, start = [], 0
    for k, stream in enumerate(streams):
        data = decode_stream(h, stream, impl)
        real_index.append((index[k][0], start))
        if h["kind"] == KIND_FULL:
            c, out_len = decode_full_block(h, data, k, start, out)
        else:
            c, out_len = decode_delta_block(h, data, k, start, src, out)
        # Rule 4 / "Blocks": the op stream and the codec stream end together.
        need(c.pos == len(data), "CORRUPT", "Blocks",
             "block %d: %d decoded bytes beyond what the block needs", k, len(data) - c.pos)
        start += out_len
    # "Verification on the device" 3: the index the blocks really form must be the one
    # index_crc32 covers.
    raw = b"".join(struct.pack("<II", p, o) for p, o in real_index)
    for k, (real, stored) in enumerate(zip(real_index, index)):
        need(real == stored, "INDEX", "Verification on the device",
             "block %d really starts at payload %d, output %d; the index says %d, %d",
             k, real[0], real[1], stored[0], stored[1])
    need(crc32(raw) == h["index_crc32"], "INDEX", "Verification on the device",
         "the index the blocks form does not have index_crc32")
    return out


# --------------------------------------------------------------------------------------------
# Images: "Verification on the device" 1 (source) and 4 (target)
# --------------------------------------------------------------------------------------------

def check_source(h, old):
    # FORMER GAP: FORMAT.md names no error for a wrong source image; WRONG_SOURCE is the
    # applier's (which compares the size, and the SHA-256 only when asked to; MD5 never).
    sec = "Verification on the device"
    need(len(old) == h["source_size"], "WRONG_SOURCE", sec,
         "old image has %d bytes, source_size is %d", len(old), h["source_size"])
    need(hashlib.sha256(old).digest() == h["source_sha256"], "WRONG_SOURCE", sec,
         "old image's SHA-256 is not source_sha256")
    need(hashlib.md5(old).digest() == h["source_md5"], "WRONG_SOURCE", sec,
         "old image's MD5 is not source_md5")


def check_target(h, image):
    sec = "Verification on the device"
    need(len(image) == h["target_size"], "VERIFY", sec, "rebuilt %d bytes, target_size %d",
         len(image), h["target_size"])
    need(hashlib.sha256(image).digest() == h["target_sha256"], "VERIFY", sec,
         "the rebuilt image's SHA-256 is not target_sha256")
    need(hashlib.md5(image).digest() == h["target_md5"], "VERIFY", sec,
         "the rebuilt image's MD5 is not target_md5")


# --------------------------------------------------------------------------------------------

def read_package(pkg, old=None, impl="python"):
    """Checks everything; returns (header, extensions, target image or None)."""
    h = read_header(pkg)
    check_truncated(pkg, h)
    exts = read_extensions(pkg, h)
    index = read_index(pkg, h)
    streams = split_blocks(pkg, h, index)
    check_trailing(pkg, h)
    src = None
    if h["kind"] == KIND_DELTA and old is not None:
        check_source(h, old)
        src = old
    image = decode_blocks(h, index, streams, src, impl)
    if image is not None:
        check_target(h, image)
    return h, exts, image


def describe(h, exts, image):
    kind = "full" if h["kind"] == KIND_FULL else "delta"
    lines = ["%s package, %d bytes: %s%s -> %s, %d bytes" % (
        kind, h["package_size"], h["source_version"], "" if kind == "full" else
        " (%d bytes)" % h["source_size"], h["target_version"], h["target_size"])]
    codec = CODEC_NAMES[h["codec"]]
    if h["codec"] == CODEC_LZMA:
        codec += " lc=%d lp=%d pb=%d dict %d" % (lzma_props(h["codec_props"]) + (h["dict_size"],))
    elif h["codec"] == CODEC_DEFLATE:
        codec += " window %d" % h["dict_size"]
    lines.append("codec %s, filter %s, page %d, erase %d, %d block(s) of at most %d" % (
        codec, "thumb" if h["filter"] else "none", h["page_size"], h["erase_size"],
        h["block_count"], h["block_size"]))
    sigs = 0
    for typ, value in exts:
        if typ == TLV_SIGNATURE:
            sigs += 1
            if sigs > 1:
                lines.append("a second signature record: a verifier refuses the package")
            elif len(value) != 65:
                lines.append("signature record of %d bytes, not 65: a verifier refuses it"
                             % len(value))
            else:
                alg = {1: "Ed25519", 2: "ECDSA P-256"}.get(value[0],
                                                          "unknown algorithm %d" % value[0])
                lines.append("signature record: %s (not verified: no key)" % alg)
        elif typ == TLV_NOTE:
            lines.append("note: %r" % value.decode("utf-8", "replace"))
        else:
            lines.append("skipped non-critical extension %#06x (%d bytes)" % (typ, len(value)))
    lines.append("target rebuilt and verified" if image is not None else
                 "target not rebuilt (a delta package needs --old)")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check an otadelta package against docs/FORMAT.md "
                                             "and rebuild its target image.")
    ap.add_argument("package")
    ap.add_argument("--old", help="source image (delta packages)")
    ap.add_argument("-o", "--output", help="write the rebuilt target image here")
    ap.add_argument("--lzma", choices=("python", "liblzma"), default="python",
                    help="LZMA decoder: the built-in one (default), which checks distances "
                         "against dict_size exactly, or Python's lzma module (liblzma; "
                         "only for lc + lp <= 4)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    try:
        with open(a.package, "rb") as f:
            pkg = f.read()
        old = None
        if a.old:
            with open(a.old, "rb") as f:
                old = f.read()
    except OSError as e:
        print("od_spec_read: %s" % e, file=sys.stderr)
        return 2
    try:
        h, exts, image = read_package(pkg, old, a.lzma)
    except Violation as v:
        print("od_spec_read: %s" % v, file=sys.stderr)
        return 1
    if a.output:
        if image is None:
            print("od_spec_read: -o needs --old for a delta package", file=sys.stderr)
            return 2
        try:
            with open(a.output, "wb") as f:
                f.write(image)
        except OSError as e:
            print("od_spec_read: %s" % e, file=sys.stderr)
            return 2
    if not a.quiet:
        print(describe(h, exts, image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
