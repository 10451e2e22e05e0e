# One image with every pushmesh binary; docker-compose.yml and k8s/ pick one per container.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# make for jemalloc's C build (tikv-jemalloc-sys); the slim image has gcc but not make.
RUN apt-get update && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --workspace --bins \
 && mkdir /out \
 && cp target/release/ingest target/release/presence target/release/registry \
       target/release/dispatch-fcm target/release/dispatch-apns target/release/dispatch-huawei \
       target/release/dispatch-xiaomi target/release/dispatch-oppo target/release/dispatch-vivo \
       target/release/dispatch-honor target/release/vendor-sim target/release/pushmesh-cli /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 pushmesh \
 && useradd --system --uid 10001 --gid pushmesh --home /var/lib/pushmesh pushmesh \
 && mkdir -p /var/lib/pushmesh /etc/pushmesh && chown pushmesh /var/lib/pushmesh
COPY --from=build /out/ /usr/local/bin/
COPY config/docker.toml /etc/pushmesh/pushmesh.toml
COPY fixtures/ /etc/pushmesh/fixtures/
ENV PUSHMESH_CONFIG=/etc/pushmesh/pushmesh.toml
USER pushmesh
WORKDIR /var/lib/pushmesh
