"""Apply the SQL migrations in `migrations/` with yoyo (a command does this, never an import)."""

from __future__ import annotations

from importlib import resources

from yoyo import get_backend, read_migrations


def _yoyo_url(url: str) -> str:
    # yoyo picks its driver from the scheme; psycopg 3 is `postgresql+psycopg`.
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration; returns the ids applied (empty when already up to date)."""
    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(resources.files("vidpipe.db").joinpath("migrations")))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]
