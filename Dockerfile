# A minimal image of Lockbox. Not built on the machines it was written on (no Docker there).
#   docker build -t lockbox .
#   docker run -p 8443:8443 -v lockbox:/data lockbox
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No scripts yet (prepare would build before the sources are here); better-sqlite3's install
# script then fetches its prebuilt binary, or compiles it with this image's build tools.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY bin bin
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
# The data directory must be Lockbox's user's alone (mode 0700).
RUN mkdir -m 700 /data && chown node:node /data
USER node
ENV LOCKBOX_DATA_DIR=/data LOCKBOX_HOST=0.0.0.0
VOLUME /data
EXPOSE 8443
ENTRYPOINT ["node", "bin/lockbox.js"]
CMD ["serve"]
