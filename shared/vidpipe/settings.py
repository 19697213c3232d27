"""Typed settings, grouped by environment prefix, read once at start-up and passed down.

Nothing here reads the environment at import time: call `load_settings()` in an entry point (the CLI, the
gateway factory, a worker) and hand the result to whatever needs it. Stage services keep their own groups
(`MODERATOR_`, `TRANSCRIBER_`, `SUMMARIZER_`) next to their engines.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Stage = Literal["moderate", "transcribe", "summarize"]
STAGES: tuple[Stage, ...] = ("moderate", "transcribe", "summarize")


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=None, extra="ignore", frozen=True)


class DatabaseSettings(BaseSettings):
    model_config = _group("DB_")

    url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/vidpipe"),
        description="libpq connection URL of the vidpipe database (holds the password, so it is secret).",
    )
    pool_min_size: int = Field(1, ge=0, description="Connections each process keeps open.")
    pool_max_size: int = Field(8, ge=1, description="Most connections one process opens.")


class AWSSettings(BaseSettings):
    model_config = _group("AWS_")

    region: str = Field("us-east-1", description="Region of the bucket and the queues.")
    endpoint_url: str | None = Field(
        None, description="S3/SQS endpoint override: moto or LocalStack on loopback; unset on AWS."
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 endpoint when S3 is served apart from SQS (the embedded stack: SeaweedFS for objects, "
        "moto for queues); endpoint_url when unset.",
    )
    bucket: str = Field("vidpipe-media", description="Bucket for uploads and derived audio.")
    queue_prefix: str = Field(
        "vidpipe-",
        description="Queue names are <prefix><stage> with a dead-letter queue <prefix><stage>-dlq.",
    )

    def s3_endpoint(self) -> str | None:
        """Where S3 requests (and so presigned URLs) go: the S3 override, else the shared one, else AWS."""
        return self.s3_endpoint_url or self.endpoint_url


class WorkerSettings(BaseSettings):
    model_config = _group("WORKER_")

    concurrency: int = Field(1, ge=1, description="Messages one worker process handles at once.")
    prefetch: int = Field(0, ge=0, description="Received but not yet started messages to hold beyond concurrency.")
    wait_time_s: int = Field(10, ge=0, le=20, description="SQS long-poll wait per ReceiveMessage.")
    visibility_timeout_s: int = Field(
        60, ge=5, le=43200, description="How long a received message stays hidden between heartbeats."
    )
    heartbeat_interval_s: float = Field(
        0.0,
        ge=0,
        description="Seconds between visibility extensions; 0 means a third of the visibility timeout.",
    )
    max_receive_count: int = Field(
        4, ge=1, description="Deliveries before SQS moves a message to the DLQ (the queue's redrive policy)."
    )
    retry_base_delay_s: float = Field(5.0, ge=0, description="First back-off after a retryable failure.")
    retry_max_delay_s: float = Field(300.0, ge=0, description="Longest back-off after a retryable failure.")
    shutdown_grace_s: float | None = Field(
        None,
        ge=0,
        description="After SIGTERM, how long in-flight handlers may run before they are cancelled; unset means "
        "the stage's own worst case (moderate 120 s, transcribe 900 s, summarize 900 s).",
    )
    progress_min_interval_s: float = Field(
        1.0, ge=0, description="Fewest seconds between two progress events of one stage (throttles NOTIFY)."
    )
    workdir: str | None = Field(None, description="Scratch directory for downloads; the system temp dir if unset.")
    dead_letter_check_s: float = Field(
        30.0,
        ge=0,
        description="How often the worker looks into its stage's DLQ to fail tasks whose message ended there "
        "(e.g. the worker was killed on the last delivery); 0 turns it off.",
    )
    autoscaling_group: str | None = Field(
        None,
        description="Auto Scaling group of this instance: enables scale-in protection while busy (set by user data).",
    )
    instance_id: str | None = Field(None, description="EC2 instance id, with WORKER_AUTOSCALING_GROUP.")
    scale_in_idle_s: float = Field(
        30.0, ge=0, description="Idle seconds (nothing running or buffered) before scale-in protection is dropped."
    )
    heartbeat_file: str | None = Field(
        None, description="File touched on every receive-loop turn, for a container health check."
    )


class ReconcilerSettings(BaseSettings):
    model_config = _group("RECONCILER_")

    every_s: float = Field(60.0, gt=0, description="Seconds between two passes of `vidpipe sweep`.")
    stuck_after_visibilities: int = Field(
        3,
        ge=2,
        description="A task with no heartbeat, progress or event for this many visibility timeouts (and at "
        "least the longest retry back-off plus one) has lost its message: the sweeper sends it again.",
    )


class StateSettings(BaseSettings):
    model_config = _group("VIDPIPE_")

    state_dir: str | None = Field(
        None,
        description="The embedded stack's state directory (database, objects, logs, local token secret); "
        "default $XDG_DATA_HOME/vidpipe, i.e. ~/.local/share/vidpipe, or /var/lib/vidpipe as root.",
    )


class AuthSettings(BaseSettings):
    model_config = _group("AUTH_")

    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 secret for locally minted tokens (embedded stack, tests). Unset in production.",
    )
    jwks_url: str | None = Field(None, description="JWKS URL of a production identity provider (RS256), e.g. Cognito.")
    issuer: str = Field("vidpipe-local", description="Expected `iss` claim.")
    audience: str = Field("vidpipe", description="Expected `aud` claim.")
    token_ttl_s: int = Field(12 * 3600, ge=60, description="Lifetime of tokens minted by `vidpipe token`.")


class GatewaySettings(BaseSettings):
    model_config = _group("GATEWAY_")

    host: str = Field("127.0.0.1", description="Address the gateway binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port the gateway binds (0 picks a free one).")
    public_url: str | None = Field(None, description="URL clients use to reach the gateway, if not host:port.")
    max_upload_bytes: int = Field(5 * 1024**3, ge=1, description="Largest accepted upload.")
    multipart_threshold_bytes: int = Field(
        64 * 1024**2, ge=5 * 1024**2, description="Uploads at or above this size use S3 multipart."
    )
    multipart_part_bytes: int = Field(
        32 * 1024**2, ge=5 * 1024**2, description="Part size of a multipart upload (S3's minimum is 5 MiB)."
    )
    presign_expiry_s: int = Field(900, ge=60, le=7 * 24 * 3600, description="Lifetime of presigned upload URLs.")
    allowed_content_types: tuple[str, ...] = Field(
        (
            *("video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo", "video/mpeg"),
            # Audio-only recordings (the moderator skips the visual checks); browsers name some types two ways.
            *("audio/mp4", "audio/x-m4a", "audio/aac", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/wave"),
            *("audio/ogg", "audio/opus", "audio/flac", "audio/x-flac", "audio/webm"),
        ),
        description="Content types an upload may declare (video, or audio-only recordings).",
    )
    video_url_expiry_s: int = Field(
        900,
        ge=60,
        le=24 * 3600,
        description="Lifetime of the presigned GET handed out as `video_url`: a URL cannot be revoked, so when "
        "the owner makes a media private again a viewer keeps playing it for at most this long.",
    )
    # Quotas and limits, per user. Every one has a default that suits a real deployment; 0 turns a limit off.
    write_requests_per_minute: int = Field(
        60,
        ge=0,
        description="POST/PATCH/DELETE requests and transcript downloads one user (or, signed out, one address) "
        "may make per minute (429 + Retry-After above).",
    )
    daily_upload_bytes: int = Field(
        20 * 1024**3,
        ge=0,
        description="Bytes one user may reserve for uploads (videos and note images) in any 24 hours "
        "(deleting refunds none).",
    )
    daily_uploads: int = Field(50, ge=0, description="Video uploads one user may reserve in any 24 hours.")
    max_live_tasks_per_user: int = Field(
        3, ge=0, description="Tasks of one user that may be queued or processing at the same time."
    )
    max_streams_per_user: int = Field(
        10, ge=0, description="Server-Sent Event streams one user may hold open on one gateway process."
    )
    max_multipart_parts: int = Field(
        1000, ge=1, le=10000, description="Most parts a multipart upload may have (S3 allows 10 000)."
    )


class WebhookSettings(BaseSettings):
    model_config = _group("WEBHOOK_")

    dispatcher: bool = Field(
        True,
        description="Run the webhook dispatcher inside this gateway process (several replicas are safe: each "
        "claims due deliveries with FOR UPDATE SKIP LOCKED).",
    )
    allow_private_targets: bool = Field(
        False,
        description="Accept endpoints on loopback, private, link-local or otherwise non-public addresses. Off "
        "by default (a webhook must not become a way to reach the operator's own network); the embedded "
        "stack and tests turn it on.",
    )
    max_endpoints_per_user: int = Field(10, ge=1, description="Webhook endpoints one user may register.")
    timeout_s: float = Field(10.0, gt=0, le=60, description="Seconds one delivery attempt may take in all.")
    max_attempts: int = Field(10, ge=1, le=30, description="Attempts per event before it is marked failed.")
    backoff_base_s: float = Field(30.0, ge=0, description="Wait after the first failed attempt; doubles each time.")
    backoff_max_s: float = Field(
        7200.0, ge=0, description="Longest wait between two attempts (defaults: 10 attempts over about 4 h)."
    )
    poll_interval_s: float = Field(2.0, gt=0, description="How often the dispatcher looks for due deliveries.")
    retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days a finished (succeeded or failed) delivery and its attempts stay in the delivery log; "
        "the dispatcher deletes older ones every hour. Pending deliveries are never pruned.",
    )
    batch_size: int = Field(16, ge=1, le=200, description="Deliveries one dispatcher claims and posts at once.")


class Settings(BaseSettings):
    """Everything the shared platform needs; stage engines add their own groups."""

    model_config = SettingsConfigDict(env_prefix="VIDPIPE_", extra="ignore", frozen=True)

    environment: Literal["local", "test", "production"] = Field(
        "local",
        description="Deployment flavour; `production` refuses locally minted (HS256) tokens and the gateway "
        "refuses to start without AUTH_JWKS_URL.",
    )
    log_level: str = Field("INFO", description="structlog level name.")
    log_format: Literal["json", "console"] = Field("json", description="JSON for machines, console for people.")
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    aws: AWSSettings = Field(default_factory=AWSSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    reconciler: ReconcilerSettings = Field(default_factory=ReconcilerSettings)

    def queue_name(self, stage: Stage) -> str:
        return f"{self.aws.queue_prefix}{stage}"

    def dlq_name(self, stage: Stage) -> str:
        return f"{self.aws.queue_prefix}{stage}-dlq"


def load_settings() -> Settings:
    """Read the environment once. Call from entry points only."""
    return Settings()
