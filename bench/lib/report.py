#!/usr/bin/env python3
"""Turn the raw measurements written by bench/run.sh into bench/RESULTS.md.

Inputs (all in --dir, tab-separated, written by run.sh):
  meta.tsv    key, value
  pairs.tsv   pair, arch, step, old size, new size            (corpus order)
  status.tsv  pair, tool, patch size or '-', ok|fail, detail
  runs.tsv    key, tool, phase, run, wall us, GNU %e, GNU %M KiB, exit status
  tp.tsv      key, description, bytes, ok|fail, detail         (applier throughput rows)
and --peers: the corpus's peer-results.md, whose Markdown table gives the figures of the peers
that cannot be installed here.
"""
import argparse
import math
import os
import statistics
import sys

FAST = "otadelta-fast"  # otadelta diff --effort fast: shown beside the default, never a target
NONE = "otadelta-none"  # --codec none: the packages the tiny applier profile takes
MEASURED_OD = ["otadelta", FAST, "otadelta-deflate", NONE]
MEASURED_PEERS = ["bsdiff", "xdelta3-lzma", "zstd19"]
COPIED_PEERS = ["hdiffz-SD-lzma2", "hdiffi-tuz4k", "hdiffi-lzma2"]
ALL_PEERS = MEASURED_PEERS + COPIED_PEERS
HDIFFZ = "hdiffz-SD-lzma2"
DAGGER = "\u2020"  # marks figures copied from peer-results.md
MEM_FACTOR = 6.0
SPEED_GOAL = 5.0
MBPS_GOAL = 100.0


def read_tsv(path, ncols):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            cells = line.split("\t")
            cells += [""] * (ncols - len(cells))
            rows.append(cells[:ncols])
    return rows


def split_row(line):
    s = line.strip()
    if not s.startswith("|"):
        return None
    s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


def to_int(text):
    t = text.replace(",", "").replace("\u202f", "").replace(" ", "")
    return int(t) if t.isdigit() else None


def parse_peer_results(path):
    """Return {pair: {column: cell}} from the first Markdown table with a 'pair' column."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = None
    rows = {}
    for line in lines:
        cells = split_row(line)
        if header is None:
            if cells and cells[0].lower() == "pair":
                header = cells
            continue
        if cells is None:
            break
        if all(c and set(c) <= set("-: ") for c in cells):
            continue
        rows[cells[0]] = dict(zip(header, cells))
    if header is None:
        sys.exit("report.py: no Markdown table with a 'pair' column in %s" % path)
    for col in COPIED_PEERS:
        if col not in header:
            sys.exit("report.py: column %r missing from the table in %s (columns: %s)"
                     % (col, path, ", ".join(header)))
    return header, rows


def median(values):
    return statistics.median(values) if values else None


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None, 0
    return math.exp(sum(math.log(v) for v in values) / len(values)), len(values)


def fmt_ratio(x, digits=3):
    return "n/a" if x is None else "%.*f" % (digits, x)


def fmt_ms(us):
    return "n/a" if us is None else "%.1f" % (us / 1000.0)


def fmt_int(x):
    return "n/a" if x is None else str(x)


def gm_sizes(ids, num, den):
    """Geometric mean and count of num(p) / den(p) over the pairs where both sizes exist."""
    vals = []
    for p in ids:
        a, b = num(p), den(p)
        if a and b:
            vals.append(a / b)
    return geomean(vals)


def speed_vs_bsdiff(data, ids, tool):
    """{pair: bsdiff diff time / tool diff time}, None where either is missing or tool failed."""
    speed = {}
    for p in ids:
        to = data.t_med(p, tool, "diff")
        tb = data.t_med(p, "bsdiff", "diff")
        ok = data.status.get((p, tool), {}).get("ok")
        speed[p] = tb / to if to and tb and ok else None
    return speed


def speed_summary(speed, ids):
    """(pairs above 1, the ratios that exist, their geometric mean)"""
    sp = [speed[p] for p in ids if speed[p] is not None]
    return sum(1 for v in sp if v > 1.0), sp, geomean(sp)[0]


def pass_fail(ok):
    return "**PASS**" if ok else "**FAIL**"


def md_escape(text):
    return text.replace("|", "\\|")


class Data:
    def __init__(self, d, peers_path):
        self.meta = dict((k, v) for k, v in read_tsv(os.path.join(d, "meta.tsv"), 2))
        self.pairs = [dict(id=r[0], arch=r[1], step=r[2], old=int(r[3]), new=int(r[4]))
                      for r in read_tsv(os.path.join(d, "pairs.tsv"), 5)]
        self.status = {}
        for pair, tool, size, st, detail in read_tsv(os.path.join(d, "status.tsv"), 5):
            self.status[(pair, tool)] = dict(size=to_int(size), ok=(st == "ok"), detail=detail)
        self.runs = {}
        for key, tool, phase, run, wall, e, rss, rc in read_tsv(os.path.join(d, "runs.tsv"), 8):
            self.runs.setdefault((key, tool, phase), []).append(dict(
                wall_us=int(wall), e=e, rss=to_int(rss), rc=int(rc)))
        self.tp = [dict(key=r[0], desc=r[1], bytes=int(r[2]), ok=(r[3] == "ok"), detail=r[4])
                   for r in read_tsv(os.path.join(d, "tp.tsv"), 5)]
        self.peer_header, self.peer_rows = parse_peer_results(peers_path)
        # Bytes of each default package that are container, not payload.
        cpath = os.path.join(d, "container.tsv")
        self.container = dict((r[0], int(r[1])) for r in read_tsv(cpath, 2)) \
            if os.path.exists(cpath) else {}

    def size(self, pair, tool):
        """Patch size of a tool on a pair, or None if it failed or is unknown."""
        if tool in COPIED_PEERS:
            row = self.peer_rows.get(pair)
            return to_int(row.get(tool, "")) if row else None
        st = self.status.get((pair, tool))
        return st["size"] if st and st["ok"] else None

    def cell(self, pair, tool):
        if tool in COPIED_PEERS:
            v = self.size(pair, tool)
            return "n/a" if v is None else "%d%s" % (v, DAGGER)
        st = self.status.get((pair, tool))
        if st is None:
            return "not run"
        if st["ok"]:
            return str(st["size"])
        if st["size"] is not None:
            return "%d **FAIL**" % st["size"]
        return "**FAIL**"

    def t_med(self, key, tool, phase):
        runs = [r for r in self.runs.get((key, tool, phase), []) if r["rc"] == 0]
        return median([r["wall_us"] for r in runs])

    def rss_max(self, key, tool, phase):
        vals = [r["rss"] for r in self.runs.get((key, tool, phase), [])
                if r["rss"] is not None and r["rc"] == 0]
        return max(vals) if vals else None

    def failed(self, pair, tool):
        st = self.status.get((pair, tool))
        return st is not None and not st["ok"]

    def ms_cell(self, pair, tool, phase):
        return "FAIL" if self.failed(pair, tool) else fmt_ms(self.t_med(pair, tool, phase))

    def rss_cell(self, pair, tool, phase):
        return "FAIL" if self.failed(pair, tool) else fmt_int(self.rss_max(pair, tool, phase))

    def best_peer(self, pair):
        best = None
        for tool in ALL_PEERS:
            v = self.size(pair, tool)
            if v is not None and (best is None or v < best[1]):
                best = (tool, v)
        return best


def write_report(data, out):
    m = data.meta
    pairs = data.pairs
    ids = [p["id"] for p in pairs]
    L = []
    add = L.append

    add("# otadelta benchmark results")
    add("")
    add("Generated by `bench/run.sh`; do not edit by hand, rerun it. "
        "Every figure below is measured in this run except the columns marked %s, which are "
        "copied from the corpus's `peer-results.md` (HDiffPatch / HPatchLite are not installable "
        "here)." % DAGGER)
    add("")
    add("- Date: %s" % m.get("date", "?"))
    add("- Command: `%s`" % m.get("cmdline", "bench/run.sh"))
    el = m.get("elapsed_ms")
    add("- Run time of the benchmark: %s s" % ("%.1f" % (int(el) / 1000.0) if el else "?"))
    add("- Machine: %s CPU(s), %s; %s RAM; %s; %s" % (
        m.get("nproc", "?"), m.get("cpu", "?"), m.get("memtotal", "?"), m.get("kernel", "?"),
        m.get("os", "?")))
    add("- Load average (1/5/15 min) at start of the pairs: %s; after the throughput rows: %s "
        "(other work on the machine affects the times)" % (m.get("load_start", "?"),
                                                          m.get("load_end", "?")))
    add("- Corpus: `%s`, %d pairs" % (m.get("corpus", "?"), len(pairs)))
    add("")
    add("Tool versions:")
    add("")
    add("- otadelta: %s; %s" % (m.get("od_version", "?"), m.get("od_source", "?")))
    if "od_git" in m:
        add("  - git: %s" % m["od_git"])
    if "od_compiler" in m:
        add("  - compiler: %s, Release flags `%s`" % (m["od_compiler"], m.get("od_cflags", "")))
    add("- bsdiff/bspatch: %s" % m.get("v_bsdiff", "?"))
    add("- xdelta3: %s" % m.get("v_xdelta3", "?"))
    add("- zstd: %s" % m.get("v_zstd", "?"))
    add("- timer: %s; report: %s" % (m.get("v_time", "?"), m.get("v_python", "?")))
    add("")

    # ---- settings ----
    add("## Settings")
    add("")
    add("| column | command (measured in this run unless marked %s) |" % DAGGER)
    add("|---|---|")
    add("| otadelta | `otadelta diff OLD NEW -o P --from-version old --to-version new -q` "
        "(defaults: LZMA, `--ram 16K`); check: `otadelta apply OLD P -o OUT -q` (default "
        "`--chunk 1024`) + `cmp OUT NEW` |")
    add("| otadelta-fast | same with `--effort fast` (LZMA; one matcher setting instead of 13, "
        "lighter compression) |")
    add("| otadelta-deflate | same with `--codec deflate` |")
    add("| otadelta-none | same with `--codec none` (uncompressed: what the tiny applier profile "
        "takes) |")
    add("| bsdiff | `bsdiff OLD NEW P`; check: `bspatch OLD OUT P` + `cmp` |")
    add("| xdelta3-lzma | `xdelta3 -e -9 -S lzma -s OLD NEW P`; check: `xdelta3 -d -s OLD P OUT` "
        "+ `cmp` |")
    zlong = sorted(set(st["detail"] for (p, t), st in data.status.items()
                       if t == "zstd19" and st["detail"].startswith("used --long")))
    add("| zstd19 | `zstd -19 --patch-from=OLD NEW -o P`; check: `zstd -d --patch-from=OLD P -o "
        "OUT` + `cmp`; %s |" % ("`--long` " + ", ".join(zlong) if zlong else
                                  "no `--long`/`--zstd=` option was needed (every image is "
                                  "below 128 MiB, zstd sizes the window for --patch-from "
                                  "itself)"))
    for tool in COPIED_PEERS:
        add("| %s%s | copied from `peer-results.md` (see its settings) |" % (tool, DAGGER))
    add("")

    # ---- failures ----
    fails = [(p, t, st["detail"]) for (p, t), st in data.status.items() if not st["ok"]]
    fails += [(tp["desc"], "otadelta full/apply", tp["detail"]) for tp in data.tp if not tp["ok"]]
    missing_peer_rows = [p for p in ids if p not in data.peer_rows]

    # ---- targets ----
    od_sizes = {p: data.size(p, "otadelta") for p in ids}
    ratio_hd = {p: (od_sizes[p] / data.size(p, HDIFFZ)
                    if od_sizes[p] and data.size(p, HDIFFZ) else None) for p in ids}
    best = {p: data.best_peer(p) for p in ids}
    ratio_best = {p: (od_sizes[p] / best[p][1] if od_sizes[p] and best[p] else None)
                  for p in ids}
    gm_hd, n_hd = geomean(ratio_hd.values())
    gm_best, n_best = geomean(ratio_best.values())

    speed = speed_vs_bsdiff(data, ids, "otadelta")
    speed_fast = speed_vs_bsdiff(data, ids, FAST)
    mem_raw = {}
    mem_net = {}
    mem_fix = {}
    base_rss = data.rss_max("_overhead", "otadelta-version", "base")
    tiny_rss = data.rss_max("_overhead", "otadelta-tiny-diff", "base")
    for pp in pairs:
        rss = data.rss_max(pp["id"], "otadelta", "diff")
        ok = data.status.get((pp["id"], "otadelta"), {}).get("ok")
        mem_raw[pp["id"]] = rss * 1024.0 / pp["old"] if rss and ok else None
        mem_net[pp["id"]] = ((rss - base_rss) * 1024.0 / pp["old"]
                             if rss and ok and base_rss is not None else None)
        mem_fix[pp["id"]] = ((rss - tiny_rss) * 1024.0 / pp["old"]
                             if rss and ok and tiny_rss is not None else None)
    tp_rows = []
    for tp in data.tp:
        t = data.t_med(tp["key"], "otadelta", "apply")
        mbps = tp["bytes"] / (t / 1e6) / 1e6 if tp["ok"] and t else None
        tp_rows.append((tp, t, mbps))

    add("## Targets (architecture.md, \"Performance goals\"), measured in this run")
    add("")
    add("Each line is computed from the tables below; a pair on which otadelta failed counts "
        "against the target.")
    add("")
    if gm_hd is not None:
        add("- %s Patch size: geometric mean otadelta / hdiffz-SD-lzma2%s = %.3f over %d pairs "
            "(target <= 1.000)" % (pass_fail(gm_hd <= 1.0 and n_hd == len(ids)), DAGGER, gm_hd,
                                   n_hd))
    else:
        add("- **FAIL** Patch size vs hdiffz-SD-lzma2: no pair to compare")
    nb = sum(1 for p in ids if ratio_best[p] is not None and ratio_best[p] < 1.0)
    add("- %s Patch size smaller than the best peer on every pair: %d of %d pairs (geometric "
        "mean otadelta / best peer = %s)" % (pass_fail(nb == len(ids)), nb, len(ids),
                                             fmt_ratio(gm_best)))
    nf, sp, gm_sp = speed_summary(speed, ids)
    n5 = sum(1 for p in ids if speed[p] is not None and speed[p] >= SPEED_GOAL)
    add("- %s Generator faster than bsdiff on every pair: %d of %d pairs (bsdiff time / "
        "otadelta time: min %s, geometric mean %s, max %s)" % (
            pass_fail(nf == len(ids)), nf, len(ids), fmt_ratio(min(sp) if sp else None, 2),
            fmt_ratio(gm_sp, 2), fmt_ratio(max(sp) if sp else None, 2)))
    add("- %s Generator at least %.0fx faster than bsdiff on every pair: %d of %d pairs"
        % (pass_fail(n5 == len(ids)), SPEED_GOAL, n5, len(ids)))
    nm = sum(1 for p in ids if mem_raw[p] is not None and mem_raw[p] <= MEM_FACTOR)
    mr = [v for v in mem_raw.values() if v is not None]
    add("- %s Generator peak RSS <= %.0fx the old image on every pair (raw peak RSS, which "
        "includes the process baseline): %d of %d pairs, max %sx" % (
            pass_fail(nm == len(ids)), MEM_FACTOR, nm, len(ids),
            fmt_ratio(max(mr) if mr else None, 1)))
    nn = sum(1 for p in ids if mem_net[p] is not None and mem_net[p] <= MEM_FACTOR)
    mn = [v for v in mem_net.values() if v is not None]
    add("  - note: with the bare process baseline subtracted (peak RSS of `otadelta version`, "
        "%s KiB): %d of %d pairs within %.0fx, max %sx." % (
            fmt_int(base_rss), nn, len(ids), MEM_FACTOR, fmt_ratio(max(mn) if mn else None, 1)))
    nx = sum(1 for p in ids if mem_fix[p] is not None and mem_fix[p] <= MEM_FACTOR)
    mx = [v for v in mem_fix.values() if v is not None]
    add("  - note: with the generator's fixed cost subtracted (peak RSS of `otadelta diff` on two "
        "4 KiB files, %s KiB): %d of %d pairs within %.0fx, max %sx. The raw figure decides the "
        "line above; these two show how much of it is fixed cost." % (
            fmt_int(tiny_rss), nx, len(ids), MEM_FACTOR, fmt_ratio(max(mx) if mx else None, 1)))
    for tp, t, mbps in tp_rows:
        add("- %s Host apply >= %.0f MB/s uncompressed, %s: %s MB/s" % (
            pass_fail(mbps is not None and mbps >= MBPS_GOAL), MBPS_GOAL, tp["desc"],
            fmt_ratio(mbps, 1)))
    nff, spf, gm_spf = speed_summary(speed_fast, ids)
    bs = lambda p: data.size(p, "bsdiff")
    fast_size = lambda p: data.size(p, FAST)
    gmf_bs, nf_bs = gm_sizes(ids, fast_size, bs)
    gmf_hd, nf_hd = gm_sizes(ids, fast_size, lambda p: data.size(p, HDIFFZ))
    add("- info, not a target (the %s column, `otadelta diff --effort fast`; the lines above "
        "judge the default):" % FAST)
    add("  - Generator faster than bsdiff on every pair with --effort fast: %d of %d pairs (bsdiff "
        "time / %s time: min %s, geometric mean %s, max %s)" % (
            nff, len(ids), FAST, fmt_ratio(min(spf) if spf else None, 2), fmt_ratio(gm_spf, 2),
            fmt_ratio(max(spf) if spf else None, 2)))
    add("  - Patch size with --effort fast: geometric mean %s / bsdiff = %s over %d pairs, "
        "%s / hdiffz-SD-lzma2%s = %s over %d pairs" % (FAST, fmt_ratio(gmf_bs), nf_bs, FAST,
                                                       DAGGER, fmt_ratio(gmf_hd), nf_hd))
    # Peers' patch sizes include their own (small) headers; otadelta's
    # container carries five digests and the index, so on small images it
    # decides the comparison. Shown apart, never a target.
    pay = dict((p, data.size(p, "otadelta") - data.container[p]) for p in ids
               if data.size(p, "otadelta") is not None and p in data.container)
    pay_best = dict((p, pay[p] / data.best_peer(p)[1]) for p in pay if data.best_peer(p))
    if pay_best:
        cm = [p["id"] for p in pairs if p["arch"].startswith("cortex-m") and p["id"] in pay_best]
        cont = sorted(data.container[p] for p in pay)
        span = "%d" % cont[0] if cont[0] == cont[-1] else "%d-%d" % (cont[0], cont[-1])
        add("- info, not a target (the container: header, extensions and block index, %s B "
            "here, carrying the five MD5/SHA-256 digests FORMAT.md requires): the package without "
            "it is smaller than the best peer's whole patch on %d of %d pairs (%d of %d Cortex-M "
            "pairs; geometric mean %s), where the whole package is on %d of them" % (
                span, sum(1 for v in pay_best.values() if v < 1.0), len(pay_best),
                sum(1 for p in cm if pay_best[p] < 1.0), len(cm),
                fmt_ratio(geomean(list(pay_best.values()))[0]),
                sum(1 for p in pay_best if ratio_best[p] is not None and ratio_best[p] < 1.0)))
    add("")
    add("Failures in this run: %s" % ("none." if not fails else "%d (listed at the end)."
                                       % len(fails)))
    add("")

    # ---- sizes ----
    add("## Patch sizes (bytes)")
    add("")
    add("Measured in this run: %s (each patch applied back and compared byte for byte; "
        "**FAIL** marks a patch that failed). "
        "Copied from `peer-results.md`: the columns marked %s. Best peer is taken over all six "
        "peers." % (", ".join(MEASURED_OD + MEASURED_PEERS), DAGGER))
    add("")
    cols = ["pair", "arch", "step", "old \u2192 new B"] + MEASURED_OD + MEASURED_PEERS + \
        [c + DAGGER for c in COPIED_PEERS] + ["best peer", "otadelta / best peer",
                                              "otadelta / hdiffz-SD-lzma2%s" % DAGGER]
    add("| " + " | ".join(cols) + " |")
    add("|" + "---|" * 4 + "---:|" * (len(cols) - 4))
    for pp in pairs:
        p = pp["id"]
        b = best[p]
        row = [p, pp["arch"], pp["step"], "%d \u2192 %d" % (pp["old"], pp["new"])]
        row += [data.cell(p, t) for t in MEASURED_OD + MEASURED_PEERS + COPIED_PEERS]
        row += ["%s (%d)" % (b[0], b[1]) if b else "n/a", fmt_ratio(ratio_best[p]),
                fmt_ratio(ratio_hd[p])]
        add("| " + " | ".join(row) + " |")
    add("")

    add("### Geometric means of size ratios")
    add("")
    add("Over the pairs where both sizes exist (n). Ratios to bsdiff use this run's bsdiff size; "
        "rows with %s use copied figures." % DAGGER)
    add("")
    add("| ratio | geometric mean | n |")
    add("|---|---:|---:|")

    def gm_row(label, num, den):
        g, n = gm_sizes(ids, num, den)
        add("| %s | %s | %d |" % (label, fmt_ratio(g), n))

    for t in MEASURED_OD:
        gm_row("%s / bsdiff" % t, lambda p, t=t: data.size(p, t), bs)
    for t in ALL_PEERS:
        mark = DAGGER if t in COPIED_PEERS else ""
        gm_row("%s%s / bsdiff" % (t, mark), lambda p, t=t: data.size(p, t), bs)
    gm_row("best peer%s / bsdiff" % DAGGER, lambda p: best[p][1] if best[p] else None, bs)
    for t in MEASURED_OD:
        gm_row("%s / best peer%s" % (t, DAGGER), lambda p, t=t: data.size(p, t),
               lambda p: best[p][1] if best[p] else None)
        gm_row("%s / hdiffz-SD-lzma2%s" % (t, DAGGER), lambda p, t=t: data.size(p, t),
               lambda p: data.size(p, HDIFFZ))
    gm_row("%s / otadelta" % FAST, fast_size, lambda p: data.size(p, "otadelta"))
    gm_row("%s / otadelta" % NONE, lambda p: data.size(p, NONE), lambda p: data.size(p, "otadelta"))
    new_size = {pp["id"]: pp["new"] for pp in pairs}
    gm_row("%s / new image" % NONE, lambda p: data.size(p, NONE), lambda p: new_size[p])
    add("")

    add("Cross-check of this run's Debian peers against the figures in `peer-results.md`:")
    add("")
    for t in MEASURED_PEERS:
        same = 0
        diffs = []
        for p in ids:
            mine = data.size(p, t)
            row = data.peer_rows.get(p)
            theirs = to_int(row.get(t, "")) if row else None
            if mine is None or theirs is None:
                continue
            if mine == theirs:
                same += 1
            else:
                diffs.append("%s %d vs %d" % (p, mine, theirs))
        add("- %s: equal on %d pair(s)%s" % (t, same, "; differs: " + ", ".join(diffs)
                                             if diffs else ""))
    if missing_peer_rows:
        add("- pairs without a row in peer-results.md: %s" % ", ".join(missing_peer_rows))
    add("")

    # ---- generator time and memory ----
    add("## Generator: diff wall time and peak RSS (all measured in this run)")
    add("")
    add("Wall time: median of %s runs in milliseconds; peak RSS: largest GNU time `%%M` of those "
        "runs, KiB. `bsdiff/od` is bsdiff time / otadelta time (above 1 means otadelta is faster), "
        "`bsdiff/fast` the same for %s (`--effort fast`). "
        "`RSS/old` is otadelta's peak RSS over the old image size; `-proc` subtracts the bare "
        "process (%s KiB, peak RSS of `otadelta version`), `-fixed` the generator's fixed cost "
        "(%s KiB, peak RSS of a diff of two 4 KiB files)." % (
            m.get("runs", "?"), FAST, fmt_int(base_rss), fmt_int(tiny_rss)))
    add("")
    cols = ["pair", "old B", "otadelta ms", "bsdiff ms", "bsdiff/od", "bsdiff/fast",
            "otadelta RSS KiB", "RSS/old", "-proc", "-fixed", "bsdiff RSS KiB",
            "%s ms / KiB" % FAST, "otadelta-deflate ms / KiB", "xdelta3-lzma ms / KiB",
            "zstd19 ms / KiB"]
    add("| " + " | ".join(cols) + " |")
    add("|---|" + "---:|" * (len(cols) - 1))
    for pp in pairs:
        p = pp["id"]

        def tk(t):
            if data.failed(p, t):
                return "FAIL"
            return "%s / %s" % (fmt_ms(data.t_med(p, t, "diff")),
                                fmt_int(data.rss_max(p, t, "diff")))
        row = [p, str(pp["old"]), data.ms_cell(p, "otadelta", "diff"),
               data.ms_cell(p, "bsdiff", "diff"), fmt_ratio(speed[p], 2),
               fmt_ratio(speed_fast[p], 2), data.rss_cell(p, "otadelta", "diff"),
               fmt_ratio(mem_raw[p], 2), fmt_ratio(mem_net[p], 2), fmt_ratio(mem_fix[p], 2),
               data.rss_cell(p, "bsdiff", "diff"),
               tk(FAST), tk("otadelta-deflate"), tk("xdelta3-lzma"), tk("zstd19")]
        add("| " + " | ".join(row) + " |")
    add("")
    add("Geometric mean of bsdiff time / otadelta time: %s over %d pairs (/ %s time: %s over %d "
        "pairs). Geometric mean of each tool's diff time relative to bsdiff's:" % (
            fmt_ratio(gm_sp, 2), len(sp), FAST, fmt_ratio(gm_spf, 2), len(spf)))
    add("")
    add("| tool | diff time / bsdiff diff time | peak RSS / bsdiff peak RSS |")
    add("|---|---:|---:|")
    for t in MEASURED_OD + ["xdelta3-lzma", "zstd19"]:
        tr = [data.t_med(p, t, "diff") / data.t_med(p, "bsdiff", "diff") for p in ids
              if data.t_med(p, t, "diff") and data.t_med(p, "bsdiff", "diff")]
        rr = [data.rss_max(p, t, "diff") / data.rss_max(p, "bsdiff", "diff") for p in ids
              if data.rss_max(p, t, "diff") and data.rss_max(p, "bsdiff", "diff")
              and data.status.get((p, t), {}).get("ok")]
        add("| %s | %s | %s |" % (t, fmt_ratio(geomean(tr)[0]), fmt_ratio(geomean(rr)[0])))
    add("")

    # ---- apply ----
    add("## Apply (all measured in this run)")
    add("")
    add("otadelta apply runs the MCU applier on the host, fed in 1024-byte chunks (the CLI "
        "default), and verifies SHA-256/MD5 of the result; the time is the whole process. Host "
        "apply throughput = new image size / otadelta apply time (MB = 10^6 bytes). Median of "
        "%s runs, ms." % m.get("runs", "?"))
    add("")
    cols = ["pair", "new B", "otadelta apply ms", "host apply MB/s", "otadelta apply RSS KiB",
            "otadelta-deflate apply ms", "bspatch ms", "xdelta3 -d ms", "zstd -d ms"]
    add("| " + " | ".join(cols) + " |")
    add("|---|" + "---:|" * (len(cols) - 1))
    for pp in pairs:
        p = pp["id"]
        ta = data.t_med(p, "otadelta", "apply")
        ok = data.status.get((p, "otadelta"), {}).get("ok")
        mbps = pp["new"] / (ta / 1e6) / 1e6 if ta and ok else None
        row = [p, str(pp["new"]), data.ms_cell(p, "otadelta", "apply"), fmt_ratio(mbps, 1),
               data.rss_cell(p, "otadelta", "apply"),
               data.ms_cell(p, "otadelta-deflate", "apply"),
               data.ms_cell(p, "bsdiff", "apply"),
               data.ms_cell(p, "xdelta3-lzma", "apply"),
               data.ms_cell(p, "zstd19", "apply")]
        add("| " + " | ".join(row) + " |")
    add("")

    add("### Applier throughput, uncompressed (measured in this run)")
    add("")
    add("`otadelta full FILE -o P --codec none --to-version x`, then `otadelta apply P -o OUT "
        "--chunk 65536` (median of %s runs), output compared with `cmp`. The time is the whole "
        "process: reading the package, running the applier, writing OUT and verifying it by "
        "SHA-256 and MD5, so the rate is a lower bound for the applier alone. The corpus image is "
        "small enough that process start-up weighs in; the synthetic file shows the sustained "
        "rate." % m.get("runs", "?"))
    add("")
    add("| input | bytes | full ms | apply ms | apply MB/s | apply peak RSS KiB | check |")
    add("|---|---:|---:|---:|---:|---:|---|")
    for tp, t, mbps in tp_rows:
        add("| %s | %d | %s | %s | %s | %s | %s |" % (
            md_escape(tp["desc"]), tp["bytes"], fmt_ms(data.t_med(tp["key"], "otadelta", "full")),
            fmt_ms(t), fmt_ratio(mbps, 1), fmt_int(data.rss_max(tp["key"], "otadelta", "apply")),
            "ok" if tp["ok"] else "**FAIL**"))
    add("")

    # ---- method ----
    ov = data.t_med("_overhead", "true", "base")
    add("## Method notes")
    add("")
    add("- Every command runs under GNU `/usr/bin/time -f '%%e %%M'` (peak RSS) and is bracketed "
        "with bash's `EPOCHREALTIME`, because `%%e` has only 10 ms resolution and most diffs here "
        "take less. Wall times include starting the process and `/usr/bin/time` itself: "
        "`/usr/bin/time true` took %s ms (median of 5) in this run, which narrows ratios of "
        "very short runs towards 1." % fmt_ms(ov))
    add("- All tools run one after the other on an otherwise shared machine; see the load "
        "average above. Sizes do not depend on it; times do.")
    add("- Copied columns (%s) come from the corpus's `peer-results.md` table, parsed at run "
        "time; they were measured elsewhere with the settings stated there." % DAGGER)
    add("")
    if fails:
        add("## Failures")
        add("")
        for p, t, d in fails:
            add("- %s, %s: %s" % (p, t, md_escape(d)))
        add("")

    tmp = "%s.tmp.%d" % (out, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(L))
    os.replace(tmp, out)
    return len(fails)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="folder with run.sh's raw TSV files")
    ap.add_argument("--peers", required=True, help="peer-results.md of the corpus")
    ap.add_argument("--out", required=True, help="Markdown file to write")
    a = ap.parse_args()
    nfail = write_report(Data(a.dir, a.peers), a.out)
    if nfail:
        print("report.py: %d failure(s), listed in %s" % (nfail, a.out), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
