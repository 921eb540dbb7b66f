# agora-exporter container image.
#
#   docker build -t agora-exporter .
#   docker run -p 10042:10042 agora-exporter --demo          # against the embedded simulator
#   docker run -p 10042:10042 -v agora-state:/var/lib/agora-exporter \
#     -v $PWD/agora.yml:/etc/agora-exporter/agora.yml:ro \
#     -v $PWD/secrets:/run/secrets/agora:ro agora-exporter
#
# Credentials: files customer_id and customer_secret in /run/secrets/agora (the
# secrets directory set below), or AGORA_EXPORTER_AGORA__CUSTOMER_ID/_SECRET.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGORA_EXPORTER_STATE_DIR=/var/lib/agora-exporter \
    AGORA_EXPORTER_SECRETS_DIR=/run/secrets/agora
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels agora-exporter \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --no-create-home --shell /usr/sbin/nologin agora \
    && install -d -o agora -g agora -m 0750 /var/lib/agora-exporter /run/secrets/agora
USER 10001:10001
WORKDIR /var/lib/agora-exporter
VOLUME ["/var/lib/agora-exporter"]
EXPOSE 10042
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10042/-/healthy', timeout=4)"]
ENTRYPOINT ["agora-exporter"]
CMD ["--config.file=/etc/agora-exporter/agora.yml"]
