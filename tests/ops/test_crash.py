"""Kill the service at each step of a melt; a restarted service settles it from the journal alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from nctool.config import Settings
from nctool.faults import CRASH_EXIT_CODE
from nctool.store import operations as op_store
from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice
from nctool.testing.process import start_process
from nctool.wallet.services import Services

# Funding 1000 sat gives proofs 8, 32, 64, 128, 256, 512, and a 250 sat invoice is paid directly
# with 256. Funding 512 sat gives one proof, which overshoots a 100 sat invoice so far that the
# melt swaps it to the exact amount first.
DIRECT = (1000, 250)
SWAP = (512, 100)

# crash point, (funded, invoice amount) -> final state of the melt and whether the invoice ends up paid
CRASH_POINTS = [
    ("melt.after_reserve", DIRECT, "failed", False),
    ("melt.before_swap", SWAP, "failed", False),
    ("melt.after_swap_answer", SWAP, "failed", False),
    ("melt.before_melt", DIRECT, "failed", False),
    ("melt.before_melt", SWAP, "failed", False),
    ("melt.after_melt_answer", DIRECT, "completed", True),
    ("melt.after_melt_answer", SWAP, "completed", True),
]


async def _final_operation(svc: Services, npub: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.2)):
        async with svc.db.read() as conn:
            melts = [o for o in await op_store.list_operations_by_npub(conn, npub) if o.kind == "melt"]
        if melts and melts[0].state in op_store.FINAL_STATES:
            return melts[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"melt not final after {timeout} s: {[(o.id, o.state) for o in melts]}")


@pytest.mark.parametrize(("point", "amounts", "final_state", "paid"), CRASH_POINTS)
async def test_crash_point_recovers(stack, npub, tmp_path, new_database, point, amounts, final_state, paid):
    funded, invoice_amount = amounts
    database = new_database("crash")
    first = await start_process(stack.mint.url, database, tmp_path, NCTOOL_CRASH_AT=point)
    api = ApiClient(first.url)
    try:
        await api.fund(npub, funded)
        with pytest.raises(httpx.TransportError):
            await api.melt(npub, make_invoice(invoice_amount))
        assert await first.exited() == CRASH_EXIT_CODE
    finally:
        await api.aclose()
        first.kill()

    second = await start_process(stack.mint.url, database, tmp_path)
    svc = Services.create(Settings(database_url=database, mint_url=stack.mint.url))
    try:
        operation = await _final_operation(svc, npub)
        assert operation.state == final_state
        balance = (await ApiClient(second.url).balance(npub))["details"]
        assert balance["pendingBalance"] == 0
        expected = funded - operation.fees_paid - (invoice_amount if paid else 0)
        assert balance["unspentBalance"] == expected
        assert await ledger_problems(svc) == []
    finally:
        await svc.close()
        second.kill()
