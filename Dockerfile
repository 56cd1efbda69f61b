# syntax=docker/dockerfile:1
# Production image: runtime dependencies only (no embedded dev store, no test tools), non-root.
# Everything comes from requirements/runtime.txt with its hashes checked: the image resolves
# nothing, so it runs exactly the versions the test suite ran (tests/deploy/test_lock.py).
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/enrollwire
COPY requirements/runtime.txt requirements/runtime.txt
RUN /opt/enrollwire/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY api api
COPY domain domain
COPY integrations integrations
COPY jobs jobs
COPY realtime realtime
COPY resolvers resolvers
# Development-only routes live here too; production never mounts them (server/settings.py).
COPY sandbox sandbox
COPY server server
COPY store store
COPY web web
RUN /opt/enrollwire/bin/pip install --no-cache-dir --no-deps --no-build-isolation .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app enrollwire
WORKDIR /app
COPY --from=build /opt/enrollwire /opt/enrollwire
USER enrollwire
ENV PATH=/opt/enrollwire/bin:$PATH \
    ENROLLWIRE_ENV=production \
    ENROLLWIRE_HOST=0.0.0.0 \
    ENROLLWIRE_PORT=8000 \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["enrollwire", "serve"]
