# Static, non-root image of drover.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t drover .
# It runs as UID/GID 65532, which owns the data volume /var/lib/drover. For
# an SSH remote, mount a known_hosts file and point --ssh-known-hosts (or
# DROVER_SSH_KNOWN_HOSTS) at it: see docs/guides/install.md.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/drover ./cmd/drover \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="drover" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/drover /usr/local/bin/drover
COPY --from=build --chown=65532:65532 /out/data /var/lib/drover
ENV DROVER_DATA_DIR=/var/lib/drover \
    DROVER_LISTEN=0.0.0.0:8680
USER 65532:65532
EXPOSE 8680
VOLUME ["/var/lib/drover"]
ENTRYPOINT ["/usr/local/bin/drover"]
CMD ["agent"]
