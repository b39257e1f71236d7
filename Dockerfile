# calbot: the API and its in-process workers, one replica per container.
#   docker build -t calbot .
#   docker run -p 8000:8000 -v calbot-data:/data calbot
# AWS deployment (several replicas, AWS backends): docs/deploy-aws.md.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY app ./app
RUN python -m venv /opt/calbot && /opt/calbot/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/calbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    PORT=8000
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent calbot \
    && mkdir /data && chown calbot:calbot /data
COPY --from=build /opt/calbot /opt/calbot
USER calbot
VOLUME ["/data"]
EXPOSE 8000
# No curl in slim images: probe /healthz with Python's urllib (a non-2xx answer raises: exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1
# Exec form: calbot is PID 1 and gets SIGTERM itself, so uvicorn shuts down gracefully.
CMD ["calbot", "serve", "--host", "0.0.0.0"]
