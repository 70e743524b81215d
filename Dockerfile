# The appgraph service image: the GraphQL API on the embedded SQLite store.
# Build: docker build -t appgraph .
# Run:   docker run -p 8000:8000 -v appgraph-data:/data appgraph
FROM python:3.11-slim AS build

WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY blocks ./blocks
COPY plugins ./plugins
COPY store ./store
COPY workflows ./workflows
RUN python -m pip install --no-cache-dir --upgrade pip \
    && python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim

RUN useradd --system --uid 10001 --home-dir /data appgraph \
    && mkdir -p /data && chown appgraph /data
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

USER appgraph
ENV APPGRAPH_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["appgraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
