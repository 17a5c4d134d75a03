# syntax=docker/dockerfile:1
#
# EmailStore gRPC service image.
#
# The base is a build argument so the same Dockerfile builds for production (the official
# python:3.11-slim, or a pinned digest of it) and on machines without registry access, where a
# locally imported Debian bookworm rootfs with python3 + python3-venv stands in for it
# (see scripts/container_smoke.sh).
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: resolve and install the project and its dependencies into a self-contained venv.
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A venv rather than the system site-packages: the Debian base has no pip module in its system
# Python, and a venv is one directory the runtime stage can copy as a whole.
RUN python3 -m venv /opt/venv

WORKDIR /src
# Only what `pip install .` needs: no tests, no .venv, no caches (see also .dockerignore).
COPY pyproject.toml README.md ./
COPY generated/ generated/
COPY service/ service/
# A non-editable install: the runtime stage gets the packages, not a link back to /src.
# pip byte-compiles what it installs, so the read-only runtime never needs to write __pycache__.
# pip and setuptools are then removed from the venv: nothing imports them at run time (about
# 22 MB, and less to patch); the last line fails the build if the entry point does not import.
RUN /opt/venv/bin/pip install . \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
    && /opt/venv/bin/emailstore --help >/dev/null

# ---------------------------------------------------------------------------------------------
# runtime: the venv, a non-root user and a data directory it owns. No compilers, no sources.
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

# A fixed, named, non-root user. Non-root because the embedded PostgreSQL (pgserver) behaves
# differently as root: postgres refuses to run as root, so pgserver then runs `useradd pgserver`
# and chowns/chmods its data and binary directories to run as that user instead, which fails on a
# read-only root filesystem. Named (present in /etc/passwd) because the embedded PostgreSQL's
# initdb looks the effective uid up and refuses a uid with no passwd entry (Podman adds one for an
# arbitrary --user, Kubernetes does not for an arbitrary runAsUser). 10001 is outside the range of
# the base image's system users and matches runAsUser in deploy/kubernetes.yaml.
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" emailstore \
    && useradd --system --uid "${APP_UID}" --gid emailstore \
        --home-dir /var/lib/emailstore --no-create-home --shell /usr/sbin/nologin emailstore \
    && install -d -o emailstore -g emailstore -m 0700 /var/lib/emailstore

COPY --from=builder /opt/venv /opt/venv

# EMAILSTORE_LISTEN: all interfaces inside the container (the default, 127.0.0.1, is unreachable
# from outside a container network namespace).
# EMAILSTORE_DATA_DIR: where the embedded PostgreSQL lives when EMAILSTORE_DATABASE_URL is unset
# (mount a volume there to keep data; production sets EMAILSTORE_DATABASE_URL and never uses it).
# HOME: the user has no home of its own; point it at the only writable directory.
# PYTHONUNBUFFERED: JSON log lines reach `podman logs`/kubectl logs as they are written.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/var/lib/emailstore \
    EMAILSTORE_LISTEN=0.0.0.0:50051 \
    EMAILSTORE_DATA_DIR=/var/lib/emailstore \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

USER ${APP_UID}:${APP_UID}
WORKDIR /var/lib/emailstore
EXPOSE 50051

# `emailstore serve` is PID 1 and handles SIGTERM itself: health goes NOT_SERVING, in-flight RPCs
# get EMAILSTORE_SHUTDOWN_GRACE_S to finish, then the pool (and embedded PostgreSQL) are stopped.
# Keep the orchestrator's kill timeout (docker/podman stop -t, terminationGracePeriodSeconds)
# longer than that grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["emailstore"]
CMD ["serve"]
