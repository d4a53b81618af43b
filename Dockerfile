# mcp-policy, for `mcp-policy proxy` (and every other subcommand).
#
#   docker build -t mcp-policy .
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/deploy:/etc/mcp-policy:ro" mcp-policy \
#     proxy --config /etc/mcp-policy/proxy.yaml
#
# The runtime image has no shell and no package manager, and runs as an
# unprivileged user. It suits an HTTP upstream (another container, or a
# sidecar in the same pod). For a stdio upstream the command must exist in
# the image: copy /usr/local/bin/mcp-policy into the server's own image
# (`COPY --from=mcp-policy /usr/local/bin/mcp-policy /usr/local/bin/`).
# See docs/deploy.md.

# ---- build ----
FROM rust:1-bookworm AS build
# aws-lc-rs (TLS and token signatures) builds its C library with cmake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mcp-policy-cli \
 && install -m 0755 target/release/mcp-policy /usr/local/bin/mcp-policy

# ---- run ----
# glibc and libgcc only: what a Rust binary linking aws-lc needs.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/mcp-policy /usr/local/bin/mcp-policy
USER nonroot:nonroot
# 8080: the MCP listener; 9090: the admin listener, when --admin-bind asks.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/mcp-policy"]
CMD ["proxy", "--help"]
