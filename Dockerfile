# Dockerfile — `vlm serve` in a container (Debian 12): built from this tree, packaged with CPack
# and installed from its .deb, so the image holds only vlm and Debian's runtime packages.
#   docker build -t vlm .
#   docker run --rm -p 8080:8080 -v "$HOME/models:/models" vlm -m /models/sam_vit_b.safetensors \
#       --clip /models/clip_vit_b_32.safetensors
# Models come from the /models volume; the page is then at http://127.0.0.1:8080/.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake make gcc pkg-config libpng-dev \
        libjpeg62-turbo-dev libvulkan-dev glslang-tools libstb-dev libopenblas-openmp-dev libcjson-dev \
        libmicrohttpd-dev libwebp-dev zlib1g-dev libcurl4-openssl-dev dpkg-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DVLM_BUILD_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" \
    && cd /build && cpack -G DEB

FROM debian:bookworm-slim
COPY --from=build /build/vlm_*.deb /tmp/
RUN apt-get update && apt-get install -y --no-install-recommends /tmp/vlm_*.deb mesa-vulkan-drivers \
    && rm -rf /var/lib/apt/lists/* /tmp/vlm_*.deb
VOLUME /models
EXPOSE 8080
ENTRYPOINT ["vlm", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["-m", "/models/sam_vit_b.safetensors"]
