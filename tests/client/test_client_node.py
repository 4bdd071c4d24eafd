"""A Node.js client, built from proto/ alone, against a real server subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import ServerProcess, free_port

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_node_client(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed (CI installs them; see `make setup`)")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("tests/node/node_modules is missing; run `make setup` (npm ci in tests/node)")
    server = ServerProcess(tmp_path, free_port()).start()
    try:
        result = subprocess.run(
            ["npm", "test", "--silent"],
            cwd=NODE_DIR,
            env=dict(os.environ, QAPI_JOBS_SERVER=server.address),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 2" in result.stdout and "# fail 0" in result.stdout
    created = [p.name for p in tmp_path.glob("node-*.raw")]
    assert len(created) == 1 and (tmp_path / created[0]).stat().st_size == 1 << 20
