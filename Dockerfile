# agora-exporter container image.
#
#   docker build -t agora-exporter .
#   docker run -p 10042:10042 agora-exporter --demo          # against the embedded simulator
#   docker run -p 10042:10042 -v agora-state:/var/lib/agora-exporter \
#     -v $PWD/agora.yml:/etc/agora-exporter/agora.yml:ro \
#     -v $PWD/secrets:/run/secrets/agora:ro agora-exporter
#
# Credentials: files customer_id and customer_secret in /run/secrets/agora (the
# secrets directory set below; deploy/docker-compose.secrets.yml mounts Docker
# secrets there), or AGORA_EXPORTER_AGORA__CUSTOMER_ID/_SECRET.
#
# The base is pinned to a Debian release (bookworm), so a rebuild never moves to the
# next Debian under the exporter. To pin it to the byte, pass the digest you have
# checked: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
# (docker buildx imagetools inspect python:3.11-slim-bookworm shows it).
# REVISION and CREATED fill those OCI labels:
#   --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%FT%TZ)
# VERSION is pyproject.toml's version: pip installs exactly that one, so the label
# cannot drift from the package (tests/deploy/test_image.py holds the two equal).
# COPY --chmod needs BuildKit, Docker's default builder since 23.0.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG REVISION=unknown
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# agora_exporter_build_info{revision}: the commit, kept in the wheel (not a commit hash: "unknown").
RUN printf '%s\n' "${REVISION}" > exporter/serving/REVISION \
    && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="agora-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the Agora Analytics REST API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/agora-exporter/agora-exporter" \
      org.opencontainers.image.url="https://github.com/agora-exporter/agora-exporter" \
      org.opencontainers.image.documentation="https://github.com/agora-exporter/agora-exporter/blob/main/README.md" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# AGORA_EXPORTER_SECRETS_DIR is the directory the credentials are read from, not a secret.
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGORA_EXPORTER_STATE_DIR=/var/lib/agora-exporter \
    AGORA_EXPORTER_SECRETS_DIR=/run/secrets/agora
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "agora-exporter==${VERSION}" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --no-create-home --shell /usr/sbin/nologin agora \
    && install -d -o agora -g agora -m 0750 /var/lib/agora-exporter /run/secrets/agora
# GET /-/healthy on the address and scheme the running exporter was given
# (--web.listen-address, --web.config.file), read from its command line.
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/agora-exporter-healthcheck
USER 10001:10001
WORKDIR /var/lib/agora-exporter
VOLUME ["/var/lib/agora-exporter"]
EXPOSE 10042
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["agora-exporter-healthcheck"]
ENTRYPOINT ["agora-exporter"]
CMD ["--config.file=/etc/agora-exporter/agora.yml"]
