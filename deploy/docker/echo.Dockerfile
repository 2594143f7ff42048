# The Go echo handler (clients/go/examples/echo) as an app container for
# compose.yaml and test/deploy: it dials the sidecar's unix socket on the
# shared data volume and serves /echo. Built by `make image` like Dockerfile.
FROM scratch

COPY echo /echo

# The same uid as the sidecar, whose socket is mode 0600.
USER 65532:65532
ENV SYFT_SIDECAR_ADDR=unix:///data/.syft-sidecar/sidecar.sock
ENTRYPOINT ["/echo"]
CMD ["--app", "echo"]
