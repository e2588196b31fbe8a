# Build stage: the TypeScript compiler and the other dev dependencies compile src/ to dist/ (npm run build);
# none of them reach the image that runs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall fixes kafkajs' read_committed filter (scripts/patch-kafkajs.mjs): the script first.
COPY scripts/patch-kafkajs.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN npm run build

# The service: production dependencies and the compiled output only, with the bundled traces (.dockerignore
# keeps local models, state, caches and test output out of the build context).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/patch-kafkajs.mjs ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY fixtures ./fixtures
# The code stays root's, read-only to the service. What the service writes (snapshots and rejected records
# in state/, models and run history in models/) lives on one volume that its user owns: created and chowned
# here, before VOLUME, so that a fresh named volume starts with that owner (and empty: no local models).
RUN mkdir -p /var/lib/alcor-clusters/state /var/lib/alcor-clusters/models && chown -R 1000:1000 /var/lib/alcor-clusters
VOLUME /var/lib/alcor-clusters
# HOST=0.0.0.0 makes the port reachable from outside the container, so the service refuses to start without
# API_KEYS, or ALLOW_OPEN_API=true given at run time on purpose (never here): see docs/deploy.md.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 STATE_DIR=/var/lib/alcor-clusters/state MODELS_DIR=/var/lib/alcor-clusters/models
EXPOSE 8080
# The image's `node` user by number (uid and gid 1000), so that a runtime can verify it is not root
# (Kubernetes' runAsNonRoot cannot with a name).
USER 1000:1000
CMD ["node", "dist/main.js"]
