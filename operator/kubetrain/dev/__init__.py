"""The local development cluster: control plane, kwok node pools, the local node, S3."""
