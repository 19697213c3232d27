"""The embedded stack's building blocks, each against the real thing: SeaweedFS keeps objects through a
kill -9, children die with their parent however it dies, the supervisor restarts what died, and moto's log
holds no presigned URL (no models; a few seconds each)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from vidpipe.localinfra import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, MotoServer, ObjectStore, PostgresCluster
from vidpipe.statedir import StateDir
from vidpipe.supervisor import Child, Supervisor, pid_alive, spawn

pytestmark = pytest.mark.integration


def s3_client(url: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_objects_survive_a_kill_9_of_the_object_store_and_presigned_rules_are_enforced(tmp_path: Path) -> None:
    # Given an object stored through a presigned PUT that signs type and size
    store = ObjectStore(root=tmp_path / "objects", log_path=tmp_path / "s3.log")
    store.start()
    try:
        s3: object = s3_client(store.url)
        s3.create_bucket(Bucket="media")  # type: ignore[attr-defined]
        body = os.urandom(50_000)
        params = {"Bucket": "media", "Key": "u/v.mp4", "ContentType": "video/mp4", "ContentLength": len(body)}
        url = s3.generate_presigned_url("put_object", Params=params, ExpiresIn=300)  # type: ignore[attr-defined]
        put = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "video/mp4"})  # noqa: S310
        assert urllib.request.urlopen(put).status == 200  # noqa: S310
        # A tampered signature and a different size are refused, as on AWS (moto accepts both)
        for bad_url, bad_body in ((url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), body), (url, body[:10])):
            headers = {"Content-Type": "video/mp4"}
            request = urllib.request.Request(bad_url, data=bad_body, method="PUT", headers=headers)  # noqa: S310
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request)  # noqa: S310
            assert refused.value.code == 403
        # When the server is killed without warning and started again on the same directory
        assert store.process is not None
        store.process.kill()
        store.process.wait()
        store.start()
        # Then the object is still there, byte for byte, and ranges work (the browser's video player)
        got = s3.get_object(Bucket="media", Key="u/v.mp4", Range="bytes=100-199")  # type: ignore[attr-defined]
        assert got["Body"].read() == body[100:200]
    finally:
        store.stop()
    assert "X-Amz-Signature" not in (tmp_path / "s3.log").read_text()


def test_every_server_dies_with_a_parent_killed_by_sigkill() -> None:
    # The cluster runs as `postgres`, which cannot enter pytest's private tmp dir.
    tmp_path = Path(tempfile.mkdtemp(prefix="vidpipe-test-pdeathsig-"))
    tmp_path.chmod(0o711)
    try:
        _servers_die_with_their_parent(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _servers_die_with_their_parent(tmp_path: Path) -> None:
    # Given a parent process that starts Postgres, the S3 and the SQS servers, then waits
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from vidpipe.localinfra import MotoServer, ObjectStore, PostgresCluster
        pg = PostgresCluster(root=Path({str(tmp_path / "pg")!r}))
        pg.start()
        s3 = ObjectStore(root=Path({str(tmp_path / "objects")!r}))
        s3.start()
        sqs = MotoServer()
        sqs.start()
        print(pg.process.pid, s3.process.pid, sqs.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    # When the parent is killed with SIGKILL (no cleanup code runs)
    parent.kill()
    parent.wait()
    # Then its servers go too, and the cluster's data is still there for the next start
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if pid_alive(p)]
    cluster = PostgresCluster(root=tmp_path / "pg")
    cluster.start()
    cluster.stop()


def test_the_supervisor_restarts_a_dead_child_with_back_off_and_says_so(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(say=lines.append)
    child = supervisor.add(Child(name="sleeper", start=lambda: spawn(["sleep", "600"])))
    first = child.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while child.restarts == 0 and time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.1)
    assert child.restarts == 1 and child.pid != first and pid_alive(child.pid or 0)
    assert any("sleeper" in line and "SIGKILL" in line and "restarting in 1 s" in line for line in lines), lines
    # A second death soon after waits longer (back-off)
    os.kill(child.pid or 0, signal.SIGKILL)
    time.sleep(0.2)
    supervisor.check()
    assert any("restarting in 2 s" in line for line in lines), lines
    supervisor.stop()
    assert not pid_alive(child.pid or 0)


def test_moto_does_not_log_presigned_urls(tmp_path: Path) -> None:
    server = MotoServer(log_path=tmp_path / "moto.log")
    server.start()
    try:
        s3: object = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                                  aws_access_key_id="x", aws_secret_access_key="y")  # fmt: skip
        s3.create_bucket(Bucket="presign-log")  # type: ignore[attr-defined]
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "presign-log", "Key": "k"}, ExpiresIn=60)  # type: ignore[attr-defined]
        assert urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="PUT")).status == 200  # noqa: S310
    finally:
        server.stop()
    log = (tmp_path / "moto.log").read_text()
    assert "X-Amz-Signature" not in log and "/presign-log/k" not in log


def test_reset_leaves_nothing_behind(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.prepare()
    state.load_config()
    (state.objects / "x").write_text("object")
    state.remove()
    assert not state.root.exists()
