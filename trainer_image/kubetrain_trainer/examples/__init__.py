"""Example scripts shipped in the trainer image (used by examples/custom-code.yaml)."""
