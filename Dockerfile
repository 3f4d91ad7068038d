# syntax=docker/dockerfile:1
# Build: a static binary (pure-Go SQLite, no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces the BER decoder with the patched copy in third_party.
COPY third_party ./third_party
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/rosterd ./cmd/rosterd \
 && mkdir -p /out/data

# Run: no shell, no package manager, a non-root user, CA certificates and
# time zones included (distroless/static carries both).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rosterd /usr/local/bin/rosterd
# The volume's mount point belongs to the user the daemon runs as.
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rosterd"]
# Listen on every interface inside the container; data (the SQLite file)
# under /data. Mount a configuration file and add --config to change more.
CMD ["serve", "--data-dir", "/data", "--listen", "0.0.0.0:8080"]
