"""A local Nutshell mint (FakeWallet backend) for development, demos and tests.

Nutshell pins libraries that conflict with nctool's, so it lives in its own virtualenv
(`.venv-mint`, made by `make mint-venv`). The mint listens on 127.0.0.1 only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

NUTSHELL_REQUIREMENTS = ("cashu==0.19.2", "marshmallow<4", "limits<4")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevMintError(RuntimeError):
    """Raised when the dev mint cannot start."""


def port_is_free(port: int) -> bool:
    """Return whether a server could listen on the port now (connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux: the mint then outlives a killed parent
    _LIBC = None


def _die_with_parent() -> None:
    """Ask Linux to stop the mint when the process that started it dies, even by SIGKILL.

    Runs in the child between fork and exec, so it only calls an already loaded function.
    """
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def default_venv() -> Path:
    return Path(os.environ.get("NCTOOL_MINT_VENV", ".venv-mint")).resolve()


def ensure_venv(venv: Path) -> Path:
    """Create the mint virtualenv with pinned Nutshell if it is missing; return the `mint` script."""
    script = venv / "bin" / "mint"
    if not script.exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)  # noqa: S603, S607
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *NUTSHELL_REQUIREMENTS], check=True)  # noqa: S603
    return script


@dataclass
class DevMint:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    stopping: bool = False

    def stop(self) -> None:
        self.stopping = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_mint(
    data_dir: Path,
    *,
    port: int | None = None,
    venv: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> DevMint:
    """Start Nutshell on 127.0.0.1 and return once GET /v1/info responds."""
    port = port or free_port()
    if not port_is_free(port):
        raise DevMintError(
            f"port {port} on 127.0.0.1 is already in use, so the dev mint cannot start there; stop what uses it "
            "or pick another port (make run MINT_PORT=3339, or nctool run --mint-port 3339)"
        )
    script = ensure_venv(venv or default_venv())
    data_dir.mkdir(parents=True, exist_ok=True)
    mint_env = {
        **os.environ,
        "MINT_BACKEND_BOLT11_SAT": "FakeWallet",
        "MINT_PRIVATE_KEY": "nctool-dev-mint-key",
        "MINT_LISTEN_HOST": "127.0.0.1",
        "MINT_LISTEN_PORT": str(port),
        "MINT_DATABASE": str(data_dir),
        "FAKEWALLET_BRR": "True",
        "FAKEWALLET_DELAY_OUTGOING_PAYMENT": "0",
        "FAKEWALLET_DELAY_INCOMING_PAYMENT": "0",
        "MINT_RATE_LIMIT": "False",
        "DEBUG": "False",
        "MINT_INFO_NAME": "nctool dev mint",
        **(env or {}),
    }
    log = (data_dir / "mint.log").open("ab")
    process = subprocess.Popen(  # noqa: S603  # our own venv's script, no shell
        [str(script)],
        cwd=data_dir,
        env=mint_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    mint = DevMint(url=url, process=process, data_dir=data_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevMintError(f"the dev mint exited with code {process.returncode}; see {data_dir / 'mint.log'}")
        try:
            if httpx.get(f"{url}/v1/info", timeout=1.0).status_code == 200:
                return mint
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    mint.stop()
    raise DevMintError(f"the dev mint did not respond on {url} within {timeout:.0f} s; see {data_dir / 'mint.log'}")
