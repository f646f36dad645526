# The operator image: `kubetrain operator` (what the Helm chart's Deployment runs).
#
#   docker build -t kubetrain/operator:dev .
#
# It carries no ML libraries: trainers run in the trainer image (trainer_image/Dockerfile).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/kubetrain ./operator/kubetrain
COPY trainer_image/kubetrain_trainer ./trainer_image/kubetrain_trainer
RUN pip install ".[operator]" && rm -rf /src

RUN useradd --uid 1000 --create-home kubetrain
USER 1000
EXPOSE 8080 8081
ENTRYPOINT ["kubetrain", "operator"]
CMD ["--all-namespaces"]
