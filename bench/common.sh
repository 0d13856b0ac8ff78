# Shared by bench/load.sh (saturation, wrk) and bench/rate.sh (fixed rates, oha): release
# binaries, a certificate, state directories and AdmissionReview bodies in $WORK, and the
# helpers that start a server on core 0 and read its CPU time and peak RSS.
# Sourced, not run; the caller sets `set -euo pipefail`.

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



# A Windows-policies state: the examples' nodes, RuntimeClasses-free, pinned image metadata,
# and a review of a Windows pod whose image is pinned there (served with --offline).
mkdir -p "$WORK/state-windows"
cp "$ROOT"/examples/state/*.yaml "$WORK/state-windows/"
python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-", "namespace": "apps"},
       "spec": {"containers": [{"name": "web", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                                "resources": {"limits": {"memory": "800Mi"}}}]}}
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800003", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                      "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "apps",
                      "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                      "object": pod}}
with open(os.path.join(work, "windows.json"), "w") as f: json.dump(review, f)
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server did not start" >&2; return 1
}

# start_winkube STATE-DIR [extra webhook flags...]: winkube on core 0, SERVER_PID set.
start_winkube() {
    local state="$1"; shift
    taskset -c 0 "$WINKUBE" webhook --bind-address 127.0.0.1 --port "$PORT" \
        --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem" \
        --state "$state" --log-level warn "$@" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    wait_port
}

start_bare() {
    taskset -c 0 "$BARE" "127.0.0.1:$PORT" "$WORK/cert.pem" "$WORK/key.pem" &
    SERVER_PID=$!
    wait_port
}

stop_server() {
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
