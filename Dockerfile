# Warden's own image: the exporter and the responder (one image, two commands).
FROM python:3.11.9-slim-bookworm

# git for the exporter's git collector and change watch; nothing else is needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY warden ./warden
COPY exporter ./exporter
COPY responder ./responder
COPY examples ./examples
COPY docs ./docs
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /var/lib/warden --create-home warden
USER warden
ENTRYPOINT ["warden"]
CMD ["--help"]
