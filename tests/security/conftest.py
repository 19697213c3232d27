"""The security tier reuses the gateway tier's real-service fixtures (Postgres, moto, the app, tokens)."""

from __future__ import annotations

from ..gateway.conftest import client

__all__ = ["client"]
