# The service, run from its TypeScript sources with tsx (no build step to keep in sync).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY fixtures ./fixtures
# The code stays root's, read-only to the service. What the service writes (snapshots and rejected records
# in state/, models and run history in models/) lives on one volume that its user owns: created and chowned
# here, before VOLUME, so that a fresh named volume starts with that owner and content.
RUN mkdir -p /var/lib/alcor-clusters/state /var/lib/alcor-clusters/models && chown -R 1000:1000 /var/lib/alcor-clusters
COPY --chown=1000:1000 models /var/lib/alcor-clusters/models
VOLUME /var/lib/alcor-clusters
# HOST=0.0.0.0 makes the port reachable from outside the container, so the service refuses to start without
# API_KEYS, or ALLOW_OPEN_API=true given at run time on purpose (never here): see docs/deploy.md.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 STATE_DIR=/var/lib/alcor-clusters/state MODELS_DIR=/var/lib/alcor-clusters/models
EXPOSE 8080
# The image's `node` user by number (uid and gid 1000), so that a runtime can verify it is not root
# (Kubernetes' runAsNonRoot cannot with a name).
USER 1000:1000
CMD ["node", "--import", "tsx", "src/main.ts"]
