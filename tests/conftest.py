"""Fixtures: real Nutshell mints and nctool services on 127.0.0.1, started once per session.

Every service talks to its mint through a FaultProxy, which forwards untouched unless a test
injects a fault, and counts requests per path. After each test, every service's ledger must
balance and agree with its mint's checkstate.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import settings as hypothesis_settings

from nctool.devmint import DevMint, start_dev_mint
from nctool.observability.logging import configure_logging
from nctool.security.secretbox import generate_key_file, install_keyring
from nctool.testing.client import ApiClient
from nctool.testing.databases import TestDatabases, selected_engine
from nctool.testing.fault_proxy import FaultProxy
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_npub
from nctool.testing.postgres import PostgresUnavailable, find_bin_dir
from nctool.testing.service import RunningService, start_service

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NCTOOL_MINT_VENV", str(ROOT / ".venv-mint"))
# One secret key for the session: every service and subprocess encrypts its secrets with it,
# and tests that open a database directly read them through the same key.
if "NCTOOL_SECRET_KEY_FILE" not in os.environ:
    _key_file = os.path.join(tempfile.mkdtemp(prefix="nctool-keys-"), "secret.key")
    os.environ["NCTOOL_SECRET_KEY_FILE"] = _key_file
    install_keyring(generate_key_file(Path(_key_file)))

hypothesis_settings.register_profile("fuzz", max_examples=20_000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

MINT_KNOBS = {
    "settled": {},
    "pending": {"FAKEWALLET_PAY_INVOICE_STATE": "PENDING", "FAKEWALLET_PAYMENT_STATE": "SETTLED"},
    "failed": {"FAKEWALLET_PAY_INVOICE_STATE": "FAILED", "FAKEWALLET_PAYMENT_STATE": "FAILED"},
}


class Stack:
    """One mint, its fault proxy, one nctool service and an API client."""

    def __init__(self, mint: DevMint, proxy: FaultProxy, service: RunningService):
        self.mint = mint
        self.proxy = proxy
        self.service = service
        self.api = ApiClient(service.url)

    @property
    def svc(self):  # type: ignore[no-untyped-def]
        return self.service.services


_stacks: dict[str, Stack] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Fail the run at once when the selected database engine cannot run; never skip its tests."""
    try:
        engine = selected_engine()
        if engine == "postgresql":
            find_bin_dir()
    except (ValueError, PostgresUnavailable) as exc:
        raise pytest.UsageError(str(exc)) from exc


def pytest_report_header(config: pytest.Config) -> str:
    return f"nctool test database: {selected_engine()} (NCTOOL_TEST_DATABASE)"


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    """The session's databases, on the engine NCTOOL_TEST_DATABASE selects (one PostgreSQL cluster per session)."""
    databases = TestDatabases(selected_engine(), tmp_path_factory.mktemp("databases")).start()
    yield databases
    databases.stop()


@pytest.fixture(scope="session")
def new_database(databases: TestDatabases) -> Callable[[str], str]:
    """Return a function that creates an empty database and returns its URL, e.g. `new_database("restore")`."""
    return databases.new_url


@pytest.fixture(scope="session", autouse=True)
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON log of every in-process service of the session (stdout goes to /dev/null)."""
    path = tmp_path_factory.mktemp("logs") / "nctool.jsonl"
    configure_logging("INFO", path, stream=open(os.devnull, "w"))  # open for the session
    return path


@pytest.fixture(scope="session")
def mints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevMint]]:
    started: dict[str, DevMint] = {}
    yield started
    for mint in started.values():
        mint.stop()


async def _stack(name: str, mints: dict[str, DevMint], tmp: Path, databases: TestDatabases) -> Stack:
    if name not in _stacks:
        mint = start_dev_mint(tmp / f"mint-{name}", env=MINT_KNOBS[name])
        mints[name] = mint
        proxy = await FaultProxy(mint.url).start()
        service = await start_service(
            proxy.url,
            databases.new_url(f"stack_{name}"),
            worker_interval_seconds=0.2,
            mint_timeout_seconds=2.0,
            lease_seconds=5.0,
            melt_poll_max_seconds=1.0,
        )
        _stacks[name] = Stack(mint, proxy, service)
    return _stacks[name]


@pytest_asyncio.fixture(scope="session")
async def stack(
    mints: dict[str, DevMint], tmp_path_factory: pytest.TempPathFactory, databases: TestDatabases
) -> AsyncIterator[Stack]:
    """The default stack: a mint that settles every payment at once."""
    yield await _stack("settled", mints, tmp_path_factory.mktemp("settled"), databases)


@pytest_asyncio.fixture(scope="session")
async def pending_stack(
    mints: dict[str, DevMint], tmp_path_factory: pytest.TempPathFactory, databases: TestDatabases
) -> AsyncIterator[Stack]:
    """A mint whose payments stay PENDING in the melt call and settle on the next status check."""
    yield await _stack("pending", mints, tmp_path_factory.mktemp("pending"), databases)


@pytest_asyncio.fixture(scope="session")
async def failing_stack(
    mints: dict[str, DevMint], tmp_path_factory: pytest.TempPathFactory, databases: TestDatabases
) -> AsyncIterator[Stack]:
    """A mint whose Lightning payments all fail."""
    yield await _stack("failed", mints, tmp_path_factory.mktemp("failed"), databases)


@pytest_asyncio.fixture(scope="session", autouse=True)
async def _shutdown(databases: TestDatabases) -> AsyncIterator[None]:
    """Stop the session's services, before the databases they use go away."""
    yield
    for item in _stacks.values():
        await item.api.aclose()
        await item.service.stop()
        await item.proxy.stop()
    _stacks.clear()


@pytest_asyncio.fixture(autouse=True)
async def ledger_balances() -> AsyncIterator[None]:
    """After each test: for every wallet the books balance and agree with the mint."""
    yield
    for name, item in _stacks.items():
        item.proxy.clear()
        problems = await ledger_problems(item.svc)
        assert problems == [], f"{name} stack: {problems}"


@pytest.fixture
def npub() -> str:
    return make_npub()
