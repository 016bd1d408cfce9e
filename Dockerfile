# livepilot: the co-pilot server. Build: docker build -t livepilot .
# Run the demo:  docker run -p 8080:8080 livepilot   (the console URL is printed)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LIVEPILOT_HOST=0.0.0.0 \
    LIVEPILOT_PORT=8080

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY rules ./rules
COPY overlays ./overlays
# The CPU build of torch first; the ML extra (Detoxify) would otherwise pull CUDA wheels.
# Behind a mirror: --build-arg TORCH_INDEX_URL=<a mirror of the CPU torch index> and, for
# everything else, --build-arg PIP_INDEX_URL=... (PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST too):
# pip reads them from the environment while the image is built; the running container does
# not see them (`docker history` does: no credentials in them).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION" \
 && pip install -c constraints.txt ".[ml]" \
 && useradd --create-home --uid 10001 livepilot \
 && install -d -o livepilot -g livepilot /var/lib/livepilot

USER livepilot
# Mount a volume here to keep stream history and tokens (deploy/compose.yaml does):
# LIVEPILOT_DATA_DIR=/var/lib/livepilot. It belongs to the livepilot user, so a new named
# volume does too. Without a mount, Docker makes an anonymous volume, so a restarted
# container still finds its SQLite store (the audit log, strikes, question history):
#   docker run -v livepilot-data:/var/lib/livepilot -p 8080:8080 livepilot
ENV LIVEPILOT_DATA_DIR=/var/lib/livepilot
VOLUME ["/var/lib/livepilot"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LIVEPILOT_PORT','8080'), timeout=2)"
CMD ["livepilot", "demo", "--no-browser"]
