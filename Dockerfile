# Production image for the API and the worker (same image, different command).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --uid 10001 --home /app pulse

COPY pyproject.toml README.md ./
COPY api ./api
COPY schema ./schema
COPY models ./models
COPY jobs ./jobs
COPY migrations ./migrations
RUN pip install . && mkdir -p /data/uploads && chown -R pulse /data

USER pulse
ENV ENVIRONMENT=production \
    UPLOAD_DIR=/data/uploads
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["python", "-m", "api", "serve", "--host", "0.0.0.0", "--port", "8000"]
