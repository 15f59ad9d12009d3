# agentops-cockpit as a container image: the binary as entrypoint.
#
#   docker build -t agentops-cockpit .
#   docker run --rm -v "$PWD:/work" agentops-cockpit certify --config cockpit.toml
#
# Two stages: the toolchain builds with the `dist` profile (stripped, thin
# LTO, one codegen unit); the runtime is distroless (glibc, CA
# certificates, no shell, no package manager) and runs as the non-root
# user 65532. The release workflow builds and pushes it; the test
# crates/agentops-cockpit/tests/packaging.rs checks this file's commands.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --profile dist -p agentops-cockpit \
 && install -m 0755 target/dist/agentops-cockpit /usr/local/bin/agentops-cockpit

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/agentops-cockpit/agentops-cockpit" \
      org.opencontainers.image.description="Audit, score and gate the infrastructure of AI agent services" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /usr/local/bin/agentops-cockpit /usr/local/bin/agentops-cockpit
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/agentops-cockpit"]
CMD ["--help"]
