# The Conveyor image: one image for every role. Default: a worker; `conveyor api`, `conveyor setup` or
# `conveyor doctor` as the command run the others. Settings come from CONVEYOR_* environment variables at run
# time: nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what `pip install .` needs: the runtime dependencies, not the test extra.
COPY pyproject.toml README.md ./
COPY conveyor ./conveyor
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
RUN pip install . && rm -rf /app/build

RUN useradd --create-home --uid 10001 --user-group conveyor
USER conveyor

# A worker stops polling on SIGTERM and lets running activities finish (CONVEYOR_GRACEFUL_SHUTDOWN_SECONDS).
STOPSIGNAL SIGTERM
CMD ["conveyor", "worker"]
