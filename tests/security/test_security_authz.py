"""Mutual TLS that really verifies, and a policy deciding who may do what."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import build_server, exposure_warning
from qapi_jobs.server.grpc.config import ConfigError, ServerConfig, TlsConfig
from qapi_jobs.server.grpc.policy import load_policy
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc
from tests.support.pki import make_identities
from tests.support.policies import token_operator

from .support import failure, healthy, reason_of

TOKEN = "s3cret-operator-token"
POLICY = f"""
[[principal]]
uri = "spiffe://test.example/operator"
roles = ["operator"]

[[principal]]
dns = "reader.test.example"
roles = ["read-only"]

[[principal]]
name = "ci"
token_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"
roles = ["operator"]
"""
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_identities(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


def tls(certs: Path) -> TlsConfig:
    """The server's certificate, with the test CA for client certificates (and nothing more)."""
    return TlsConfig(
        cert=certs / "server.pem", key=certs / "server.key", client_ca=certs / "ca.pem"
    )


@contextlib.asynccontextmanager
async def serving(config: ServerConfig) -> AsyncIterator[str]:
    server = await build_server(config)
    await server.start()
    try:
        yield server.address
    finally:
        await server.stop()


def client(certs: Path, address: str, who: str | None) -> grpc.aio.Channel:
    """A TLS channel presenting ``who``'s certificate (none for None)."""
    key = None if who is None else (certs / f"{who}.key").read_bytes()
    cert = None if who is None else (certs / f"{who}.pem").read_bytes()
    credentials = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes(), key, cert)
    return grpc.aio.secure_channel(address, credentials)


def create(job_id: str, filename: str | None = None) -> service_pb2.BlockdevCreateRequest:
    options = {"driver": "raw", "filename": filename or f"{job_id}.img", "size": 4096}
    return decode_arguments(
        service_pb2.BlockdevCreateRequest, {"job-id": job_id, "options": options}
    )


async def test_a_client_ca_verifies_every_client_certificate(
    config: ServerConfig, certs: Path
) -> None:
    async with serving(replace(config, tls=tls(certs))) as address:
        for who in ("rogue", None):
            async with client(certs, address, who) as channel:
                stub = service_pb2_grpc.JobsServiceStub(channel)
                error = await failure(stub.QueryJobs(service_pb2.QueryJobsRequest(), timeout=10))
                assert error.code() == grpc.StatusCode.UNAVAILABLE, who
        async with client(certs, address, "reader") as channel:
            assert await healthy(channel)


async def test_each_role_may_do_what_it_grants(
    config: ServerConfig, certs: Path, policy: Path
) -> None:
    async with serving(replace(config, tls=tls(certs), policy=policy)) as address:
        async with client(certs, address, "operator") as channel:
            stub = service_pb2_grpc.JobsServiceStub(channel)
            await stub.BlockdevCreate(create("op"))
            await stub.QueryJobs(service_pb2.QueryJobsRequest())
        async with client(certs, address, "reader") as channel:
            stub = service_pb2_grpc.JobsServiceStub(channel)
            assert [job.id for job in (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result]
            watch = watch_pb2_grpc.WatchServiceStub(channel).WatchJobs(watch_pb2.WatchJobsRequest())
            snapshot: Any = await watch.read()
            assert [job.id for job in snapshot.jobs] == ["op"]
            watch.cancel()
            for call in (
                stub.BlockdevCreate(create("mine")),
                stub.JobDismiss(service_pb2.JobDismissRequest(id="op")),
            ):
                error = await failure(call)
                assert (error.code(), reason_of(error)) == (DENIED, "PERMISSION_MISSING")
                assert (error.details() or "").startswith("Permission 'operate' is needed for ")
                assert "dns:reader.test.example does not have it" in (error.details() or "")
        async with client(certs, address, "other") as channel:
            stub = service_pb2_grpc.JobsServiceStub(channel)
            error = await failure(stub.QueryJobs(service_pb2.QueryJobsRequest()))
            assert error.code() == DENIED
            assert "Permission 'read' is needed for QueryJobs" in (error.details() or "")
            events = watch_pb2_grpc.WatchServiceStub(channel).WatchEvents(
                watch_pb2.WatchEventsRequest()
            )
            assert (await failure(events.read())).code() == DENIED
            assert await healthy(channel), "health probes need no role"


async def test_bearer_tokens(config: ServerConfig, policy: Path) -> None:
    async with (
        serving(replace(config, policy=policy)) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = service_pb2_grpc.JobsServiceStub(channel)
        good: Any = (("authorization", f"Bearer {TOKEN}"),)
        await stub.BlockdevCreate(create("ci"), metadata=good)
        for metadata in ((("authorization", "Bearer wrong"),), None):
            error = await failure(stub.QueryJobs(service_pb2.QueryJobsRequest(), metadata=metadata))
            assert (error.code(), reason_of(error)) == (DENIED, "PERMISSION_MISSING")
            assert "anonymous does not have it" in (error.details() or "")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[[principal]]\nuri = 'spiffe://x'\nroles = ['admin']\n", "unknown role 'admin'"),
        ("[[principal]]\nroles = ['operator']\n", "exactly one of uri, dns and token_sha256"),
        ("[[principal]]\ntoken_sha256 = 'abc'\nroles = []\n", "64 hex digits"),
        ("owner = 1\n", "unknown keys owner"),
        ("[[principal\n", "not valid TOML"),
    ],
)
def test_policy_mistakes_are_refused_at_start(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=complaint):
        load_policy(path)


def test_exposed_listening_is_warned_about(config: ServerConfig, certs: Path, policy: Path) -> None:
    exposed = replace(config, listen=("0.0.0.0:50051", "127.0.0.1:0"))
    warning = exposure_warning(exposed)
    assert warning is not None
    assert "0.0.0.0:50051" in warning and "127.0.0.1" not in warning.split(";")[0]
    assert "without TLS" in warning and "without an authorisation policy" in warning
    assert exposure_warning(replace(exposed, tls=tls(certs), policy=policy)) is None
    assert exposure_warning(config) is None, "loopback alone is fine"


async def test_jobs_owned_by_their_starter(config: ServerConfig, tmp_path: Path) -> None:
    policy = tmp_path / "owners.toml"
    policy.write_text(
        "owner_only = true\n" + token_operator("alice", "A") + token_operator("bob", "B")
    )
    alice: Any = (("authorization", "Bearer A"),)
    bob: Any = (("authorization", "Bearer B"),)
    async with (
        serving(replace(config, policy=policy)) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = service_pb2_grpc.JobsServiceStub(channel)
        await stub.BlockdevCreate(create("a1"), metadata=alice)
        listed = await stub.QueryJobs(service_pb2.QueryJobsRequest(), metadata=bob)
        assert [job.id for job in listed.result] == ["a1"], "reading stays open"
        error = await failure(stub.JobDismiss(service_pb2.JobDismissRequest(id="a1"), metadata=bob))
        assert (error.code(), reason_of(error)) == (DENIED, "NOT_JOB_OWNER")
        assert (
            error.details()
            == "Job 'a1' belongs to token:alice; only its owner may use job-dismiss on it"
        )
        await _concluded(stub, "a1", alice)
        await stub.JobDismiss(service_pb2.JobDismissRequest(id="a1"), metadata=alice)
        # A dismissed id is free for anyone, and then belongs to its new starter.
        await stub.BlockdevCreate(create("a1", "bobs.img"), metadata=bob)
        await _concluded(stub, "a1", bob)
        error = await failure(
            stub.JobDismiss(service_pb2.JobDismissRequest(id="a1"), metadata=alice)
        )
        assert reason_of(error) == "NOT_JOB_OWNER"


async def _concluded(stub: Any, job_id: str, metadata: Any) -> None:
    call = stub.StreamEvents(service_pb2.StreamEventsRequest(), metadata=metadata)
    try:
        while True:
            listed = (
                await stub.QueryJobs(service_pb2.QueryJobsRequest(), metadata=metadata)
            ).result
            if any(
                job.id == job_id and job.status == job_pb2.JOB_STATUS_CONCLUDED for job in listed
            ):
                return
            await call.read()
    finally:
        call.cancel()
