#!/usr/bin/env bash
# tests/cli/run.sh - command-line tests for otadelta.
#
#   bash tests/cli/run.sh OTADELTA_BINARY
#
# Runs the CLI the way a user or a build server does and checks exit codes,
# output files, error messages and, where the output is stable, golden files
# in tests/cli/golden (regenerate them with OD_CLI_UPDATE_GOLDEN=1 after an
# intended change and review the diff). Uses the sample packages in
# tests/files; the images they apply to are recovered from the full sample
# packages themselves, other inputs are made here with a deterministic
# generator. Every check counts; the last line is "N passed, M failed" and
# the exit status is non-zero if anything failed.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 OTADELTA_BINARY" >&2
    exit 2
fi
case $1 in
/*) OD=$1 ;;
*) OD=$PWD/$1 ;;
esac
if [ ! -x "$OD" ]; then
    echo "$0: '$OD' is not executable" >&2
    exit 2
fi

HERE=$(cd "$(dirname "$0")" && pwd)
FILES=$(cd "$HERE/../files" && pwd)
GOLDEN=$HERE/golden
TMP=$(mktemp -d "${TMPDIR:-/tmp}/od-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C

passed=0
failed=0
skipped=0
rc=0

pass() {
    passed=$((passed + 1))
    echo "ok: $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL: $1${2:+: $2}"
    if [ -s "$TMP/err" ]; then
        sed 's/^/    stderr: /' "$TMP/err" | head -5
    fi
}

skip() {
    skipped=$((skipped + 1))
    echo "skip: $1${2:+: $2}"
}

# run CMD...: runs the CLI command, stdout to $TMP/out, stderr to $TMP/err,
# exit status in $rc.
run() {
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
}

# expect_exit WANT NAME CMD...: runs CMD and checks its exit status.
expect_exit() {
    local want=$1 name=$2
    shift 2
    run "$@"
    if [ "$rc" -eq "$want" ]; then
        pass "$name"
    else
        fail "$name" "exit $rc, expected $want"
    fi
}

# expect_true NAME CMD...: CMD (a test such as `[ ... ]`) succeeds.
expect_true() {
    local name=$1
    shift
    if "$@"; then
        pass "$name"
    else
        fail "$name" "not true: $*"
    fi
}

# expect_grep NAME PATTERN [FILE]: FILE (default: the last stderr) matches
# the extended regular expression PATTERN, case-insensitively.
expect_grep() {
    local file=${3:-$TMP/err}
    if grep -Eqi -- "$2" "$file"; then
        pass "$1"
    else
        fail "$1" "no /$2/ in $(basename "$file"): $(head -c 300 "$file")"
    fi
}

# expect_same NAME A B: files A and B exist and are identical.
expect_same() {
    if [ -f "$2" ] && [ -f "$3" ] && cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1" "$2 and $3 differ or are missing"
    fi
}

# expect_absent NAME PATH: neither PATH nor a temporary PATH.tmp.* exists.
expect_absent() {
    local leftovers
    leftovers=$(ls -d "$2" "$2".tmp.* 2>/dev/null)
    if [ -z "$leftovers" ]; then
        pass "$1"
    else
        fail "$1" "left behind: $leftovers"
    fi
}

# expect_golden NAME GOLDEN ACTUAL: ACTUAL equals tests/cli/golden/GOLDEN.
expect_golden() {
    if [ "${OD_CLI_UPDATE_GOLDEN:-0}" = 1 ]; then
        mkdir -p "$GOLDEN"
        cp "$3" "$GOLDEN/$2"
        pass "$1 (golden $2 updated)"
    elif [ ! -f "$GOLDEN/$2" ]; then
        fail "$1" "golden file $2 is missing (OD_CLI_UPDATE_GOLDEN=1 creates it)"
    elif cmp -s "$GOLDEN/$2" "$3"; then
        pass "$1"
    else
        : >"$TMP/err" # the last command's stderr is not what failed here
        fail "$1" "output differs from golden/$2"
        diff "$GOLDEN/$2" "$3" | head -20 | sed 's/^/    /'
    fi
}

# gen SEED SIZE: SIZE deterministic pseudo-random bytes (Park-Miller LCG in
# awk: every product stays below 2^53, so any awk gives the same bytes).
gen() {
    awk -v seed="$1" -v n="$2" 'BEGIN {
        x = seed % 2147483647
        if (x <= 0) x = 1
        for (i = 0; i < n; i++) {
            x = (x * 16807) % 2147483647
            printf "\\0%03o", int(x / 256) % 256
        }
    }' | {
        IFS= read -r -d '' escapes
        printf '%b' "$escapes"
    }
}

# slice FILE OFFSET LENGTH: LENGTH bytes of FILE from OFFSET.
slice() {
    tail -c +$(($2 + 1)) "$1" | head -c "$3"
}

fsize() {
    wc -c <"$1" | tr -d ' '
}

cd "$TMP" || exit 2

# ---------------------------------------------------------------- help
expect_exit 0 "--help" "$OD" --help
expect_grep "--help lists the exit codes" "exit codes" "$TMP/out"
expect_exit 0 "help" "$OD" help
expect_exit 0 "-h" "$OD" -h
for cmd in diff full apply info verify; do
    expect_exit 0 "$cmd --help" "$OD" "$cmd" --help
    expect_grep "$cmd --help prints usage" "^usage: otadelta $cmd" "$TMP/out"
    expect_exit 0 "$cmd -h" "$OD" "$cmd" -h
done
expect_exit 0 "full --help" "$OD" full --help
expect_true "full --help lists no option full refuses" \
    [ -z "$(grep -E -- "--from-version|--filter|OLD" "$TMP/out")" ]
expect_grep "full --help names its own options" "--to-version.*--codec" <(tr '\n' ' ' <"$TMP/out")
expect_exit 0 "diff --help" "$OD" diff --help
expect_grep "diff --help gives the geometry limits" "16 to 64K.*16M.*1024M" <(tr '\n' ' ' <"$TMP/out")
expect_exit 0 "verify --help" "$OD" verify --help
expect_grep "verify --help says when it decodes the blocks" \
    "With --old .a delta. or for a full package, verify then applies.*without --old is not decoded" <(tr '\n' ' ' <"$TMP/out")
expect_exit 0 "apply --help" "$OD" apply --help
expect_grep "apply --help says --resume implies --check-source" \
    "--resume.*Implies --check-source" <(tr '\n' ' ' <"$TMP/out")
expect_exit 0 "version" "$OD" version
expect_grep "version names library and format" "^otadelta [0-9]+\.[0-9]+\.[0-9]+, format version 2$" "$TMP/out"
expect_exit 0 "--version" "$OD" --version
expect_exit 1 "no command" "$OD"
expect_grep "no command prints usage" "usage:"

# ------------------------------------------- sample images via full packages
expect_exit 0 "apply full sample (none) -> v1" "$OD" apply "$FILES/good-full-none.otad" -o v1.bin
expect_exit 0 "apply full sample (lzma) -> v2" "$OD" apply "$FILES/good-full-lzma.otad" -o v2.bin
expect_grep "apply reports the verified hash" "verified sha256 [0-9a-f]{64}" "$TMP/out"
expect_exit 0 "apply full sample (deflate)" "$OD" apply "$FILES/good-full-deflate.otad" -o v2-deflate.bin
expect_same "full deflate and full lzma give the same v2" v2.bin v2-deflate.bin
expect_true "v1 is 9925 bytes" [ "$(fsize v1.bin)" = 9925 ]
expect_true "v2 is 10245 bytes" [ "$(fsize v2.bin)" = 10245 ]
: >empty.bin
expect_exit 0 "verify delta sample binds v1 and v2" \
    "$OD" verify "$FILES/good-delta-lzma.otad" --old v1.bin --new v2.bin
expect_grep "verify says old and new match" "old matches, new matches" "$TMP/out"

# ------------------------------------------------------- info / verify
# Relative names, so that the output does not depend on where the tree is.
in_files() {
    (cd "$FILES" && "$@")
}
expect_exit 0 "info delta" in_files "$OD" info good-delta-lzma.otad
cp "$TMP/out" info.txt
expect_golden "info delta matches golden" info-good-delta-lzma.txt info.txt
expect_exit 0 "info full" in_files "$OD" info good-full-deflate.otad
cp "$TMP/out" info.txt
expect_golden "info full matches golden" info-good-full-deflate.txt info.txt
expect_exit 0 "info --json" in_files "$OD" info --json good-multi-block.otad
cp "$TMP/out" info.json
expect_golden "info --json matches golden" info-good-multi-block.json info.json
for f in "$FILES"/good-*.otad; do
    expect_exit 0 "info --json $(basename "$f")" "$OD" info "$f" --json
    if command -v python3 >/dev/null 2>&1; then
        if python3 -m json.tool <"$TMP/out" >/dev/null 2>&1; then
            pass "info --json $(basename "$f") is valid JSON"
        else
            fail "info --json $(basename "$f") is valid JSON" "$(head -c 200 "$TMP/out")"
        fi
        size=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["package_size"])' <"$TMP/out" 2>/dev/null)
        expect_true "info --json $(basename "$f") package_size" [ "$size" = "$(fsize "$f")" ]
    else
        skip "info --json is valid JSON" "python3 not found"
    fi
done

# info names a signature and the extension records (without checking them)
expect_exit 0 "keygen for info" "$OD" keygen -o infokey -q
expect_exit 0 "sign for info" "$OD" sign "$FILES/good-delta-lzma.otad" --key infokey.pem -o signed.otad -q
expect_exit 0 "info signed" "$OD" info signed.otad
expect_grep "info names the signature" "^signature: +ed25519 \\(not checked here" "$TMP/out"
expect_grep "info lists the signature record" "^extensions: +signature 0x0001 \\(65 bytes\\)" "$TMP/out"
expect_exit 0 "info --json signed" "$OD" info --json signed.otad
expect_grep "info --json names the signature" '"signature": "ed25519"' "$TMP/out"
expect_exit 0 "info unknown critical record" "$OD" info "$FILES/unsupported-critical-extension.otad"
expect_grep "info lists an unknown critical record" "unknown, critical 0x8123" "$TMP/out"
expect_exit 0 "info overrunning record" "$OD" info "$FILES/bad-tlv-overrun.otad"
expect_grep "info says the extension area is unreadable" "^extensions: .*unreadable" "$TMP/out"

# verify and apply every sample: name, old image, verify exit, apply exit
while read -r name old want_verify want_apply; do
    case $name in '' | '#'*) continue ;; esac
    f=$FILES/$name
    if [ ! -f "$f" ]; then
        fail "$name exists"
        continue
    fi
    expect_exit "$want_verify" "verify $name" "$OD" verify "$f"
    rm -f out.bin
    if [ "$old" = - ]; then
        expect_exit "$want_apply" "apply $name" "$OD" apply "$f" -o out.bin
    else
        expect_exit "$want_apply" "apply $name" "$OD" apply "$old" "$f" -o out.bin
    fi
    if [ "$want_apply" -ne 0 ]; then
        expect_absent "failed apply $name leaves no output" out.bin
    fi
    # With OLD, verify decodes: it answers as apply does (full packages
    # are decoded by the plain verify above).
    if [ "$old" != - ]; then
        expect_exit "$want_apply" "verify --old $name answers as apply" "$OD" verify "$f" --old "$old"
    fi
done <<'EOF'
good-delta-lzma.otad v1.bin 0 0
good-delta-deflate.otad v1.bin 0 0
good-delta-none.otad v1.bin 0 0
good-full-lzma.otad - 0 0
good-full-deflate.otad - 0 0
good-full-none.otad - 0 0
good-empty-target.otad v1.bin 0 0
good-empty-source.otad empty.bin 0 0
good-multi-block.otad v1.bin 0 0
good-delta-thumb.otad v1.bin 0 0
good-delta-no-filter.otad v1.bin 0 0
good-note-extension.otad v1.bin 0 0
good-unknown-extension.otad v1.bin 0 0
bad-magic.otad v1.bin 3 3
bad-magic-crlf.otad v1.bin 3 3
bad-header-crc.otad v1.bin 3 3
bad-field-header-size.otad v1.bin 3 3
bad-field-kind.otad v1.bin 3 3
bad-field-ram-needed.otad v1.bin 3 3
bad-field-page-size.otad v1.bin 3 3
bad-field-lzma-props.otad v1.bin 3 3
bad-field-block-count.otad v1.bin 3 3
bad-field-version-lengths.otad v1.bin 3 3
bad-field-full-source-size.otad - 3 3
bad-version-string.otad v1.bin 3 3
bad-version-empty-target.otad v1.bin 3 3
bad-tlv-overrun.otad v1.bin 3 3
bad-tlv-short.otad v1.bin 3 3
bad-index-crc.otad v1.bin 3 3
bad-index-order.otad v1.bin 3 3
bad-index-out-offset.otad v1.bin 0 3
bad-block-crc.otad v1.bin 3 3
bad-payload-sha.otad - 3 3
bad-empty-payload-sha.otad v1.bin 3 3
bad-truncated.otad v1.bin 3 3
bad-trailing-bytes.otad v1.bin 3 3
bad-op-out-of-range.otad v1.bin 0 3
bad-op-seek.otad v1.bin 0 3
bad-wrong-target-hash.otad v1.bin 0 4
unsupported-format-version-1.otad v1.bin 3 3
unsupported-format-version-3.otad v1.bin 3 3
unsupported-codec-7.otad v1.bin 3 3
unsupported-filter-2.otad v1.bin 3 3
unsupported-flags.otad v1.bin 3 3
unsupported-critical-extension.otad v1.bin 3 3
EOF

# What `verify` says about each sample, in one golden file.
(
    cd "$FILES" || exit
    for f in good-*.otad bad-*.otad unsupported-*.otad; do
        said=$("$OD" verify "$f" 2>&1)
        echo "exit $?: $said"
    done
) >verify-all.txt 2>&1
expect_golden "verify messages of every sample match golden" verify-samples.txt verify-all.txt

# Delta samples restore v2 exactly.
for s in lzma deflate none; do
    expect_exit 0 "apply good-delta-$s" "$OD" apply v1.bin "$FILES/good-delta-$s.otad" -o out-$s.bin
    expect_same "good-delta-$s gives v2" out-$s.bin v2.bin
done
expect_exit 0 "apply good-multi-block --chunk 7" \
    "$OD" apply v1.bin "$FILES/good-multi-block.otad" -o out-mb.bin --chunk 7
expect_same "good-multi-block gives v2" out-mb.bin v2.bin
expect_exit 0 "apply good-empty-source" "$OD" apply empty.bin "$FILES/good-empty-source.otad" -o out-es.bin
expect_same "good-empty-source gives v2" out-es.bin v2.bin
expect_exit 0 "apply good-empty-target" "$OD" apply v1.bin "$FILES/good-empty-target.otad" -o out-et.bin
expect_true "good-empty-target gives a file" [ -f out-et.bin ]
expect_true "good-empty-target gives an empty file" [ ! -s out-et.bin ]
expect_exit 0 "apply --check-source with the right source" \
    "$OD" apply --check-source v1.bin "$FILES/good-delta-lzma.otad" -o out-cs.bin
expect_same "--check-source result" out-cs.bin v2.bin

# ----------------------------------------------- round trips on made files
gen 11 12288 >old.bin
{
    slice old.bin 0 3000            # unchanged start
    gen 12 700                      # inserted code
    slice old.bin 3000 2000
    printf 'EDITED'                 # a small edit
    slice old.bin 5006 3000
    slice old.bin 10000 2288        # a region moved forward
    slice old.bin 8006 1994
    printf 'version 2.0.1\0'
} >new.bin
expect_true "generator makes 12288 bytes" [ "$(fsize old.bin)" = 12288 ]
gen 11 16 >again.bin
slice old.bin 0 16 >first16.bin
expect_same "generator is deterministic" first16.bin again.bin

for codec in lzma deflate none; do
    rm -f d.otad out.bin
    expect_exit 0 "diff --codec $codec" "$OD" diff old.bin new.bin -o d.otad \
        --from-version 1.0 --to-version 2.0.1 --codec "$codec" -q
    expect_true "diff -q prints nothing" [ ! -s "$TMP/out" ]
    expect_exit 0 "verify diff $codec" "$OD" verify d.otad --old old.bin --new new.bin
    expect_exit 0 "apply diff $codec" "$OD" apply old.bin d.otad -o out.bin
    expect_same "round trip $codec" out.bin new.bin
    expect_exit 0 "apply diff $codec --chunk 1" "$OD" apply old.bin d.otad -o out1.bin --chunk 1
    expect_same "round trip $codec --chunk 1" out1.bin new.bin
    expect_exit 0 "apply diff $codec --chunk 7" "$OD" apply old.bin d.otad -o out7.bin --chunk 7
    expect_same "round trip $codec --chunk 7" out7.bin new.bin
done
expect_exit 0 "diff prints a summary" "$OD" diff old.bin new.bin -o d.otad --from-version 1.0 --to-version 2.0.1
expect_grep "summary names package size and RAM" "package [0-9]+ bytes.*device RAM" "$TMP/out"

expect_exit 0 "diff small geometry, many blocks" "$OD" diff old.bin new.bin -o g.otad \
    --from-version 1.0 --to-version 2.0.1 --page 64 --erase 512 --block 1K --restart 256 --ram 12K
expect_exit 0 "info of many-block package" "$OD" info g.otad --json
expect_grep "many-block package has several blocks" '"block_count": ([3-9]|[1-9][0-9]+),' "$TMP/out"
expect_exit 0 "apply many-block package --chunk 1" "$OD" apply old.bin g.otad -o g.bin --chunk 1
expect_same "round trip many blocks" g.bin new.bin

expect_exit 0 "full" "$OD" full new.bin -o f.otad --to-version 2.0.1
expect_exit 0 "verify full --new" "$OD" verify f.otad --new new.bin
expect_exit 0 "apply full" "$OD" apply f.otad -o f.bin
expect_same "round trip full" f.bin new.bin
expect_exit 0 "apply full --chunk 7" "$OD" apply f.otad -o f7.bin --chunk 7
expect_same "round trip full --chunk 7" f7.bin new.bin

expect_exit 0 "diff between empty images" "$OD" diff empty.bin empty.bin -o e.otad \
    --from-version a --to-version b
expect_exit 0 "apply empty to empty" "$OD" apply empty.bin e.otad -o e.bin
expect_true "empty to empty gives a file" [ -f e.bin ]
expect_true "empty to empty gives an empty file" [ ! -s e.bin ]
printf 'x' >one.bin
expect_exit 0 "diff empty -> 1 byte" "$OD" diff empty.bin one.bin -o o.otad --from-version a --to-version b
expect_exit 0 "apply empty -> 1 byte --chunk 1" "$OD" apply empty.bin o.otad -o o.bin --chunk 1
expect_same "round trip 1 byte" o.bin one.bin

# ------------------------------------------------------ exit 1: usage
expect_exit 1 "unknown command" "$OD" frobnicate
expect_grep "unknown command is named" "unknown command 'frobnicate'"
expect_exit 1 "unknown option" "$OD" diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --bogus
expect_grep "unknown option is named" "unknown option '--bogus'"
expect_exit 1 "unknown option (apply)" "$OD" apply --bogus
expect_exit 1 "unknown option (info)" "$OD" info --bogus d.otad
expect_exit 1 "--json is info's, not verify's" "$OD" verify --json d.otad
expect_exit 1 "diff missing NEW" "$OD" diff old.bin -o x.otad --from-version 1 --to-version 2
expect_grep "missing argument is explained" "need OLD, NEW and -o"
expect_exit 1 "diff missing -o" "$OD" diff old.bin new.bin --from-version 1 --to-version 2
expect_exit 1 "diff missing versions" "$OD" diff old.bin new.bin -o x.otad
expect_grep "missing versions are explained" "need --from-version and --to-version"
expect_exit 1 "full missing --to-version" "$OD" full new.bin -o x.otad
expect_exit 1 "full takes no --from-version" "$OD" full new.bin -o x.otad --from-version 1 --to-version 2
expect_exit 1 "option without its value" "$OD" diff old.bin new.bin --from-version 1 --to-version 2 -o
expect_grep "missing value is explained" "needs a value"
expect_exit 1 "too many files" "$OD" diff old.bin new.bin new.bin -o x.otad --from-version 1 --to-version 2
expect_exit 1 "version with a space" "$OD" diff old.bin new.bin -o x.otad --from-version 1.0 --to-version 'a b'
expect_grep "bad version is explained" "invalid version 'a b'"
v50=$(printf '%050d' 7)
v51=$(printf '%051d' 7)
expect_exit 1 "51-character version" "$OD" diff old.bin new.bin -o x.otad --from-version 1.0 --to-version "$v51"
expect_grep "long version is explained" "invalid version"
expect_exit 1 "bad source version" "$OD" diff old.bin new.bin -o x.otad --from-version 'v/1' --to-version 2
expect_grep "bad source version is named" "invalid version 'v/1'"
expect_exit 1 "empty version" "$OD" full new.bin -o x.otad --to-version ''
expect_exit 0 "50-character version is fine" "$OD" full new.bin -o v50.otad --to-version "$v50" -q
expect_exit 0 "info shows the 50-character version" "$OD" info v50.otad
expect_grep "50-character version round-trips" "$v50" "$TMP/out"
expect_exit 1 "unknown codec" "$OD" diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --codec zstd
expect_grep "unknown codec is named" "unknown codec 'zstd'"
expect_exit 1 "unknown filter" "$OD" diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --filter arm
expect_grep "unknown filter is named" "unknown filter 'arm'"
expect_exit 1 "full takes no --filter" "$OD" full new.bin -o x.otad --to-version 2 --filter thumb
expect_exit 1 "unknown effort" "$OD" diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --effort max
expect_grep "unknown effort is named" "unknown effort 'max' \(use best or fast\)"
expect_absent "unknown effort writes nothing" x.otad
expect_exit 1 "--effort needs a value" "$OD" diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --effort
# LZMA gains nothing on this pair's op stream (mostly random inserted
# bytes), so without --exact-codec every effort stores the same stream.
expect_exit 0 "diff --effort fast" "$OD" diff old.bin new.bin -o ef.otad --from-version 1 --to-version 2 --effort fast -q --exact-codec
expect_exit 0 "diff --effort best" "$OD" diff old.bin new.bin -o eb.otad --from-version 1 --to-version 2 --effort best -q --exact-codec
expect_exit 0 "diff with the default effort" "$OD" diff old.bin new.bin -o ed.otad --from-version 1 --to-version 2 -q --exact-codec
expect_same "best is the default effort" eb.otad ed.otad
expect_true "--effort fast changes the package" sh -c '! cmp -s ef.otad eb.otad'
# The codec falls back to none where it would make the package larger.
expect_exit 0 "diff where lzma gains nothing" "$OD" diff old.bin new.bin -o fb.otad --from-version 1 --to-version 2
expect_grep "the summary says lzma gained nothing" "none \(lzma gained nothing\), device RAM 256 bytes" "$TMP/out"
expect_exit 0 "info of the fallback package" "$OD" info --json fb.otad
expect_grep "the fallback package is codec none" '"codec": "none"' "$TMP/out"
expect_true "the fallback package is smaller than --exact-codec's" [ "$(fsize fb.otad)" -lt "$(fsize ed.otad)" ]
expect_exit 0 "the fallback package applies" "$OD" apply old.bin fb.otad -o fb.bin -q
expect_same "the fallback package restores new.bin" fb.bin new.bin
expect_exit 0 "deflate where it gains nothing" "$OD" full new.bin -o fbd.otad --to-version 2 --codec deflate
expect_grep "the summary says deflate gained nothing" "none \(deflate gained nothing\)" "$TMP/out"
expect_exit 0 "info of --exact-codec's package" "$OD" info --json ed.otad
expect_grep "--exact-codec keeps lzma" '"codec": "lzma"' "$TMP/out"
expect_exit 0 "apply a fast-effort package" "$OD" apply old.bin ef.otad -o ef.bin -q
expect_true "fast-effort package restores new.bin" cmp -s ef.bin new.bin
expect_exit 0 "verify --old of a fast-effort package" "$OD" verify ef.otad --old old.bin --new new.bin
expect_exit 0 "full --effort fast" "$OD" full new.bin -o eff.otad --to-version 2 --effort fast -q
expect_exit 0 "apply a fast-effort full package" "$OD" apply eff.otad -o eff.bin -q
expect_true "fast-effort full package restores new.bin" cmp -s eff.bin new.bin
expect_grep "diff --help explains --effort" "--effort E +best \(default\) or fast" <("$OD" diff --help)
expect_exit 0 "diff --filter thumb" "$OD" diff old.bin new.bin -o th.otad --from-version 1 --to-version 2 --filter thumb -q
expect_exit 0 "info of a thumb package" "$OD" info th.otad
expect_grep "info names the thumb filter" "^filter: *thumb$" "$TMP/out"
expect_exit 0 "diff --filter none" "$OD" diff old.bin new.bin -o nf.otad --from-version 1 --to-version 2 --filter none -q
expect_exit 0 "info of an unfiltered package" "$OD" info --json nf.otad
expect_grep "info --json names no filter" '"filter": "none"' "$TMP/out"
expect_exit 0 "apply a thumb package" "$OD" apply old.bin th.otad -o th.bin -q
expect_true "thumb package restores new.bin" cmp -s th.bin new.bin
expect_exit 0 "apply a thumb package with larger pages" "$OD" apply old.bin th.otad -o th.bin -q --page 4096
expect_true "larger pages restore new.bin" cmp -s th.bin new.bin
# Its words may end in a later page of ours than they began in. The
# package is fine: the --page given is what does not fit, a usage error.
expect_exit 1 "apply a thumb package with smaller pages than its own" \
    "$OD" apply old.bin th.otad -o th.bin -q --page 16
expect_grep "smaller pages blame --page" "--page 16 does not suit 'th.otad'.*at least its page size"
expect_exit 1 "apply --page larger than the package's erase unit" \
    "$OD" apply old.bin th.otad -o th.bin -q --page 8192
expect_grep "a page that does not divide the erase unit blames --page" \
    "--page 8192 does not suit .*erase 4096.*divide its erase size"
# ... and is refused before --resume touches anything: progress saved by
# an earlier run (a state naming 2 blocks, the part file at full size)
# survives it, and the right command then resumes from it.
expect_exit 0 "diff with 64-byte pages and 4 KiB blocks" \
    "$OD" diff old.bin new.bin -o pg.otad --from-version 1 --to-version 2 --page 64 --block 4096 \
    --restart 0 -q
pg_payload=$("$OD" info --json pg.otad | sed -n 's/.*"payload_sha256": "\([0-9a-f]*\)".*/\1/p')
printf 'otadelta-resume 1 %s %s 2\n' "$(sha256sum new.bin | cut -c1-64)" "$pg_payload" >pg.state
cp new.bin pg.bin.part
truncate -s %64 pg.bin.part # whole pages: the part file's size
cp pg.state pg.state.want
cp pg.bin.part pg.part.want
expect_exit 1 "a wrong --page with --resume" \
    "$OD" apply old.bin pg.otad -o pg.bin --resume pg.state --page 8192 -q
expect_same "a wrong --page leaves the saved state" pg.state pg.state.want
expect_same "a wrong --page leaves the part file" pg.bin.part pg.part.want
expect_exit 0 "the right command resumes" "$OD" apply old.bin pg.otad -o pg.bin --resume pg.state
expect_grep "it resumes from the saved block" "resuming at block 2 of"
expect_true "the resumed image is new.bin" cmp -s pg.bin new.bin
expect_exit 1 "size that is not a number" "$OD" full new.bin -o x.otad --to-version 2 --ram lots
expect_exit 1 "negative size" "$OD" full new.bin -o x.otad --to-version 2 --page -256
# Values the generator cannot use are usage errors too, like an unparsable
# one (and like `apply --page 100`), with the rule in the message.
expect_exit 1 "page not a power of two" "$OD" full new.bin -o x.otad --to-version 2 --page 300
expect_grep "page rule is explained" "powers? of two"
expect_exit 1 "erase below page" "$OD" full new.bin -o x.otad --to-version 2 --page 512 --erase 256
expect_grep "erase rule is explained" "page size 512 is larger than the erase size 256"
expect_exit 1 "page above the default erase unit" "$OD" full new.bin -o x.otad --to-version 2 --page 65536
expect_grep "the broken rule is named with both values" "page size 65536 is larger than the erase size 4096"
expect_exit 1 "erase unit above 16 MiB" "$OD" full new.bin -o x.otad --to-version 2 --erase 32M --block 0
expect_grep "the erase limit is named" "erase size 33554432 is larger than 16 MiB"
expect_grep "full's help is pointed to" "see 'otadelta full --help'"
# An erase unit above the default 1M block gets blocks of one unit, not a
# complaint about a --block nobody gave; a --block given is still checked.
expect_exit 0 "--erase 2M alone" "$OD" diff old.bin new.bin -o e2m.otad --from-version 1 \
    --to-version 2 --erase 2M -q
expect_grep "its blocks are one erase unit" '"block_size": 2097152' <("$OD" info --json e2m.otad)
expect_exit 0 "and it applies" "$OD" verify e2m.otad --old old.bin --new new.bin
expect_exit 1 "--erase 2M with --block 1M" "$OD" full new.bin -o x.otad --to-version 2 --erase 2M \
    --block 1M
expect_grep "the given block is named" "block size 1048576 is not a multiple of the erase size 2097152"
expect_exit 1 "block and restart both 0" "$OD" full new.bin -o x.otad --to-version 2 --block 0 --restart 0
expect_grep "block/restart rule is explained" "cannot both be 0"
expect_exit 1 "apply without -o" "$OD" apply old.bin d.otad
expect_exit 1 "apply --chunk 0" "$OD" apply old.bin d.otad -o x.bin --chunk 0
expect_exit 1 "apply --page 100" "$OD" apply old.bin d.otad -o x.bin --page 100
expect_exit 1 "apply a delta without the old image" "$OD" apply d.otad -o x.bin
expect_grep "missing old image is explained" "delta package: give the old image"
expect_exit 1 "info without a file" "$OD" info
expect_exit 1 "info with two files" "$OD" info d.otad f.otad
expect_exit 1 "verify --old of a full package" "$OD" verify f.otad --old old.bin
expect_grep "full package has no source" "full package"
expect_absent "no usage error leaves an output" x.otad
expect_absent "no usage error leaves an image" x.bin

# ------------------------------------------- exit 2: input files
expect_exit 2 "diff: missing OLD" "$OD" diff nonexistent.bin new.bin -o x.otad --from-version 1 --to-version 2
expect_grep "missing file is named" "cannot open 'nonexistent.bin'"
expect_exit 2 "diff: missing NEW" "$OD" diff old.bin nonexistent.bin -o x.otad --from-version 1 --to-version 2
expect_exit 2 "full: missing NEW" "$OD" full nonexistent.bin -o x.otad --to-version 2
mkdir adir
expect_exit 2 "diff: a directory as input" "$OD" diff adir new.bin -o x.otad --from-version 1 --to-version 2
expect_grep "directory input is explained" "not a regular file"
expect_exit 2 "apply: missing OLD" "$OD" apply nonexistent.bin d.otad -o x.bin
expect_exit 2 "apply: missing package" "$OD" apply old.bin nonexistent.otad -o x.bin
expect_exit 2 "info: missing package" "$OD" info nonexistent.otad
expect_exit 2 "verify: missing package" "$OD" verify nonexistent.otad
expect_exit 2 "verify: missing --new" "$OD" verify d.otad --new nonexistent.bin
if [ "$(id -u)" != 0 ]; then
    cp new.bin unreadable.bin
    chmod 000 unreadable.bin
    expect_exit 2 "unreadable input" "$OD" full unreadable.bin -o x.otad --to-version 2
    expect_grep "unreadable input is explained" "permission denied"
    chmod 600 unreadable.bin
else
    skip "unreadable input" "running as root, which reads any file"
fi
expect_absent "no input error leaves an output" x.otad

# Build outputs and packages given as images: refused with the command
# that converts them, which is run here to check that it gives the image
# back. The files come from GNU objcopy (binutils, which the compiler
# needs anyway), as a release engineer's build would make them.
expect_exit 2 "diff: a package as NEW" "$OD" diff old.bin d.otad -o x.otad --from-version 1 --to-version 2
expect_grep "package as image is explained" "'d.otad' is an otadelta package, not a raw flash image"
expect_exit 1 "apply: OLD and PKG swapped" "$OD" apply d.otad old.bin -o x.bin
expect_grep "swapped arguments are named" "'d.otad' is a package and 'old.bin' is not: the order is OLD PKG"
if command -v objcopy >/dev/null 2>&1; then
    objcopy -I binary -O ihex new.bin new.hex
    objcopy -I binary -O srec new.bin new.s19
    objcopy -I binary -O elf32-little new.bin new.elf
    for f in new.hex new.s19 new.elf; do
        expect_exit 2 "diff: $f as NEW" "$OD" diff old.bin $f -o x.otad --from-version 1 --to-version 2
        expect_grep "$f: --as-is is offered" "or pass --as-is"
    done
    expect_exit 2 "diff: Intel HEX as OLD" "$OD" diff new.hex new.bin -o x.otad --from-version 1 --to-version 2
    expect_grep "Intel HEX is named" "'new.hex' is an Intel HEX file"
    # The hint, with OUT.bin renamed, converts the file back to the image.
    cmd=$(sed -n 's/.*erased flash: \(objcopy -I ihex [^(]*\) (or pass.*/\1/p' "$TMP/err")
    expect_true "hint names new.hex" [ "$cmd" = "objcopy -I ihex -O binary --gap-fill 0xFF new.hex OUT.bin" ]
    ${cmd/OUT.bin/from-hex.bin}
    expect_same "the Intel HEX hint restores the image" new.bin from-hex.bin
    # A name a shell would split is quoted in the hint, so it can be pasted.
    cp new.hex "my fw's.hex"
    expect_exit 2 "diff: a HEX file with a space and a quote in its name" "$OD" diff old.bin \
        "my fw's.hex" -o x.otad --from-version 1 --to-version 2
    cmd=$(sed -n 's/.*erased flash: \(objcopy -I ihex .*\) OUT.bin (or pass.*/\1/p' "$TMP/err")
    eval "$cmd quoted.bin"
    expect_same "the quoted hint restores the image" new.bin quoted.bin
    # apply with an Intel HEX OLD: the wrong-source error says why.
    objcopy -I binary -O ihex old.bin old.hex
    expect_exit 4 "apply: Intel HEX as OLD" "$OD" apply old.hex d.otad -o x.bin
    expect_grep "apply names the HEX OLD and its conversion" \
        "'old.hex' is an Intel HEX file, not the raw flash image the package was made from; .*--gap-fill 0xFF old.hex OUT.bin"
    expect_exit 3 "info: an Intel HEX file" "$OD" info new.hex
    expect_grep "info names the HEX file" "'new.hex' is an Intel HEX file: a build output, not a package"
    expect_exit 2 "full: S-record" "$OD" full new.s19 -o x.otad --to-version 2
    expect_grep "S-record is named" "'new.s19' is a Motorola S-record file"
    cmd=$(sed -n 's/.*erased flash: \(objcopy -I srec [^(]*\) (or pass.*/\1/p' "$TMP/err")
    ${cmd/OUT.bin/from-srec.bin}
    expect_same "the S-record hint restores the image" new.bin from-srec.bin
    expect_absent "a refused build output leaves no output" x.otad
    expect_exit 0 "diff --as-is takes an Intel HEX file" "$OD" diff old.bin new.hex -o x.otad \
        --from-version 1 --to-version 2 -q --as-is
    expect_exit 0 "full --as-is takes an ELF file" "$OD" full new.elf -o y.otad --to-version 2 -q --as-is
    expect_exit 0 "the --as-is package restores the ELF file" "$OD" apply y.otad -o y.elf -q
    expect_same "ELF restored byte for byte" new.elf y.elf
    rm -f x.otad y.otad y.elf
else
    skip "build outputs as images" "no objcopy"
fi

# ------------------------------------------- exit 3: bad package
expect_exit 3 "info: bad magic" "$OD" info "$FILES/bad-magic.otad"
expect_grep "bad magic is explained" "not an otadelta package"
expect_exit 3 "info: damaged header" "$OD" info "$FILES/bad-header-crc.otad"
expect_grep "damaged header is explained" "header is damaged"
expect_exit 3 "verify: truncated" "$OD" verify "$FILES/bad-truncated.otad"
expect_grep "truncation is explained" "shorter than its header says"
expect_exit 3 "apply: truncated" "$OD" apply v1.bin "$FILES/bad-truncated.otad" -o x.bin
expect_grep "apply explains truncation" "incomplete download"
expect_exit 0 "info: truncated (the header is whole)" "$OD" info "$FILES/bad-truncated.otad"
expect_grep "info says the package is incomplete" "package size: +[0-9]+ \(incomplete: the header describes [0-9]+ bytes\)" "$TMP/out"
expect_exit 0 "info: trailing bytes" "$OD" info "$FILES/bad-trailing-bytes.otad"
expect_grep "info says bytes follow" "\(bytes follow the package: the header describes" "$TMP/out"
expect_exit 3 "apply: trailing bytes" "$OD" apply v1.bin "$FILES/bad-trailing-bytes.otad" -o x.bin
expect_grep "apply explains trailing bytes" "unexpected bytes after the package"
# A header whose payload_size claims more than the blocks use: the applier
# refuses it at the last block's trailer.
if command -v python3 >/dev/null 2>&1; then
    python3 - "$FILES/good-delta-lzma.otad" long.otad <<'PY'
import struct, sys, zlib
d = bytearray(open(sys.argv[1], 'rb').read())
hs = struct.unpack_from('<H', d, 10)[0]
struct.pack_into('<I', d, 48, struct.unpack_from('<I', d, 48)[0] + 7)
struct.pack_into('<I', d, hs - 4, zlib.crc32(bytes(d[:hs - 4])))
open(sys.argv[2], 'wb').write(d)
PY
    expect_exit 3 "apply: payload_size beyond the blocks" "$OD" apply v1.bin long.otad -o x.bin
    expect_grep "apply explains payload_size beyond the blocks" "package data is damaged"
    expect_absent "payload_size beyond the blocks leaves no output" x.bin
else
    skip "apply: payload_size beyond the blocks" "python3 not found"
fi
expect_exit 3 "apply: damaged block" "$OD" apply v1.bin "$FILES/bad-block-crc.otad" -o x.bin
expect_grep "damaged block is explained" "damaged"
expect_exit 3 "apply: op out of range" "$OD" apply v1.bin "$FILES/bad-op-out-of-range.otad" -o x.bin
expect_exit 3 "apply: unsupported codec" "$OD" apply v1.bin "$FILES/unsupported-codec-7.otad" -o x.bin
expect_grep "unsupported package is explained" "not built into|not support"
expect_exit 3 "apply: other format version" "$OD" apply v1.bin "$FILES/unsupported-format-version-3.otad" -o x.bin
expect_grep "format version is explained" "format version is not supported"
head -c 100 "$FILES/good-delta-lzma.otad" >short.otad
expect_exit 3 "info: shorter than a header" "$OD" info short.otad
expect_exit 3 "info: an empty file" "$OD" info empty.bin
expect_exit 3 "apply: an image given as the package" "$OD" apply v1.bin v2.bin -o x.bin
expect_absent "no bad package leaves an output" x.bin

# ------------------------------------------- exit 4: wrong image
expect_exit 4 "apply: wrong old image" "$OD" apply v2.bin "$FILES/good-delta-lzma.otad" -o x.bin
expect_grep "wrong old image is explained" "not the package's source"
expect_grep "expected source is described" "9925 bytes \(version 1\.0\.0\)"
cp v1.bin v1-damaged.bin
printf 'X' | dd of=v1-damaged.bin bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_exit 4 "apply --check-source: same size, other content" \
    "$OD" apply --check-source v1-damaged.bin "$FILES/good-delta-lzma.otad" -o x.bin
expect_exit 4 "apply: target does not verify" "$OD" apply v1.bin "$FILES/bad-wrong-target-hash.otad" -o x.bin
expect_grep "failed verification is explained" "does not match the target"
expect_true "the right OLD is not blamed for it" [ -z "$(grep "source image" "$TMP/err")" ]
# Without --check-source a wrong OLD of the right size shows only at the
# end; the message then names OLD rather than leave a bare hash mismatch.
expect_exit 4 "apply: same size, other content" \
    "$OD" apply v1-damaged.bin "$FILES/good-delta-lzma.otad" -o x.bin
expect_grep "the wrong OLD is named" "'v1-damaged.bin' is not the package's source image \(version 1\.0\.0\)"
expect_exit 4 "verify --old: wrong image" "$OD" verify "$FILES/good-delta-lzma.otad" --old v2.bin
expect_grep "verify names the mismatch" "not the package's source image"
expect_exit 4 "verify --new: wrong image" "$OD" verify "$FILES/good-delta-lzma.otad" --new v1.bin
expect_grep "verify names the wrong NEW" "'v1.bin' is not the package's target image \(version 1\.1\.0, 10245 bytes\)"
cp v2.bin v2-damaged.bin
printf 'X' | dd of=v2-damaged.bin bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_exit 4 "verify --old --new: same size, other content" \
    "$OD" verify "$FILES/good-delta-lzma.otad" --old v1.bin --new v2-damaged.bin
expect_grep "the NEW that differs is named" "'v2-damaged.bin' is not the package's target image"
expect_exit 4 "verify full --new: same size, other content" \
    "$OD" verify "$FILES/good-full-lzma.otad" --new v2-damaged.bin
expect_grep "the full package's NEW that differs is named" "'v2-damaged.bin' is not the package's target image"
expect_exit 4 "verify --old: same size, other content" "$OD" verify "$FILES/good-delta-lzma.otad" --old v1-damaged.bin
expect_absent "no wrong image leaves an output" x.bin

# ------------------------------------------- exit 5: output
expect_exit 5 "diff: output directory missing" "$OD" diff old.bin new.bin -o /nonexistent/dir/x.otad \
    --from-version 1 --to-version 2
expect_grep "unwritable output is explained" "cannot write '/nonexistent/dir/x.otad': '/nonexistent/dir'"
expect_exit 5 "full: output directory missing" "$OD" full new.bin -o /nonexistent/dir/x.otad --to-version 2
expect_exit 5 "apply: output directory missing" "$OD" apply old.bin d.otad -o /nonexistent/dir/x.bin
mkdir outdir
expect_exit 5 "apply: output is a directory" "$OD" apply old.bin d.otad -o outdir
expect_true "failed rename leaves no outdir.tmp.*" [ -z "$(ls -d outdir.tmp.* 2>/dev/null)" ]
if [ "$(id -u)" != 0 ]; then
    mkdir rodir
    chmod 555 rodir
    expect_exit 5 "apply: read-only directory" "$OD" apply old.bin d.otad -o rodir/x.bin
    expect_absent "read-only directory stays empty" rodir/x.bin
    chmod 755 rodir
else
    skip "read-only output directory" "running as root"
fi
# Output checks come before any work: a directory name or a missing
# directory is refused at once, and nothing is left behind.
expect_exit 5 "diff -o DIR/" "$OD" diff old.bin new.bin -o outdir/ --from-version 1 --to-version 2
expect_grep "a directory name is refused" "give a file name, not a directory"
expect_exit 5 "apply -o DIR/" "$OD" apply old.bin d.otad -o outdir/
run sh -c "'$OD' apply old.bin d.otad -o /dev/fd/3 3<old.bin"
expect_true "-o a read-only descriptor exits 5" [ "$rc" = 5 ]
expect_grep "before any work, saying why" "open for reading only"
expect_exit 5 "sign -o a missing directory" "$OD" sign d.otad --key infokey.pem -o /nonexistent/s.otad
expect_true "nothing is left in DIR" [ -z "$(ls -A outdir)" ]
# What info, verify and --help print is their output: a full disk or a
# closed stdout is a failure, not an empty success.
if [ -w /dev/full ]; then
    run sh -c "'$OD' info --json '$FILES/good-delta-lzma.otad' >/dev/full"
    expect_true "info --json >/dev/full exits 5" [ "$rc" = 5 ]
    expect_grep "and says why" "cannot write to standard output"
    run sh -c "'$OD' verify '$FILES/good-delta-lzma.otad' >/dev/full"
    expect_true "verify >/dev/full exits 5" [ "$rc" = 5 ]
else
    skip "info --json >/dev/full" "no writable /dev/full"
fi
run sh -c "'$OD' info '$FILES/good-delta-lzma.otad' >&-"
expect_true "info with stdout closed exits 5" [ "$rc" = 5 ]

# ------------------------------------------- exit 6: generation
expect_exit 6 "diff: --ram 1024" "$OD" diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --ram 1024
expect_grep "small budget is explained" "--ram 1024 is too small"
expect_exit 6 "full: --ram 1024" "$OD" full new.bin -o x.otad --to-version 2 --ram 1024
expect_exit 6 "deflate: --ram 2K with 1K pages" "$OD" full new.bin -o x.otad --to-version 2 --codec deflate --ram 2K --page 1K
expect_exit 0 "codec none fits 3K" "$OD" full new.bin -o n3k.otad --to-version 2 --codec none --ram 3K -q
expect_absent "failed generation leaves no output" x.otad

# ----------------------------------- a failure never replaces an existing file
printf 'precious' >keep.bin
expect_exit 4 "apply onto an existing file with the wrong old image" \
    "$OD" apply v2.bin "$FILES/good-delta-lzma.otad" -o keep.bin
expect_true "failed apply keeps the existing file" [ "$(cat keep.bin)" = precious ]
expect_exit 3 "apply a damaged package onto an existing file" \
    "$OD" apply v1.bin "$FILES/bad-block-crc.otad" -o keep.bin
expect_true "damaged package keeps the existing file" [ "$(cat keep.bin)" = precious ]
printf 'precious' >keep.otad
expect_exit 6 "failed diff onto an existing file" "$OD" diff old.bin new.bin -o keep.otad \
    --from-version 1 --to-version 2 --ram 1024
expect_true "failed diff keeps the existing file" [ "$(cat keep.otad)" = precious ]
expect_exit 0 "successful apply replaces it" "$OD" apply v1.bin "$FILES/good-delta-lzma.otad" -o keep.bin
expect_same "replaced file is the target" keep.bin v2.bin
expect_true "no *.tmp.* files anywhere" [ -z "$(ls -d ./*.tmp.* 2>/dev/null)" ]

head -c 1100000 /dev/zero >zeros.bin
expect_exit 6 "too many blocks" "$OD" full zeros.bin -o x.otad --to-version 2 --codec none \
    --page 16 --erase 16 --block 16 --ram 3K
expect_grep "too many blocks is explained" "too many restart blocks.*raise"
# The signing key is checked before generating, which can take minutes:
# the same command with a bad --sign fails on the key, not on the blocks.
expect_exit 2 "diff --sign with a missing key fails before generating" "$OD" full zeros.bin \
    -o x.otad --to-version 2 --codec none --page 16 --erase 16 --block 16 --ram 3K --sign nokey.pem
expect_grep "the missing key is named" "cannot open 'nokey.pem'"
expect_exit 2 "diff --sign with a file that is not a key" "$OD" full zeros.bin \
    -o x.otad --to-version 2 --codec none --page 16 --erase 16 --block 16 --ram 3K --sign new.bin
expect_grep "a non-key is explained" "'new.bin' is not an unencrypted Ed25519 or ECDSA P-256 private key"
expect_exit 6 "codec none: --ram below the page" "$OD" full new.bin -o x.otad --to-version 2 \
    --codec none --ram 2100
expect_true "codec none is not told to change codec" [ -z "$(grep -i "lighter --codec" "$TMP/err")" ]
printf 'hello\n' >h.txt
expect_exit 3 "apply a 6-byte text file" "$OD" apply h.txt -o z.bin
expect_grep "a non-package is called one" "not a package"
expect_exit 0 "diff with 16-byte pages" "$OD" diff old.bin new.bin -o p16.otad \
    --from-version 1 --to-version 2 --page 16 --erase 16 --block 4K -q
expect_exit 0 "apply takes the package's page size by default" "$OD" apply old.bin p16.otad -o p16.bin -q
expect_same "16-byte-page round trip" p16.bin new.bin

# ----------------------------------------------------------- size options
for bad in 18014398509481984K 17592186044420M 4G " 16K" +16K 16KB 4294967296 16iB 16Ki; do
    expect_exit 1 "--ram '$bad' is refused" "$OD" diff old.bin new.bin -o x.otad \
        --from-version 1 --to-version 2 --ram "$bad"
done
expect_exit 0 "--ram 4194303K is the largest K value" "$OD" diff old.bin new.bin -o x.otad \
    --from-version 1 --to-version 2 --ram 4194303K -q
expect_exit 0 "--ram 16KiB is 16K" "$OD" diff old.bin new.bin -o x.otad \
    --from-version 1 --to-version 2 --ram 16KiB -q
rm -f x.otad

# ------------------------------- outputs that are inputs, links and devices
cp new.bin new-copy.bin
expect_exit 1 "diff -o NEW is refused" "$OD" diff old.bin new-copy.bin -o new-copy.bin \
    --from-version 1 --to-version 2
expect_grep "-o that is an input is explained" "-o 'new-copy.bin' is the same file as NEW 'new-copy.bin'"
expect_same "NEW is untouched" new-copy.bin new.bin
ln -sf old.bin old-link.bin
expect_exit 1 "diff -o a link to OLD is refused" "$OD" diff old.bin new.bin -o old-link.bin \
    --from-version 1 --to-version 2
expect_exit 1 "full -o NEW is refused" "$OD" full new-copy.bin -o new-copy.bin --to-version 2
expect_exit 1 "apply -o PKG is refused" "$OD" apply old.bin d.otad -o d.otad
expect_exit 1 "apply -o OLD is refused" "$OD" apply old.bin d.otad -o old.bin
expect_same "OLD is untouched" old-link.bin old.bin
: >target.otad
ln -sf target.otad link.otad
expect_exit 0 "diff -o through a symbolic link" "$OD" diff old.bin new.bin -o link.otad \
    --from-version 1 --to-version 2 -q
expect_true "the link stays a link" [ -L link.otad ]
expect_exit 0 "the linked file is the package" "$OD" verify target.otad --old old.bin --new new.bin
expect_exit 0 "diff -o /dev/stdout" sh -c "'$OD' diff old.bin new.bin -o /dev/stdout \
    --from-version 1 --to-version 2 -q >piped.otad"
expect_exit 0 "the package written to stdout is whole" "$OD" verify piped.otad --old old.bin --new new.bin

# ------------------------------------------------------------- --resume state
expect_exit 1 "--resume naming the part file is refused" \
    "$OD" apply old.bin g.otad -o r.bin --resume r.bin.part
expect_grep "--resume clash is explained" "--resume 'r.bin.part' is the same file as the part file"
for clash in g.otad old.bin r.bin; do
    [ "$clash" = r.bin ] && cp new.bin r.bin
    cp "$clash" clash.keep
    expect_exit 1 "--resume $clash is refused" "$OD" apply old.bin g.otad -o r.bin --resume "$clash"
    expect_same "--resume $clash keeps it" "$clash" clash.keep
done
rm -f r.bin
# A state left without its part file (a kill after the part became NEW and
# before the state was removed, or a part deleted by hand) is not trusted.
expect_exit 0 "apply --resume" "$OD" apply old.bin g.otad -o r.bin --resume r.state -q
expect_same "apply --resume round trip" r.bin new.bin
expect_true "the state is gone after success" [ ! -e r.state ]
"$OD" info --json g.otad >g.json
blocks=$(sed -n 's/.*"block_count": \([0-9]*\).*/\1/p' g.json)
tsha=$(sed -n 's/.*"target_sha256": "\([0-9a-f]*\)".*/\1/p' g.json)
psha=$(sed -n 's/.*"payload_sha256": "\([0-9a-f]*\)".*/\1/p' g.json)
printf 'otadelta-resume 1 %s %s %s\n' "$tsha" "$psha" "$blocks" >r2.state
rm -f r2.bin r2.bin.part
expect_exit 0 "a state without its part file starts afresh" \
    "$OD" apply old.bin g.otad -o r2.bin --resume r2.state
expect_true "it does not claim to resume" [ -z "$(grep -i resuming "$TMP/err")" ]
expect_grep "it says why it starts over" "r2.bin.part' is shorter than the state 'r2.state' says; starting from block 0"
expect_same "and restores the image" r2.bin new.bin
# The temporary state is made afresh at every save and never through a
# link: another account that can write the directory and plants
# STATE.tmp -> a file of ours between two saves makes the save fail, and
# the file is untouched.
printf 'keep me\n' >victim.txt
rm -f sl.bin sl.state sl.state.tmp
( end=$(($(date +%s) + 20))
  while [ ! -e sl.state ] && [ "$(date +%s)" -lt "$end" ]; do :; done
  while [ -e sl.state ] && [ "$(date +%s)" -lt "$end" ]; do ln -s victim.txt sl.state.tmp 2>/dev/null; done
) &
planter=$!
"$OD" apply old.bin g.otad -o sl.bin --resume sl.state --chunk 16 -q >"$TMP/out" 2>"$TMP/err"
sl_rc=$?
wait $planter
expect_true "a link planted at STATE.tmp is not written through" [ "$(cat victim.txt)" = "keep me" ]
expect_true "the run either finishes or names the planted file" \
    sh -c '[ '$sl_rc' = 0 ] || grep -q "sl.state.tmp.*File exists" "$1"' sh "$TMP/err"
rm -f sl.bin sl.state sl.state.tmp sl.bin.part
# A state of this package counting more blocks than it has, or a state of
# another package, is not used either, and the run says so.
printf 'otadelta-resume 1 %s %s %s\n' "$tsha" "$psha" $((blocks + 5)) >r4.state
rm -f r4.bin
expect_exit 0 "a state counting too many blocks starts afresh" \
    "$OD" apply old.bin g.otad -o r4.bin --resume r4.state
expect_grep "it names the state's fault" "r4.state' records more blocks done than the package has; starting from block 0"
expect_same "and restores the image" r4.bin new.bin
printf 'otadelta-resume 1 %s %s 1\n' "$psha" "$tsha" >r5.state
rm -f r5.bin
expect_exit 0 "another package's state starts afresh" \
    "$OD" apply old.bin g.otad -o r5.bin --resume r5.state
expect_grep "it says the state is another package's" "r5.state' records the progress of another package; starting from block 0"
expect_same "and restores the image" r5.bin new.bin
# A failed write keeps the progress made, and says where; when none was
# saved (here the very first save fails) there is nothing to resume.
expect_exit 5 "apply --resume with an unwritable state" \
    "$OD" apply old.bin g.otad -o r3.bin --resume /nonexistent/r3.state
expect_grep "the failing file is named" "cannot write '/nonexistent/r3.state'"
expect_true "no progress is claimed when none was saved" [ -z "$(grep -i "progress kept" "$TMP/err")" ]
expect_absent "nor is a part file left" r3.bin.part

# --resume implies --check-source: a wrong OLD of the right size is refused
# before it writes blocks that saved progress would vouch for, and saved
# progress survives it for the run with the right OLD.
cp old.bin old-wrong.bin
gen 99 16 | dd of=old-wrong.bin bs=1 seek=100 conv=notrunc 2>/dev/null
expect_true "the wrong OLD has OLD's size" [ "$(fsize old-wrong.bin)" = "$(fsize old.bin)" ]
expect_true "but not its content" test -n "$(cmp old-wrong.bin old.bin)"
expect_exit 4 "apply --resume with a wrong OLD of the right size" \
    "$OD" apply old-wrong.bin g.otad -o rw.bin --resume rw.state
expect_grep "it is refused as the wrong source" "not the package's source"
expect_true "no progress is claimed" [ -z "$(grep -i "progress kept" "$TMP/err")" ]
expect_absent "no state is left" rw.state
expect_absent "no part file is left" rw.bin.part
expect_absent "no image is left" rw.bin
# Progress saved by an interrupted run: the part holds NEW's first blocks
# (here all of NEW, padded to the package's 64-byte pages), the state says 2.
cp new.bin rk.bin.part
head -c $((($(fsize new.bin) + 63) / 64 * 64 - $(fsize new.bin))) /dev/zero >>rk.bin.part
printf 'otadelta-resume 1 %s %s 2\n' "$tsha" "$psha" >rk.state
expect_exit 4 "a resumed apply with a wrong OLD of the right size" \
    "$OD" apply old-wrong.bin g.otad -o rk.bin --resume rk.state
expect_grep "is refused before writing" "not the package's source"
expect_grep "and keeps the saved progress" "progress kept in 'rk.state'"
expect_exit 0 "the right OLD then resumes" "$OD" apply old.bin g.otad -o rk.bin --resume rk.state
expect_grep "where the progress was" "resuming at block 2 of"
expect_same "and restores the image" rk.bin new.bin
# A wrong OLD of another size fails at the header: nothing was saved, so
# nothing is said about resuming and nothing is left.
expect_exit 4 "apply --resume with an OLD of the wrong size" \
    "$OD" apply v1.bin g.otad -o r7.bin --resume r7.state
expect_true "it claims no progress" [ -z "$(grep -i "progress kept" "$TMP/err")" ]
expect_absent "and leaves no state" r7.state
expect_absent "and no part file" r7.bin.part

# STATE must be an otadelta state or a new name: the command replaces it
# as it goes and deletes it at the end.
expect_exit 0 "keygen for the tests below" "$OD" keygen -o ck -q
# NAME is a stem: the private key's own file name means that name, and a
# directory is refused rather than filled with hidden .pem/.pub files.
expect_exit 0 "keygen -o NAME.pem" "$OD" keygen -o kn.pem -q
expect_true "makes NAME.pem and NAME.pub" [ -f kn.pem ] && [ -f kn.pub ] && [ ! -e kn.pem.pem ]
mkdir kdir
expect_exit 1 "keygen -o DIR/" "$OD" keygen -o kdir/
expect_grep "a directory is explained" "is a directory; give a name for the key files"
expect_exit 1 "keygen -o DIR" "$OD" keygen -o kdir
expect_true "nothing is made in it" [ -z "$(ls -A kdir)" ]
cp ck.pub st-key.pub
expect_exit 1 "--resume naming a file that is not a state" \
    "$OD" apply old.bin g.otad -o rk2.bin --resume st-key.pub
expect_grep "a foreign state is explained" "'st-key.pub' exists and is not an otadelta resume state"
expect_same "the foreign file is untouched" st-key.pub ck.pub
expect_absent "no image is written" rk2.bin
expect_absent "no part file is made" rk2.bin.part
mkdir st-dir
expect_exit 1 "--resume naming a directory" "$OD" apply old.bin g.otad -o rk2.bin --resume st-dir
expect_true "the directory stays" [ -d st-dir ]
mkfifo st.fifo
expect_exit 1 "--resume naming a FIFO" timeout 10 "$OD" apply old.bin g.otad -o rk2.bin --resume st.fifo
expect_true "the FIFO stays" [ -p st.fifo ]
cp ck.pub ck2.pub
expect_exit 1 "--resume naming the --key" \
    "$OD" apply old.bin g.otad --key ck2.pub -o rk2.bin --resume ck2.pub
expect_grep "the key clash is explained" "--resume 'ck2.pub' is the same file as --key"
expect_same "the key is untouched" ck2.pub ck.pub
# NEW.part is written, truncated and renamed: it must not be an input.
cp "$FILES/good-delta-lzma.otad" fw.part
expect_exit 1 "a package named NEW.part with --resume" \
    "$OD" apply v1.bin fw.part -o fw --resume fw.state
expect_grep "the part clash is explained" "the part file 'fw.part' is the same file as PKG"
expect_same "the package is untouched" fw.part "$FILES/good-delta-lzma.otad"
expect_absent "no image is written" fw
ln -sf v1.bin fw2.part
expect_exit 1 "a link to OLD named NEW.part with --resume" \
    "$OD" apply fw2.part "$FILES/good-delta-lzma.otad" -o fw2 --resume fw2.state
expect_true "OLD is untouched" cmp -s fw2.part v1.bin

# NEW.part and STATE.tmp are otadelta's only when it made them: a file at
# either name with no state vouching for it (or, for the temporary file,
# not a state's start) is someone else's and is refused, untouched.
cp ck.pub ow.bin.part
expect_exit 1 "a NEW.part that no state vouches for" \
    "$OD" apply old.bin g.otad -o ow.bin --resume ow.state
expect_grep "the foreign part file is explained" "'ow.bin.part' exists but no --resume state"
expect_same "the foreign part file is untouched" ow.bin.part ck.pub
expect_absent "no state is made for it" ow.state
rm -f ow.bin.part
cp ck.pub ow.state.tmp
expect_exit 1 "a STATE.tmp that is not otadelta's" \
    "$OD" apply old.bin g.otad -o ow.bin --resume ow.state
expect_grep "the foreign temporary file is explained" "'ow.state.tmp' exists and is not otadelta's"
expect_same "the foreign temporary file is untouched" ow.state.tmp ck.pub
expect_absent "no part file is made for it" ow.bin.part
# ... while a temporary file a kill left mid-save is taken over.
printf 'otadelta-res' >ow.state.tmp
expect_exit 0 "a STATE.tmp cut short by a kill is ours" \
    "$OD" apply old.bin g.otad -o ow.bin --resume ow.state -q
expect_same "and the image is restored" ow.bin new.bin
expect_absent "nothing is left behind" ow.state.tmp
# A kill between creating the part file and writing the first state leaves
# an empty part file and no state: nothing to lose, the rerun takes it.
: >oe.bin.part
expect_exit 0 "an empty NEW.part without a state is taken over" \
    "$OD" apply old.bin g.otad -o oe.bin --resume oe.state -q
expect_same "and the image is restored" oe.bin new.bin
# A kill between writing the state and the first block leaves a state of 0
# blocks and a part file: the rerun takes both over.
printf 'otadelta-resume 1 %s %s 0\n' "$tsha" "$psha" >o0.state
printf 'junk' >o0.bin.part
expect_exit 0 "a part file with a 0-block state is ours" \
    "$OD" apply old.bin g.otad -o o0.bin --resume o0.state -q
expect_same "and the image is restored" o0.bin new.bin
# Two runs at once would interleave writes: the second is refused while
# the first holds the part file's lock (a POSIX lock, as the CLI takes).
if command -v python3 >/dev/null 2>&1; then
    printf 'otadelta-resume 1 %s %s 0\n' "$tsha" "$psha" >lk.state
    : >lk.bin.part
    python3 -c 'import fcntl,sys,time
f=open(sys.argv[1],"r+"); fcntl.lockf(f,fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(30)' \
        lk.bin.part lk.locked &
    holder=$!
    for _ in $(seq 100); do [ -e lk.locked ] && break; sleep 0.1; done
    expect_exit 5 "a second apply --resume on the same NEW" \
        "$OD" apply old.bin g.otad -o lk.bin --resume lk.state
    expect_grep "the other run is named" "is being written by another 'otadelta apply --resume'"
    expect_true "the state is left as it was" grep -q " 0\$" lk.state
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    expect_exit 0 "once it is gone, the same command runs" \
        "$OD" apply old.bin g.otad -o lk.bin --resume lk.state -q
    expect_same "and restores the image" lk.bin new.bin
else
    skip "a second apply --resume on the same NEW" "python3 not found"
fi

# --resume renames its part file over NEW, so NEW must be a file: through a
# link the file it names is replaced (the link stays); a FIFO, a device or
# a descriptor name is refused before any work.
printf 'stale' >rl-target.bin
ln -sf rl-target.bin rl.bin
expect_exit 0 "apply --resume -o a link" "$OD" apply old.bin g.otad -o rl.bin --resume rl.state -q
expect_true "the link stays a link" [ -L rl.bin ]
expect_same "the file it names is the image" rl-target.bin new.bin
mkfifo rf.fifo
expect_exit 1 "apply --resume -o a FIFO" timeout 10 "$OD" apply old.bin g.otad -o rf.fifo --resume rf.state
expect_grep "the FIFO is explained" "'rf.fifo' is not a regular file"
expect_true "the FIFO stays" [ -p rf.fifo ]
expect_absent "no state is made" rf.state
expect_exit 1 "apply --resume -o /dev/stdout" "$OD" apply old.bin g.otad -o /dev/stdout --resume rs.state
expect_grep "the descriptor is explained" "'/dev/stdout' is a descriptor, not a file"
mkdir -p rd
expect_exit 5 "apply --resume -o DIR/ fails before any work" \
    "$OD" apply old.bin g.otad -o rd/ --resume rd.state
expect_grep "a directory name is explained" "give a file name, not a directory"
expect_absent "no hidden part file is left in it" rd/.part
expect_absent "nor a state" rd.state
expect_exit 5 "apply --resume -o DIR" "$OD" apply old.bin g.otad -o rd --resume rd.state
expect_absent "leaves no DIR.part" rd.part

# ------------------------------------------------- keys are never outputs
# A key pair of their own: a regression here must not spoil the tests after.
expect_exit 0 "keygen for the key clash tests" "$OD" keygen -o kc -q
cp kc.pem kc.pem.orig
cp kc.pub kc.pub.orig
"$OD" sign d.otad --key kc.pem -o sd.otad -q
expect_exit 1 "sign -o KEY" "$OD" sign d.otad --key kc.pem -o kc.pem
expect_grep "the key clash is named" "-o 'kc.pem' is the same file as --key 'kc.pem'"
ln -f kc.pem kc-hard.pem
expect_exit 1 "sign -o a hard link to KEY" "$OD" sign d.otad --key kc.pem -o kc-hard.pem
expect_exit 1 "diff -o KEY --sign KEY" "$OD" diff old.bin new.bin -o kc.pem --sign kc.pem \
    --from-version 1 --to-version 2
expect_exit 1 "full -o KEY --sign KEY" "$OD" full new.bin -o kc.pem --sign kc.pem --to-version 2
ln -sf kc.pub kc-link.pub
expect_exit 1 "apply -o a link to --key" "$OD" apply old.bin sd.otad --key kc.pub -o kc-link.pub
# apply --key says which way the signature fails, as verify --key does.
expect_exit 3 "apply --key: unsigned package" "$OD" apply old.bin d.otad --key kc.pub -o x.bin
expect_grep "an unsigned package is named so" "the package is not signed"
expect_exit 3 "apply --key: another key" "$OD" apply old.bin sd.otad --key ck.pub -o x.bin
expect_grep "another key is named so" "does not verify with 'ck.pub'"
expect_absent "neither leaves an image" x.bin
expect_same "the private key is untouched" kc.pem kc.pem.orig
expect_same "the public key is untouched" kc.pub kc.pub.orig
expect_exit 0 "sign in place is still the default" "$OD" sign sd.otad --key kc.pem -q
"$OD" sign d.otad --key ck.pem -o sd.otad -q

# ---------------------------------- summaries stay out of the data stream
# With -o /dev/stdout the data goes to stdout; a summary there would end up
# inside the image or package.
"$OD" apply v1.bin "$FILES/good-delta-lzma.otad" -o /dev/stdout 2>"$TMP/err" | cat >piped-apply.bin
expect_same "apply -o /dev/stdout | cat is exactly the image" piped-apply.bin v2.bin
expect_grep "apply's summary goes to stderr" "verified sha256 [0-9a-f]{64}"
"$OD" diff old.bin new.bin -o /dev/stdout --from-version 1 --to-version 2 2>"$TMP/err" \
    | cat >piped-diff.otad
expect_exit 0 "diff -o /dev/stdout | cat is exactly the package" \
    "$OD" verify piped-diff.otad --old old.bin --new new.bin
"$OD" full new.bin -o /dev/stdout --to-version 2 2>"$TMP/err" | cat >piped-full.otad
expect_grep "full's summary goes to stderr" "device RAM"
expect_exit 0 "full -o /dev/stdout | cat is exactly the package" "$OD" verify piped-full.otad --new new.bin
"$OD" sign d.otad --key ck.pem -o /dev/stdout 2>"$TMP/err" | cat >piped-sign.otad
expect_grep "sign's summary goes to stderr" "signed \(ed25519\)"
expect_exit 0 "sign -o /dev/stdout | cat is exactly the package" "$OD" verify piped-sign.otad --key ck.pub
"$OD" apply v1.bin "$FILES/good-delta-lzma.otad" -o /dev/stdout >redirected.bin 2>"$TMP/err"
expect_same "apply -o /dev/stdout >FILE is exactly the image" redirected.bin v2.bin
expect_grep "with its summary on stderr" "verified sha256"
# /dev/stdout names the descriptor the shell set up: written in place, so
# what the shell already put in the file (or puts after) stays.
{ echo HEAD; "$OD" apply v1.bin "$FILES/good-delta-lzma.otad" -o /dev/stdout -q; echo TAIL; } \
    >framed.bin 2>"$TMP/err"
{ echo HEAD; cat v2.bin; echo TAIL; } >framed.want
expect_same "apply -o /dev/stdout inside a redirected group keeps the rest" framed.bin framed.want
echo "log line" >log.txt
"$OD" apply v1.bin "$FILES/good-delta-lzma.otad" -o /dev/stdout -q >>log.txt 2>"$TMP/err"
{ echo "log line"; cat v2.bin; } >log.want
expect_same "apply -o /dev/stdout >>FILE appends" log.txt log.want
expect_exit 0 "a regular -o keeps the summary on stdout" \
    "$OD" apply v1.bin "$FILES/good-delta-lzma.otad" -o summary.bin
expect_grep "the summary is on stdout" "verified sha256" "$TMP/out"

# ----------------------------------------- FIFOs as inputs are refused
# Opening or reading a FIFO waits for a writer: every input must be
# refused as not a regular file instead (timeout: a hang fails the test).
mkfifo in.fifo
while read -r args; do
    # shellcheck disable=SC2086 # word splitting is the point
    expect_exit 2 "a FIFO as input: $args" timeout 10 "$OD" $args
    expect_grep "a FIFO is not a regular file: $args" "'in.fifo' is not a regular file"
done <<'FIFO_CASES'
info in.fifo
verify in.fifo
verify d.otad --old in.fifo
verify d.otad --new in.fifo
verify sd.otad --key in.fifo
diff in.fifo new.bin -o x.otad --from-version 1 --to-version 2
diff old.bin in.fifo -o x.otad --from-version 1 --to-version 2
diff old.bin new.bin -o x.otad --from-version 1 --to-version 2 --sign in.fifo
full in.fifo -o x.otad --to-version 2
full new.bin -o x.otad --to-version 2 --sign in.fifo
apply in.fifo d.otad -o x.bin
apply old.bin in.fifo -o x.bin
apply old.bin sd.otad --key in.fifo -o x.bin
sign in.fifo --key ck.pem -o x.otad
sign d.otad --key in.fifo -o x.otad
FIFO_CASES
expect_absent "no FIFO input leaves an output" x.otad
expect_absent "no FIFO input leaves an image" x.bin

# ---------------------------------------- key files are opened once
# A key file checked and then opened again by name (by OpenSSL) could be
# swapped in between: every command must open it exactly once (counted
# with strace where it runs).
traced=0
if command -v strace >/dev/null 2>&1 && strace -f -o /dev/null true 2>/dev/null; then
    traced=1
else
    skip "key files are opened once" "strace not found or not permitted"
fi
while read -r key args; do
    # shellcheck disable=SC2086 # word splitting is the point
    expect_exit 0 "$args" "$OD" $args
    [ "$traced" = 1 ] || continue
    # LeakSanitizer cannot run under ptrace (sanitizer builds): the run
    # above is the leak-checked one.
    # shellcheck disable=SC2086
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        strace -f -e trace=/^open -o trace.txt "$OD" $args >"$TMP/out" 2>"$TMP/err"
    opens=$(grep -c "\"$key\"" trace.txt)
    expect_true "$args: opens $key once" [ "$opens" = 1 ]
done <<'ONCE_CASES'
ck.pem sign d.otad --key ck.pem -o once.otad -q
ck.pub verify sd.otad --key ck.pub -q
ck.pem verify sd.otad --key ck.pem -q
ck.pub apply old.bin sd.otad --key ck.pub -o once.bin -q
ck.pem diff old.bin new.bin -o once.otad --from-version 1 --to-version 2 --sign ck.pem -q
ck.pem full new.bin -o once.otad --to-version 2 --sign ck.pem -q
ONCE_CASES

# The key's other failures keep their own messages.
truncate -s 65537 big.pem
expect_exit 2 "a private key file over 64 KiB" "$OD" sign d.otad --key big.pem -o x.otad
expect_grep "its size and the limit are named" "'big.pem' is 65537 bytes; the limit is 65536 bytes"
expect_exit 2 "a public key file over 64 KiB" "$OD" verify sd.otad --key big.pem
expect_grep "its size and the limit are named" "'big.pem' is 65537 bytes; the limit is 65536 bytes"
expect_exit 2 "a missing public key" "$OD" verify sd.otad --key nokey.pub
expect_grep "the missing key is named" "cannot open 'nokey.pub'"
expect_exit 2 "a file that is not a public key" "$OD" verify sd.otad --key new.bin
expect_grep "a non-key is explained" "'new.bin' is not an Ed25519 or ECDSA P-256 key in PEM form"
expect_exit 2 "a public key given to sign" "$OD" sign d.otad --key ck.pub -o x.otad
expect_grep "a public key is not a private key" "'ck.pub' is not an unencrypted Ed25519 or ECDSA P-256 private key"
if [ "$(id -u)" != 0 ]; then
    cp ck.pem unreadable.pem
    chmod 000 unreadable.pem
    expect_exit 2 "an unreadable key" "$OD" sign d.otad --key unreadable.pem -o x.otad
    expect_grep "the unreadable key is explained" "cannot open 'unreadable.pem': permission denied"
    chmod 600 unreadable.pem
else
    skip "an unreadable key" "running as root, which reads any file"
fi
expect_absent "no key failure leaves an output" x.otad

# sign leaves the package check to the library, but still says what is
# wrong with a damaged package.
expect_exit 3 "sign a package with a damaged block" "$OD" sign "$FILES/bad-block-crc.otad" \
    --key ck.pem -o x.otad
expect_grep "the damage is named" "bad-block-crc.otad': package payload is damaged .*; not signing it"
expect_exit 3 "sign a package with a damaged header" "$OD" sign "$FILES/bad-header-crc.otad" \
    --key ck.pem -o x.otad
expect_grep "the header damage is named" "bad-header-crc.otad': package header is damaged"
expect_absent "no damaged package is signed" x.otad

# ------------------------------------------ sign's input limit is 1 GiB
truncate -s 1025M big.otad
expect_exit 2 "sign refuses a package over 1 GiB" "$OD" sign big.otad --key ck.pem -o x.otad
expect_grep "the limit is named" "'big.otad' is 1074790400 bytes; the limit is 1073741824 bytes"
rm -f big.otad

# ------------------ info finds the signature after many other records
if command -v python3 >/dev/null 2>&1; then
    # 20 notes after the records, then signed (the signature goes first),
    # then the signature moved last: the header, and so the signature, stay
    # valid.
    tlv() {
        python3 - "$@" <<'PY'
import struct, sys, zlib
d = bytearray(open(sys.argv[1], 'rb').read())
hs = struct.unpack_from('<H', d, 10)[0]
es = struct.unpack_from('<I', d, 36)[0]
if sys.argv[3] == 'notes':
    notes = b''.join(struct.pack('<HH', 2, 7) + b'note %02d' % i for i in range(20))
    d[hs + es:hs + es] = notes
    struct.pack_into('<I', d, 36, es + len(notes))
    struct.pack_into('<I', d, hs - 4, zlib.crc32(bytes(d[:hs - 4])))
else:  # move the first record to the end of the area
    n = 4 + struct.unpack_from('<H', d, hs + 2)[0]
    d[hs:hs + es] = d[hs + n:hs + es] + d[hs:hs + n]
open(sys.argv[2], 'wb').write(d)
PY
    }
    tlv "$FILES/good-delta-lzma.otad" notes.otad notes
    expect_exit 0 "sign a package with 20 notes" "$OD" sign notes.otad --key ck.pem -q
    tlv notes.otad sig-last.otad move
    expect_exit 0 "a signature after 20 notes verifies" "$OD" verify sig-last.otad --key ck.pub
    expect_exit 0 "info of a signature after 20 notes" "$OD" info sig-last.otad
    expect_grep "info finds the signature" "^signature: +ed25519" "$TMP/out"
    expect_grep "info says how many records there are" "\.\.\. \(21 in all" "$TMP/out"
    expect_exit 0 "info --json of a signature after 20 notes" "$OD" info --json sig-last.otad
    said=$(python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["signature"], len(j["extensions"]), j["extensions"][-1]["name"])' <"$TMP/out" 2>&1)
    expect_true "info --json finds the signature and lists all 21 records" [ "$said" = "ed25519 21 signature" ]
else
    skip "info finds the signature after many records" "python3 not found"
fi

echo
if [ "$skipped" -gt 0 ]; then
    echo "($skipped skipped)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
