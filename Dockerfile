# The service, run from its TypeScript sources with tsx (no build step to keep in sync).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY fixtures ./fixtures
COPY models ./models
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 STATE_DIR=/app/state MODELS_DIR=/app/models
EXPOSE 8080
USER node
CMD ["node", "--import", "tsx", "src/main.ts"]
