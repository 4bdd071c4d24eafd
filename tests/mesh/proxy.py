"""nginx as a gRPC reverse proxy on loopback, started by the tests themselves."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path

import grpc

from tests.support.servers import free_port
from tests.support.timeouts import GUARD_TIMEOUT

NGINX_SNIPPET = Path(__file__).with_name("nginx-grpc.conf")
"""The configuration docs/deploy.md shows; the tests change only addresses and timeouts."""
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(directory: Path, *, port: int, backend: str, read_timeout: str) -> Path:
    """Write the tested configuration, with the test's addresses, into ``directory``."""
    snippet = NGINX_SNIPPET.read_text()
    for documented, tested in (
        ("server 127.0.0.1:50051;", f"server {backend};"),
        ("listen 8080 http2;", f"listen 127.0.0.1:{port} http2;"),
        ("grpc_read_timeout 60s;", f"grpc_read_timeout {read_timeout};"),
    ):
        assert documented in snippet, documented
        snippet = snippet.replace(documented, tested)
    (directory / "qapi-jobs.conf").write_text(snippet)
    config = directory / "nginx.conf"
    config.write_text(
        f"pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    access_log off;\n"
        f"    client_body_temp_path {directory}/body;\n"
        f"    proxy_temp_path {directory}/proxy;\n"
        f"    fastcgi_temp_path {directory}/fastcgi;\n"
        f"    uwsgi_temp_path {directory}/uwsgi;\n"
        f"    scgi_temp_path {directory}/scgi;\n"
        f"    include {directory}/qapi-jobs.conf;\n"
        "}\n"
    )
    return config


class Nginx:
    """nginx in the foreground, with everything it writes in its directory."""

    def __init__(self, directory: Path, backend: str, read_timeout: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._config = nginx_config(
            directory, port=self.port, backend=backend, read_timeout=read_timeout
        )
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start nginx and wait until a gRPC channel through it is ready."""
        self._process = await asyncio.create_subprocess_exec(
            NGINX,
            "-p",
            str(self.directory),
            "-e",
            str(self.directory / "error.log"),
            "-c",
            str(self._config),
            "-g",
            "daemon off;",
        )
        async with grpc.aio.insecure_channel(self.address) as channel:
            async with asyncio.timeout(GUARD_TIMEOUT):
                await channel.channel_ready()

    async def stop(self) -> None:
        """Stop nginx (quickly) and wait for it."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            await self._process.wait()
