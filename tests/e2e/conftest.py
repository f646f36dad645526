"""End-to-end tests reuse the operator harness of the integration tests."""

from tests.integration.conftest import crd_installed, harness

__all__ = ["crd_installed", "harness"]
