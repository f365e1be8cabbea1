# syntax=docker/dockerfile:1
#
# TakeANumber: docker build -t take-a-number .
#              docker run -d -p 5000:5000 -v takeanumber-data:/data take-a-number
# See README.md, "Docker". test/docker.test.ts checks this file and runs its
# entrypoint, environment and health check outside a container.

# Build: compile better-sqlite3's SQLite from source (against this Debian's
# glibc, the runtime's too), build the client SDK and dist/, then drop the dev
# dependencies.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# No prebuilt binary download: build the addon here, with the headers of this Node.
ENV npm_config_build_from_source=true \
    npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
# The client SDK is an npm workspace the CLI depends on: npm ci needs its manifest.
COPY packages/client/package.json ./packages/client/
# Scripts run below, once the sources are here (prepare would build without them).
RUN npm ci --ignore-scripts \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client/tsconfig.json ./packages/client/
COPY packages/client/src ./packages/client/src
COPY src ./src
COPY console ./console
COPY scripts/build-console.ts ./scripts/
# node_modules/take-a-number-client is a link to packages/client, which the
# runtime stage does not copy: it becomes a real copy of the built package.
RUN npm run build \
 && npm prune --omit=dev \
 && rm node_modules/take-a-number-client \
 && mkdir node_modules/take-a-number-client \
 && cp -r packages/client/package.json packages/client/dist node_modules/take-a-number-client/

# Runtime: Node, the built service and its production dependencies; no compilers.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The store lives in /data, owned by the unprivileged user "node" (uid 1000) of
# the Node image; the code stays root's and read-only to the service.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
ENV TAKEANUMBER_STORE=sqlite:/data/takeanumber.db \
    PORT=5000 \
    HOST=0.0.0.0
EXPOSE 5000
# Liveness with Node itself (the slim image has no curl): GET /healthz on this
# container's $PORT; HTTPS when TLS is configured through the environment.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const tls = Boolean(process.env.TAKEANUMBER_TLS_CERT); const request = require(tls ? 'https' : 'http').get({ host: '127.0.0.1', port: process.env.PORT || 5000, path: '/healthz', rejectUnauthorized: false, timeout: 3000 }, (response) => process.exit(response.statusCode === 200 ? 0 : 1)); request.on('timeout', () => process.exit(1)); request.on('error', () => process.exit(1));"]
# SIGTERM: the service stops accepting, answers what is in flight, closes the store, exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
