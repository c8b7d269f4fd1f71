# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on distroless, for amd64 and arm64
# (docker buildx build --platform linux/amd64,linux/arm64 .).

# The Go go.mod names (its go line); deploy/test checks that they agree.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/oauth-callback-server ./cmd/oauth-callback-server

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.licenses="MIT"
COPY --from=build /out/oauth-callback-server /oauth-callback-server
USER 65532:65532
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/oauth-callback-server", "healthcheck"]
ENTRYPOINT ["/oauth-callback-server"]
