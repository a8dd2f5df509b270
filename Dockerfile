# syntax=docker/dockerfile:1
#
# One image for every routet2i role; the role is the command (see docker-compose.yml):
#
#   docker build -t routet2i .
#   docker run --rm --gpus all -p 8001:8001 -v hf-cache:/data/huggingface -e HF_TOKEN \
#       routet2i worker --config configs/edge-sd-turbo.yaml
#   docker run --rm -p 8000:8000 routet2i gateway --config configs/gateway.yaml
#   docker run --rm --gpus all -p 8000:8000 -v hf-cache:/data/huggingface routet2i \
#       serve --config configs/gateway.yaml --edge configs/edge-sd-turbo.yaml --cloud configs/cloud-sdxl.yaml
#   docker build --build-arg EXTRAS=ray -t routet2i:ray .     # + Ray Serve (routet2i ray, deploy/ray/; +~340 MB)
#
# Base: the CUDA runtime of the torch build pinned in pyproject.toml (torch 2.14.1 from PyPI is
# built for CUDA 13.0, so the host needs an NVIDIA driver for CUDA 13.0: R580 or newer).
# Python 3.11 is a python-build-standalone interpreter installed by uv (Ubuntu 24.04 ships 3.12).

ARG CUDA_VERSION=13.0.2
ARG UBUNTU_VERSION=24.04
ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.9.26

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---------------------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS build
ARG PYTHON_VERSION
# Optional extras of pyproject.toml, e.g. "ray" for the Ray Serve deployment (none by default).
ARG EXTRAS=""
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv
RUN uv python install "${PYTHON_VERSION}" && uv venv --python "${PYTHON_VERSION}" /opt/venv
WORKDIR /app
# Dependencies first (the big layer: torch, diffusers...), so editing the code keeps it cached.
COPY pyproject.toml README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv pip install -r pyproject.toml ${EXTRAS:+--extra "$EXTRAS"}
# The project itself, editable. routet2i.config.CONFIG_DIR is routet2i/configs, a link to
# ../configs that COPY keeps as a link: with /app/configs copied below (or mounted by compose),
# `--config configs/...` and the built-in default files both resolve to the same files.
COPY routet2i ./routet2i
RUN --mount=type=cache,target=/root/.cache/uv uv pip install --no-deps -e . \
    && /opt/venv/bin/routet2i --help > /dev/null

# ---------------------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS runtime
ARG PYTHON_VERSION
LABEL org.opencontainers.image.title="routet2i" \
      org.opencontainers.image.description="Routes text-to-image requests between an edge and a cloud model (gateway and workers)" \
      org.opencontainers.image.licenses="Apache-2.0"

# tini: PID 1 that forwards SIGTERM (graceful shutdown) and reaps children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 routet2i \
    && useradd --system --uid 10001 --gid routet2i --create-home --home-dir /home/routet2i routet2i \
    && mkdir -p /data/huggingface \
    && chown routet2i:routet2i /data/huggingface

COPY --from=build /opt/python /opt/python
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY configs /app/configs
COPY deploy/healthcheck.py /app/deploy/healthcheck.py
COPY deploy/ray /app/deploy/ray

# HF_HOME: model weights are downloaded once into the volume and shared by the workers.
# ROUTET2I_GATEWAY_/WORKER_SERVER__HOST: every role listens on all interfaces inside the container (the configs
# say 127.0.0.1 for a bare-metal run); --host on the command line still wins.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HOME=/data/huggingface \
    ROUTET2I_GATEWAY_SERVER__HOST=0.0.0.0 \
    ROUTET2I_WORKER_SERVER__HOST=0.0.0.0

WORKDIR /app
USER routet2i
VOLUME ["/data/huggingface"]
# gateway, edge worker, cloud worker (the ports of configs/gateway.yaml, edge-*.yaml, cloud-*.yaml)
EXPOSE 8000 8001 8002

# Liveness of whichever role runs: the script finds the port from the routet2i command line and
# its config (--port, else server.port with its service's ROUTET2I_ overrides). docker-compose.yml overrides
# this with explicit URLs (/readyz for the workers).
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py", "/healthz"]

ENTRYPOINT ["tini", "--", "routet2i"]
CMD ["gateway", "--config", "configs/gateway.yaml"]
