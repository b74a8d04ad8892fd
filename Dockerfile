# The oam-wasm controller image (deploy/deployment.yaml runs it):
#
#   docker build -t oam-wasm:0.1.0 .
#
# Build stage: the pinned toolchain (rust-toolchain.toml) plus wasm32-wasip2,
# which host/build.rs needs to compile the built-in plugins it embeds.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY rust-toolchain.toml ./
RUN rustup target add wasm32-wasip2
COPY . .
# No debug info and stripped: about 38 MB instead of about 235 MB (the
# workspace's release profile keeps line tables for benchmarks).
RUN CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked -p oam-wasm \
    && cp target/release/oam-wasm /oam-wasm

# Runtime: distroless with glibc and libgcc_s (what the binary links), CA
# certificates for `url:` plugins, no shell, user 65532 (`nonroot`).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /oam-wasm /usr/local/bin/oam-wasm
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/oam-wasm"]
CMD ["run"]
