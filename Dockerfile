# Pharos as a container image: built from this workspace in a Rust image, run in a slim
# Debian one as a non-root user.
#
#   docker build --build-arg PHAROS_COMMIT="$(git rev-parse --short=12 HEAD)" -t pharos .
#   docker run -d --name pharos -p 127.0.0.1:9800:9800 -v pharos-data:/var/lib/pharos pharos
#   docker exec pharos cat /var/lib/pharos/admin_token
#
# Your own config: -v "$PWD/pharos.yaml:/etc/pharos/pharos.yaml:ro" (check it first with
# `docker run --rm -v ...:ro pharos check --config /etc/pharos/pharos.yaml`); secrets it
# names as ${NAME} with -e NAME=... or --env-file. docs/operations.md, "Docker".

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The image has no .git: `pharos --version` names the commit given here.
ARG PHAROS_COMMIT=unknown
ENV PHAROS_COMMIT=${PHAROS_COMMIT} CARGO_INCREMENTAL=0
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p pharos --locked \
    && install -m 0755 target/release/pharos /usr/local/bin/pharos \
    && strip --strip-unneeded /usr/local/bin/pharos

FROM debian:bookworm-slim
# ca-certificates: HTTPS monitors, receivers and OIDC check certificates against the
# system's trust store. Nothing else: the binary links only glibc (SQLite is compiled in,
# TLS is rustls). Not pinned to a version: the trust store should follow Debian's updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/pharos \
       --no-create-home --shell /usr/sbin/nologin pharos \
    && install -d -o pharos -g pharos -m 0700 /var/lib/pharos \
    && install -d -m 0755 /etc/pharos
COPY --from=build /usr/local/bin/pharos /usr/bin/pharos
COPY packaging/pharos.yaml /etc/pharos/pharos.yaml
# Every interface inside the container: publishing the port (-p) decides who reaches it.
ENV PHAROS_LISTEN=0.0.0.0:9800 \
    PHAROS_DATA_DIR=/var/lib/pharos \
    PHAROS_CONFIG=/etc/pharos/pharos.yaml \
    PHAROS_LOG_FORMAT=json
# Numeric, so that runtimes which check for a non-root user (runAsNonRoot) can tell.
USER 10001:10001
WORKDIR /var/lib/pharos
VOLUME /var/lib/pharos
EXPOSE 9800
# No curl in a slim image: `pharos health` asks /health/live on PHAROS_LISTEN's port.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/bin/pharos", "health"]
ENTRYPOINT ["/usr/bin/pharos"]
CMD ["serve"]
