#!/usr/bin/env bash
# Load benchmark of the admission server, loopback only, bounded in time.
#
# Builds release binaries, then for each case starts a server pinned to core 0 and drives it
# with wrk pinned to core 1 (32 keep-alive connections, POSTing an AdmissionReview):
#   bare       examples/bare_tls: the same rustls/hyper stack returning a fixed body (baseline)
#   mutate     `winkube webhook --state DIR` with N credspecs, /mutate inlining credspec-0
#   validate   same server, /validate of an authorized pod (local RBAC evaluation)
# for N = 10 and N = 10000, then the live view's memory with N credspecs (examples/live_rss). Reports reviews/s, p50/p99 latency, server CPU µs per review
# (utime+stime delta from /proc/PID/stat divided by requests) and peak RSS (VmHWM).
#
# Usage: [WINKUBE_BIN=path | WINKUBE_BIN_DIR=dir] bench/load.sh [seconds-per-case]
#        (default 10 s; needs wrk, openssl, taskset, python3)
set -euo pipefail

DURATION="${1:-10}"
CONNS=32
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
PORT=18443
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 2; }

# WINKUBE_BIN_DIR=dir uses saved binaries (winkube, bare_tls, live_rss) of some build instead
# of building: two directories compare two commits in one sitting.
if [[ -n "${WINKUBE_BIN_DIR:-}" ]]; then
    WINKUBE="$WINKUBE_BIN_DIR/winkube"
    BARE="$WINKUBE_BIN_DIR/bare_tls"
    LIVE_RSS="$WINKUBE_BIN_DIR/live_rss"
else
    echo "== building release binaries" >&2
    (cd "$ROOT" && cargo build --release -q -p winkube --bin winkube && cargo build --release -q -p winkube-webhook --example bare_tls --example live_rss)
    # WINKUBE_BIN=path compares another build (e.g. a saved binary of an earlier commit).
    WINKUBE="${WINKUBE_BIN:-$ROOT/target/release/winkube}"
    BARE="$ROOT/target/release/examples/bare_tls"
    LIVE_RSS="$ROOT/target/release/examples/live_rss"
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# State directories and request bodies.
python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
def credspec(i):
    n = f"credspec-{i}"
    return {"apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec", "metadata": {"name": n},
            "credspec": {"CmsPlugins": ["ActiveDirectory"],
                         "DomainJoinConfig": {"Sid": f"S-1-5-21-2126729477-2524075714-{i}", "MachineAccountName": f"WebApp{i}",
                                              "Guid": "244818ae-87ca-4fcd-92ec-e79e5252348a", "DnsTreeName": "contoso.com",
                                              "DnsName": "contoso.com", "NetBiosName": "CONTOSO"},
                         "ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
                             {"Name": f"WebApp{i}", "Scope": "CONTOSO"}, {"Name": f"WebApp{i}", "Scope": "contoso.com"}]}}}
rbac = [
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "use-credspec-0", "namespace": "apps"},
   "rules": [{"apiGroups": ["windows.k8s.io"], "resources": ["gmsacredentialspecs"], "verbs": ["use"], "resourceNames": ["credspec-0"]}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "web-uses-credspec-0", "namespace": "apps"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "use-credspec-0"},
   "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "apps"}]},
]
for n in (10, 10000):
    d = os.path.join(work, f"state-{n}")
    os.makedirs(d)
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": [credspec(i) for i in range(n)] + rbac}, f)
canonical = json.dumps(credspec(0)["credspec"], sort_keys=True, separators=(",", ":"))
def pod(contents=None):
    wo = {"gmsaCredentialSpecName": "credspec-0"}
    if contents: wo["gmsaCredentialSpec"] = contents
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-", "namespace": "apps",
            "labels": {"app": "web", "tier": "frontend"}},
            "spec": {"serviceAccountName": "web", "securityContext": {"windowsOptions": wo},
                     "nodeSelector": {"kubernetes.io/os": "windows"},
                     "containers": [{"name": "web", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                                     "ports": [{"containerPort": 80}], "resources": {"limits": {"memory": "800Mi", "cpu": "1"}},
                                     "env": [{"name": f"VAR_{k}", "value": "x" * 20} for k in range(10)]}]}}
def review(p):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "apps",
                        "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                        "object": p}}
with open(os.path.join(work, "mutate.json"), "w") as f: json.dump(review(pod()), f)
with open(os.path.join(work, "validate.json"), "w") as f: json.dump(review(pod(canonical)), f)
PY

cat > "$WORK/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server did not start" >&2; return 1
}

run_case() { # name path body-file
    local name="$1" path="$2" body="$3"
    local t0 out reqs t1 ticks hz
    hz=$(getconf CLK_TCK)
    # Warm-up (connections, caches), not measured.
    BODY_FILE="$body" taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$WORK/post.lua" "https://127.0.0.1:$PORT$path" >/dev/null
    t0=$(cpu_ticks "$SERVER_PID")
    out=$(BODY_FILE="$body" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "https://127.0.0.1:$PORT$path")
    t1=$(cpu_ticks "$SERVER_PID")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    local rps p50 p99 errors
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    ticks=$((t1 - t0))
    local us
    us=$(python3 -c "print(f'{($ticks / $hz) * 1e6 / max($reqs, 1):.1f}')")
    printf "%-28s %10s %9s %9s %12s %10s  %s\n" "$name" "$rps" "$p50" "$p99" "$us" "$(hwm_kib "$SERVER_PID")" "$errors"
}

printf "%-28s %10s %9s %9s %12s %10s\n" "case" "reviews/s" "p50" "p99" "cpu µs/req" "VmHWM KiB"

taskset -c 0 "$BARE" "127.0.0.1:$PORT" "$WORK/cert.pem" "$WORK/key.pem" &
SERVER_PID=$!
wait_port
run_case "bare TLS (fixed body)" /mutate "$WORK/mutate.json"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true

for n in 10 10000; do
    taskset -c 0 "$WINKUBE" webhook --bind-address 127.0.0.1 --port "$PORT" \
        --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem" \
        --state "$WORK/state-$n" --log-level warn >"$WORK/server-$n.log" 2>&1 &
    SERVER_PID=$!
    wait_port
    run_case "winkube mutate ($n credspecs)" /mutate "$WORK/mutate.json"
    run_case "winkube validate ($n cs)" /validate "$WORK/validate.json"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
done
SERVER_PID=""

# Memory of the live view (no load): a LiveView synced with the testkit stand-in, which runs
# in a child process so that its store is not counted. The stand-in answers a list in one
# response (no pagination), so the peak is an upper bound of a real cluster's (500 per page).
for n in 10 10000; do
    printf "%-28s %s\n" "LiveView RSS ($n cs)" "$(taskset -c 0 "$LIVE_RSS" "$n")"
done
