# syntax=docker/dockerfile:1.7
#
# spincrud host-runner image: the native host-runner binary plus spin.toml and the built
# Spin components and the /docs site (at the paths spin.toml names), so the container can run either engine
# (ENGINE=native, the default, or ENGINE=wasm). Small and non-root: distroless, uid 65532.
#
#   docker build -t spincrud-host-runner:dev .
#   docker run --rm -p 3000:3000 spincrud-host-runner:dev      # embedded SQLite + KV
#
# The SpinKube flavour does not use this image for the API (it runs the Spin OCI artifact
# pushed with `spin registry push`), only for its migration Job (`host-runner migrate`).

############################ build ############################
FROM docker.io/library/rust:1.95-bookworm AS build

# Spin components are wasm32-wasip1; sqlx's bundled SQLite needs the C compiler the
# rust image already has; TLS is rustls (no OpenSSL); the /docs page comes from npm.
RUN rustup target add wasm32-wasip1 && \
    apt-get update && apt-get install -y --no-install-recommends npm=9.2.0~ds1-1 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Cache mounts keep the registry and target dir between builds; the results are copied
# out of the cached target dir within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eux; \
    cargo build --release -p host-runner; \
    make components; \
    mkdir -p /out/bin /out/app/target/wasm32-wasip1/release /out/var/lib/spincrud; \
    cp target/release/host-runner /out/bin/host-runner; \
    cp target/wasm32-wasip1/release/*.wasm /out/app/target/wasm32-wasip1/release/; \
    cp -R target/docs-ui /out/app/target/docs-ui; \
    cp spin.toml /out/app/spin.toml; \
    if [ -d data ]; then cp -R data /out/app/data; fi; \
    /out/bin/host-runner --help >/dev/null

########################### runtime ###########################
# glibc, libgcc and CA certificates, no shell, no package manager; "nonroot" = uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

LABEL org.opencontainers.image.title="spincrud host-runner" \
      org.opencontainers.image.description="spincrud REST API: native host-runner with the Spin components (wasm engine)" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/bin/host-runner /usr/local/bin/host-runner
COPY --from=build /out/app/ /app/
# DATA_DIR (embedded stores, wasm compile cache): writable by the runtime user. In
# Kubernetes an emptyDir is mounted here (the root filesystem is read-only).
COPY --from=build --chown=65532:65532 /out/var/lib/spincrud/ /var/lib/spincrud/

# spin.toml (for ENGINE=wasm) is in the working directory.
WORKDIR /app
ENV LISTEN=0.0.0.0:3000 \
    DATA_DIR=/var/lib/spincrud \
    ENGINE=native

USER 65532:65532
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/host-runner"]
CMD ["serve"]
