# The runner image: the project and git, serving the deployments (see docker-compose.yml).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingress2tailscale ingress2tailscale
COPY flows flows
COPY tasks tasks
RUN pip install --no-cache-dir .

WORKDIR /work
ENV PYTHONUNBUFFERED=1
CMD ["python", "-m", "flows.serve", "--config", "/work/config/migration.yaml"]
