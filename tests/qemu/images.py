"""Small images for the qemu engine's tests, made and checked with qemu-img and qemu-io."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

MIB = 1 << 20
SIZE = 4 * MIB


def run(*command: str) -> str:
    """Run a QEMU tool; fail the test with its output if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{command}: {done.stderr or done.stdout}"
    return done.stdout


def create(path: Path, fmt: str = "qcow2", size: int = SIZE, backing: str | None = None) -> Path:
    """A new image; ``backing`` is stored as given (relative to the image)."""
    command = ["qemu-img", "create", "-q", "-f", fmt]
    if backing is not None:
        command += ["-u", "-b", backing, "-F", "qcow2"]
    run(*command, str(path), str(size))
    return path


def write(path: Path, pattern: int, offset: int, length: int, fmt: str = "qcow2") -> None:
    """Write ``length`` bytes of ``pattern`` at ``offset`` through the image's format."""
    run("qemu-io", "-f", fmt, "-c", f"write -P {pattern} {offset} {length}", str(path))


def info(path: Path) -> dict[str, Any]:
    """qemu-img info of the image alone."""
    result: dict[str, Any] = json.loads(run("qemu-img", "info", "-U", "--output=json", str(path)))
    return result


def same(first: Path, second: Path) -> bool:
    """Whether the two images (with their backing chains) read the same."""
    done = subprocess.run(
        ["qemu-img", "compare", "-U", str(first), str(second)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def reads(path: Path, pattern: int, offset: int, length: int, fmt: str = "qcow2") -> bool:
    """Whether the image reads ``pattern`` over the range (backing chain included)."""
    done = subprocess.run(
        ["qemu-io", "-r", "-U", "-f", fmt, "-c", f"read -P {pattern} {offset} {length}", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


def chain(data: Path) -> tuple[Path, Path, Path]:
    """base <- mid <- top, each with its own 1 MiB of data (patterns 1, 2, 3)."""
    base = create(data / "base.qcow2")
    write(base, 1, 0, MIB)
    mid = create(data / "mid.qcow2", backing="base.qcow2")
    write(mid, 2, MIB, MIB)
    top = create(data / "top.qcow2", backing="mid.qcow2")
    write(top, 3, 2 * MIB, MIB)
    return base, mid, top


def corrupt_first_cluster(path: Path) -> None:
    """Make reads of the image's first cluster fail with EIO (an unaligned L2 entry).

    The image must have data in its first cluster.  Opened read-only, QEMU
    cannot mark it corrupt, so every read of that cluster fails again.
    """
    with path.open("r+b") as image:
        header = image.read(48)
        l1_offset = int.from_bytes(header[40:48], "big")
        image.seek(l1_offset)
        l2_offset = int.from_bytes(image.read(8), "big") & 0x00FF_FFFF_FFFF_FE00
        image.seek(l2_offset)
        entry = int.from_bytes(image.read(8), "big")
        image.seek(l2_offset)
        image.write((entry + 0x200).to_bytes(8, "big"))


PBKDF_FLAKE = "Unable to get accurate CPU usage"
"""QEMU 7.2's key-derivation benchmark sometimes measures 0 ms on a fast CPU and gives up
(a known QEMU bug, fixed upstream in 2025); LUKS key setup is retried when it says this."""
PBKDF_TRIES = 5


def encrypted(path: Path, secret: str) -> Path:
    """A new LUKS-encrypted qcow2 image unlocked by ``secret`` (key slot 0)."""
    command = [
        "qemu-img", "create", "-q", "-f", "qcow2",
        "--object", f"secret,id=s0,data={secret}",
        "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
        str(path), str(MIB),
    ]  # fmt: skip
    for _ in range(PBKDF_TRIES):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return path
        assert PBKDF_FLAKE in done.stderr, done.stderr
        path.unlink(missing_ok=True)
    raise AssertionError(f"qemu-img failed {PBKDF_TRIES} times: {PBKDF_FLAKE}")


def active_slots(path: Path) -> list[int]:
    """The LUKS key slots of an encrypted qcow2 image that hold a key."""
    slots = info(path)["format-specific"]["data"]["encrypt"]["slots"]
    return [index for index, slot in enumerate(slots) if slot["active"]]


def unlocks(path: Path, secret: str) -> bool:
    """Whether ``secret`` opens the encrypted image."""
    done = subprocess.run(
        ["qemu-io", "-r", "--object", f"secret,id=k,data={secret}", "--image-opts",
         f"driver=qcow2,file.filename={path},encrypt.key-secret=k", "-c", "read 0 512"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.returncode == 0 and "read 512/512" in done.stdout
