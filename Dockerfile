# Kaptain's image for users with a container engine. Without one, scripts/build-image.sh
# builds the same image (release binary, Debian's libc6/libgcc-s1/ca-certificates, user 65532,
# entrypoint kaptain) as an OCI archive.
#
#   docker build -t kaptain/kaptain:0.1.0 .
#
# Runs with a read-only root filesystem: nothing is written outside mounted volumes
# (`kaptain serve` keeps its SQLite database and key where --database-url and
# --secret-key-file say; the chart mounts a volume at /var/lib/kaptain).

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kaptain --bin kaptain \
 && strip --strip-debug target/release/kaptain

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /sbin/nologin nonroot \
 && install -d -o 65532 -g 65532 /var/lib/kaptain
COPY --from=build /src/target/release/kaptain /usr/local/bin/kaptain
USER 65532:65532
ENV HOME=/home/nonroot SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title=kaptain org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/kaptain"]
CMD ["--help"]
