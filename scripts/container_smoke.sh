#!/usr/bin/env bash
# Container smoke test: build the EmailStore image with Podman and prove it serves.
#
# What it does, end to end (see the design note CONTAINERS.md; machines here have no Docker
# engine and no registry access):
#   1. installs podman, runc and debootstrap with apt-get when they are missing;
#   2. builds the local base image localhost/debian-py:bookworm (Debian + python3) when absent;
#   3. builds emailstore:dev from the Dockerfile with BASE_IMAGE pointing at that base;
#   4. runs it in the background on the host network, listening on 127.0.0.1 only, with the
#      embedded PostgreSQL (no EMAILSTORE_DATABASE_URL) in a tmpfs data dir and a read-only root
#      filesystem (as deploy/kubernetes.yaml runs it);
#   5. waits for grpc.health.v1.Health/Check to answer SERVING;
#   6. does a StoreMessage + GetMessage round trip with grpcurl;
#   7. stops the container with SIGTERM (podman stop) and checks it exited 0 after a graceful
#      shutdown.
# The container, temporary files and temporary directories are removed on exit; the two images
# are kept so a second run is fast.
#
# Needs root (apt-get, debootstrap, rootful podman). Usage: scripts/container_smoke.sh
# Environment: PORT (default 50071), IMAGE (default emailstore:dev), GRPCURL (default
# .venv/bin/grpcurl), READY_TIMEOUT_S (default 120).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${PORT:-50071}
ADDR="127.0.0.1:${PORT}"
IMAGE=${IMAGE:-emailstore:dev}
BASE_IMAGE=localhost/debian-py:bookworm
GRPCURL=${GRPCURL:-$ROOT/.venv/bin/grpcurl}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}
STOP_TIMEOUT_S=30 # must exceed EMAILSTORE_SHUTDOWN_GRACE_S (10 s by default) plus DB shutdown
NAME="emailstore-smoke-$$"
TENANT=0b7f3c2e-4a1d-4c7e-9f3a-2d6e8b1c5a90

step() { printf '\n==> %s\n' "$*"; }
fail() {
    printf '\nFAIL: %s\n' "$*" >&2
    if [[ -n "${started:-}" ]]; then
        echo "---- container logs ----" >&2
        podman logs "$NAME" >&2 || true
    fi
    exit 1
}

conf=""
rootfs=""
started=""
cleanup() {
    local rc=$?
    if [[ -n "$started" ]]; then
        podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    fi
    [[ -n "$rootfs" ]] && rm -rf "$rootfs"
    [[ -n "$conf" ]] && rm -f "$conf"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || fail "run as root (apt-get, debootstrap and rootful podman)"
[[ -x "$GRPCURL" ]] || fail "grpcurl not found at $GRPCURL (make install provides it)"

# --- 1. tools ---------------------------------------------------------------------------------
step "1/7 tools: podman, runc, debootstrap"
missing=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
podman --version

# The default OCI runtime settings (systemd cgroups, crun, ulimits, pids limit) fail in this
# sandbox; this config makes podman use cgroupfs and runc, for every podman call below.
conf=$(mktemp)
printf '[containers]\ndefault_ulimits = []\npids_limit = 0\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' >"$conf"
export CONTAINERS_CONF="$conf"

# --- 2. base image ------------------------------------------------------------------------------
step "2/7 base image $BASE_IMAGE"
if podman image exists "$BASE_IMAGE"; then
    echo "present"
else
    # No registry access: a minimal Debian bookworm with python3 (3.11) stands in for
    # python:3.11-slim. ca-certificates lets pip in the build verify the package index.
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" >/dev/null
    # Like python:3.11-slim, ship no package cache (debootstrap leaves ~100 MB of .debs).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import - "$BASE_IMAGE"
    rm -rf "$rootfs"
    rootfs=""
fi

# --- 3. application image -----------------------------------------------------------------------
step "3/7 build $IMAGE (BASE_IMAGE=$BASE_IMAGE)"
# --isolation=chroot: no nested OCI runtime during RUN steps; --network=host and the host's CA
# bundle: pip inside the build reaches the package index from this sandbox.
podman build --isolation=chroot --network=host -v /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT"
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"

# --- 4. run -------------------------------------------------------------------------------------
step "4/7 run $NAME on $ADDR (embedded PostgreSQL, tmpfs data dir, read-only root fs)"
if "$GRPCURL" -plaintext -max-time 2 "$ADDR" list >/dev/null 2>&1; then
    fail "something already answers on $ADDR"
fi
# --network=host so grpcurl on the host reaches it; EMAILSTORE_LISTEN keeps it on loopback.
# No EMAILSTORE_DATABASE_URL: the embedded PostgreSQL starts in EMAILSTORE_DATA_DIR, here a
# tmpfs owned by the image's user (10001). --read-only leaves /tmp, /var/tmp and /run as tmpfs,
# which pgserver's lock file needs.
podman run -d --name "$NAME" --network=host --read-only \
    --tmpfs /var/lib/emailstore:rw,nosuid,nodev,size=512m,mode=0700,U \
    -e EMAILSTORE_LISTEN="$ADDR" \
    --stop-timeout "$STOP_TIMEOUT_S" \
    "$IMAGE" >/dev/null
started=1
run_started=$SECONDS
podman ps --filter "name=^${NAME}$" --format '{{.Names}} {{.Status}} {{.Image}}'

# --- 5. health ----------------------------------------------------------------------------------
step "5/7 wait for grpc.health.v1.Health/Check = SERVING (timeout ${READY_TIMEOUT_S}s)"
deadline=$((SECONDS + READY_TIMEOUT_S))
until health=$("$GRPCURL" -plaintext -max-time 2 "$ADDR" grpc.health.v1.Health/Check 2>/dev/null) &&
    grep -q '"SERVING"' <<<"$health"; do
    state=$(podman inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null || echo gone)
    [[ "$state" == running ]] || fail "container is $state before it became healthy"
    ((SECONDS < deadline)) || fail "not SERVING after ${READY_TIMEOUT_S}s"
    sleep 1
done
echo "$health"
echo "SERVING $((SECONDS - run_started))s after podman run"
"$GRPCURL" -plaintext -d '{"service":"emailstore.v1.EmailStore"}' "$ADDR" grpc.health.v1.Health/Check
podman exec "$NAME" id

# --- 6. round trip ------------------------------------------------------------------------------
step "6/7 StoreMessage + GetMessage round trip"
store_req=$(
    cat <<EOF
{"tenant_id":"$TENANT","direction":"OUTBOUND","from_address":{"email":"sdr@acme.io"},"to":[{"email":"lead@example.com"}],"subject":"Hi","text_body":"Hello"}
EOF
)
stored=$("$GRPCURL" -plaintext -d "$store_req" "$ADDR" emailstore.v1.EmailStore/StoreMessage) ||
    fail "StoreMessage failed"
echo "$stored"
storage_key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["storageKey"])' <<<"$stored") ||
    fail "no storageKey in the StoreMessage response"
echo "storage_key=$storage_key"
got=$("$GRPCURL" -plaintext -d "{\"tenant_id\":\"$TENANT\",\"storage_key\":\"$storage_key\"}" \
    "$ADDR" emailstore.v1.EmailStore/GetMessage) || fail "GetMessage failed"
echo "$got"
GOT="$got" python3 - "$storage_key" <<'EOF' || fail "GetMessage returned something else"
import json, os, sys
blob = json.dumps(json.loads(os.environ["GOT"]))
for expected in (sys.argv[1], "sdr@acme.io", "lead@example.com", '"Hi"', '"Hello"'):
    assert expected in blob, f"{expected} missing from GetMessage response"
print("round trip OK: storage key, addresses, subject and body all returned")
EOF

# --- 7. graceful stop ---------------------------------------------------------------------------
step "7/7 podman stop (SIGTERM, kill after ${STOP_TIMEOUT_S}s)"
t0=$SECONDS
podman stop -t "$STOP_TIMEOUT_S" "$NAME" >/dev/null
elapsed=$((SECONDS - t0))
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
echo "stopped in ${elapsed}s, exit code $exit_code"
echo "---- last log lines ----"
podman logs "$NAME" 2>&1 | tail -n 5
[[ "$exit_code" == 0 ]] || fail "container exited with $exit_code (137 = killed after the timeout)"
podman logs "$NAME" 2>&1 | grep -q '"message": "stopped"' || fail "no 'stopped' log line"
podman rm "$NAME" >/dev/null
started=""

printf '\nPASS: %s built, served health and a StoreMessage/GetMessage round trip on %s, and stopped cleanly on SIGTERM.\n' "$IMAGE" "$ADDR"
