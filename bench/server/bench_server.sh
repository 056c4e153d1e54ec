#!/bin/sh
# bench/server/bench_server.sh - otadelta-server on loopback:
#   1. Range requests per second at 1 KiB chunks (wrk if installed, else skipped)
#   2. time for a simulated fleet of N devices (default 10000) to finish a task
# Prints a Markdown table. Loopback only, bounded runs.
#
# usage: bench/server/bench_server.sh BUILD_DIR [DEVICES]
#   BUILD_DIR: a build configured with -DOD_BUILD_SERVER=ON (targets built)
set -eu

BUILD=${1:?usage: bench_server.sh BUILD_DIR [DEVICES]}
DEVICES=${2:-10000}
DURATION=${WRK_DURATION:-10}
SRV="$BUILD/server-stub/otadelta-server"
LIVE="$BUILD/server-stub/od_srv_test_live"
[ -x "$SRV" ] && [ -x "$LIVE" ] || { echo "build otadelta-server and od_srv_test_live first" >&2; exit 77; }

TMP=$(mktemp -d /tmp/od_srv_bench.XXXXXX)
SPID=""
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

rows=""

# --- 1. Range requests per second -------------------------------------
if command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] &&
        apt-get install -y -qq wrk >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1; }; then
    TOKEN=bench-admin-token
    "$SRV" --data "$TMP/d" --listen 127.0.0.1:0 --admin-token "$TOKEN" --port-file "$TMP/port" 2>"$TMP/srv.log" &
    SPID=$!
    i=0; while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    PORT=$(cat "$TMP/port")
    U="http://127.0.0.1:$PORT"
    A="Authorization: Bearer $TOKEN"
    j() { python3 -c "import sys,json; d=json.load(sys.stdin)['data']; print(d$1)"; }
    head -c 262144 /dev/urandom > "$TMP/img"
    PID=$(curl -s -H "$A" -d '{"name":"bench"}' "$U/api/v1/products" | j "['id']")
    KEY=$(curl -s -H "$A" "$U/api/v1/products/$PID" | j "['access_key']")
    FW=$(curl -s -H "$A" --data-binary @"$TMP/img" "$U/api/v1/products/$PID/firmware?version=1.0.0&component=sota" | j "['id']")
    PKG=$(curl -s -H "$A" -d "{\"type\":\"full\",\"target_fw\":$FW}" "$U/api/v1/products/$PID/packages" | j "['package_id']")
    i=0; while [ "$(curl -s -H "$A" "$U/api/v1/packages/$PKG" | j "['status']")" != ready ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    DEV=$(curl -s -H "$A" -d '{"name":"d0","s_version":"0.1"}' "$U/api/v1/products/$PID/devices" | j "['id']")
    TASK=$(curl -s -H "$A" -d "{\"package_id\":$PKG,\"devices\":[$DEV]}" "$U/api/v1/products/$PID/tasks" | j "['id']")
    curl -s -H "$A" -X POST "$U/api/v1/tasks/$TASK/start" >/dev/null
    AUTH=$(python3 - "$KEY" "$PID" <<'EOF'
import base64, hmac, hashlib, sys, time, urllib.parse
key, pid = sys.argv[1], sys.argv[2]
et = str(int(time.time()) + 3600); res = "products/" + pid
msg = "\n".join([et, "sha256", res, "2018-10-31"]).encode()
sign = base64.b64encode(hmac.new(base64.b64decode(key), msg, hashlib.sha256).digest()).decode()
q = urllib.parse.quote
print("version=2018-10-31&res=%s&et=%s&method=sha256&sign=%s" % (q(res, safe=""), et, q(sign, safe="")))
EOF
)
    TOK=$(curl -s -H "Authorization: $AUTH" "$U/ota/south/check?dev_id=$DEV&type=2&version=0.1" | j "['token']")
    cat > "$TMP/range.lua" <<'EOF'
-- 1 KiB Range requests walking the package
local i = 0
request = function()
  local s = (i * 1024) % 261120
  i = i + 1
  -- a headers table replaces wrk.headers, so carry Authorization over
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  h["Range"] = s .. "-" .. (s + 1023)
  return wrk.format("GET", nil, h)
end
EOF
    OUT=$(wrk -t2 -c64 -d"${DURATION}s" -s "$TMP/range.lua" -H "Authorization: $AUTH" "$U/ota/south/download/$TOK")
    RPS=$(printf '%s\n' "$OUT" | awk '/Requests\/sec/ {print $2}')
    NON2XX=$(printf '%s\n' "$OUT" | awk '/Non-2xx/ {print $NF}')
    rows="$rows| Range GET, 1 KiB, wrk -t2 -c64 ${DURATION}s | ${RPS} req/s | non-2xx: ${NON2XX:-0} |\n"
    kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
else
    rows="$rows| Range GET, 1 KiB | skipped: wrk not installed and not installable | |\n"
fi

# --- 2. Fleet ----------------------------------------------------------
if ! "$LIVE" "$SRV" bench "$DEVICES" >"$TMP/fleet.out" 2>"$TMP/fleet.log"; then
    echo "fleet run failed:" >&2; grep -v listening "$TMP/fleet.log" | tail -20 >&2; exit 1
fi
FLEET=$(tail -1 "$TMP/fleet.out")

echo "| what | result | notes |"
echo "|---|---|---|"
printf "$rows"
echo "$FLEET" | awk -F'|' '{printf "| fleet: %s | %s | %s, %s, %s |\n", $2, $4, $3, $5, $6}'
echo
echo "Host: $(nproc) CPUs, $(uname -sr); server and clients on the same machine (loopback)."
