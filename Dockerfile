# cnnzoo for NVIDIA GPUs (default) or the CPU:
#   docker build -t cnnzoo:gpu .
#   docker build -t cnnzoo:cpu --build-arg VARIANT=cpu .
# Usage, volumes, Kaggle credentials and GPU prerequisites: docs/docker.md.
#
# Why python:3.12-slim plus TensorFlow's pip CUDA wheels rather than tensorflow/tensorflow:2.21.0-gpu:
# - `pip install tensorflow[and-cuda]` is TensorFlow's own GPU install path. CUDA, cuDNN, cuBLAS,
#   NCCL and ptxas arrive as pip wheels in the version ranges TensorFlow declares for them (CUDA 12,
#   cuDNN 9), so the host needs only the NVIDIA driver and the NVIDIA Container Toolkit. The official
#   -gpu images carry a system CUDA/cuDNN of their own instead, and recent ones have shipped unable
#   to see the GPU (tensorflow/tensorflow#81344 for 2.18.0-gpu, #85689, #94593 for latest-gpu).
# - The official images put TensorFlow in the system Python, outside our lock. Here every
#   third-party package comes from one hashed lock, resolved from pyproject.toml together with
#   TensorFlow: the versions a fresh `pip install cnnzoo[cuda]` got on the day the lock was made.
# - The CPU variant is the same image without the CUDA wheels.
# Python 3.12 (TensorFlow 2.21 ships wheels for 3.10 to 3.13) must match `--python-version` in the
# lock headers; tests/test_docker.py checks it.
FROM python:3.12-slim-trixie

LABEL org.opencontainers.image.title="cnnzoo" \
      org.opencontainers.image.description="Train the classic CNNs (LeNet, AlexNet, GoogLeNet, ResNet-18) from a YAML config" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

ARG VARIANT=gpu
RUN case "$VARIANT" in gpu|cpu) ;; \
      *) echo "VARIANT must be gpu or cpu, got '$VARIANT'" >&2; exit 1 ;; \
    esac

# Dependencies first, from the lock alone: editing cnnzoo's code, configs or even pyproject.toml
# reuses this layer, so TensorFlow is not downloaded again. The cache mount keeps the wheels out of
# the image but lets a changed lock reuse them.
COPY requirements/docker-${VARIANT}.lock /tmp/requirements.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv "$VIRTUAL_ENV" \
    && pip install --require-hashes --only-binary=:all: --requirement /tmp/requirements.lock

# UID/GID 1000 is the first user on most Linux hosts, so bind mounts just work for them; everyone
# else runs with --user "$(id -u):$(id -g)" (docs/docker.md). /data and /workspace/runs belong to this
# user so that named volumes, which copy the mount point's owner, are writable too. The home folder
# is left readable (useradd makes it 0700) so that any --user UID finds ~/.kaggle: the Kaggle client
# otherwise tries to create ~/.config/kaggle when imported, and fails.
RUN groupadd --gid 1000 cnnzoo \
    && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/cnnzoo --shell /bin/bash cnnzoo \
    && mkdir -p /data /workspace/runs /home/cnnzoo/.kaggle \
    && chown cnnzoo:cnnzoo /data /workspace /workspace/runs /home/cnnzoo/.kaggle \
    && chmod 0755 /home/cnnzoo

# The package itself, without dependencies (all locked above); `pip check` fails the build if the
# lock no longer satisfies pyproject.toml.
COPY pyproject.toml /usr/src/cnnzoo/
COPY cnnzoo /usr/src/cnnzoo/cnnzoo
RUN pip install --no-cache-dir --no-deps --no-build-isolation /usr/src/cnnzoo \
    && pip check \
    && cnnzoo --version

WORKDIR /workspace
COPY cnnzoo/configs ./configs

# Run-time settings, after the installs: changing them rebuilds nothing heavy, and pip (root, above)
# keeps using root's cache, the one in the cache mount.
# - HOME: `docker run --user UID:GID` with a UID unknown to /etc/passwd would otherwise get /.
# - MPLCONFIGDIR: Matplotlib's cache, in /tmp so that any UID can write it.
# - NVIDIA_DRIVER_CAPABILITIES: by default the NVIDIA Container Toolkit mounts only nvidia-smi
#   (`utility`); `compute` adds libcuda, without which TensorFlow finds no GPU in an image that is
#   not nvidia/cuda. Which GPUs is chosen at run time with `--gpus`.
ENV HOME=/home/cnnzoo \
    MPLCONFIGDIR=/tmp/matplotlib \
    CNNZOO_DATA_DIR=/data \
    PYTHONUNBUFFERED=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

USER 1000:1000
VOLUME ["/data", "/workspace/runs"]
ENTRYPOINT ["cnnzoo"]
CMD ["--help"]
