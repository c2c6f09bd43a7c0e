# dff-real/dataflux-func: the equivalent of upstream's release build (Dockerfile-singleton) on top of dff-real/base.
# Context: the release tree unpacked from the upstream tarball by tests/images/real/build (upstream's .dockerignore
# applies), with image-info.json written by upstream's echo-image-info.py as upstream's CI does (VERSION = the tag).
# Upstream downloads a fresh guance-node-urls.json here; the committed copy is kept (unreachable).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ENV PYTHONPATH=:/usr/src/app
WORKDIR /usr/src/app
COPY . .
RUN ln -s /usr/src/base/node_modules ./node_modules \
 && find /usr/src -name .travis.yml -type f -delete && find /usr/src -name .coveralls.yml -type f -delete \
 && groupadd -r -g 1000 guance && useradd -r -g guance -u 1000 -s /sbin/nologin guance \
 && chown -R guance:guance /usr/src /data
RUN cp docker-entrypoint.sh /usr/local/bin/ && chmod +x /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
ARG VERSION
LABEL dff.source="GuanceCloud/dataflux-func ${VERSION}, rebuilt from its source release by tests/images/real/build"
