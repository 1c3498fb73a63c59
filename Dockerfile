# syntax=docker/dockerfile:1
# auth-sidecar image: a builder stage makes a wheel and a venv from the lock; the final stage is
# the slim base plus that venv, run as a numeric non-root user (Kubernetes runAsNonRoot checks
# numeric ids). Build: docker build -t auth-sidecar:dev .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers live here only, for the rare platform without a wheel (hiredis, uvloop).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# README.md is the package's long description (pyproject `readme`): the build needs it.
COPY pyproject.toml requirements.lock README.md ./
COPY sidecar ./sidecar
# requirements.lock is the full freeze (dev tools too): used as constraints, it pins exactly the
# runtime set that the wheel's metadata asks for, and nothing else gets installed.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --constraint requirements.lock "$(ls /wheels/*.whl)[fast,tracing]" \
 && /opt/venv/bin/pip uninstall --yes pip \
 && /opt/venv/bin/python -c "import sidecar, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8080 9090
# The slim image has no curl: the health check uses the interpreter (Docker only; Kubernetes
# uses the chart's probes on the admin port).
HEALTHCHECK --interval=30s --timeout=3s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2)"]
ENTRYPOINT ["auth-sidecar"]
CMD []
