"""`vidpipe gateway`: the gateway's command, mounted on the platform CLI through an entry point."""

from __future__ import annotations


def gateway_command() -> None:
    """Serve the gateway API and web UI on GATEWAY_HOST:GATEWAY_PORT."""
    import uvicorn

    from vidpipe.settings import load_settings
    from vidpipe_gateway.app import create_app

    settings = load_settings()
    uvicorn.run(create_app(settings), host=settings.gateway.host, port=settings.gateway.port, log_level="warning")
