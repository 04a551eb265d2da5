# One image, three roles (APP_ROLE=all|api|worker).
# Pinned like the images in docker-compose.yml: a rebuild later gets the same Node; raise it on purpose.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/complete-lockfile.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json mikro-orm.config.ts ./
COPY src ./src
# The CLI (bin pixbatch) is compiled together with the generated SDK it uses.
COPY clients/typescript/src ./clients/typescript/src
# The web page (built by vite into dist/web, served by the API role at /); its
# build reads openapi.json for the upload options the server accepts.
COPY openapi.json ./
COPY web ./web
RUN npm run build && npm prune --omit=dev

FROM node:24.21.0-bookworm-slim
# MALLOC_ARENA_MAX: see docs/operations.md, Performance (less worker memory with libvips' threads).
ENV NODE_ENV=production STORAGE_DIR=/data/storage MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The sample image server, for compose's `images` service (profile samples); sharp is already here.
COPY examples ./examples
RUN mkdir -p /data/storage && chown -R node:node /data
USER node
EXPOSE 3000
# The flags of package.json config.nodeFlags (what `npm start` uses); see docs/operations.md, Performance.
CMD ["node", "--max-semi-space-size=4", "dist/src/main.js"]
