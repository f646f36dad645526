"""What the tests share, written once: manifests, the examples, the trainer's environment, the
dev cluster handle and the operator harness. Tests import helpers from here, never from a
conftest (conftests only declare fixtures)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
