"""A wallet's funds come back from its NUT-13 seed alone, into an empty database."""

from __future__ import annotations

import json

from sqlalchemy import select

from nctool.store.tables import keyset_counters, wallets
from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice
from nctool.testing.service import start_service

from .test_ops_commands import ops


async def _seed_of(service, npub: str) -> str:  # type: ignore[no-untyped-def]
    async with service.services.db.read() as conn:
        return str((await conn.execute(select(wallets.c.seed).where(wallets.c.npub == npub))).scalar_one())


async def test_restore_from_seed_into_empty_database(stack, npub, tmp_path, new_database):
    original = await start_service(stack.mint.url, new_database("original"))
    api = ApiClient(original.url)
    try:
        await api.fund(npub, 1000)
        paid = (await api.melt(npub, make_invoice(250))).json()
        balance = (await api.balance(npub))["balance"]
        seed = await _seed_of(original, npub)
    finally:
        await api.aclose()
        await original.stop()
    assert balance == 1000 - 250 - paid["feesPaid"]
    seed_file = tmp_path / "seed.hex"
    seed_file.write_text(seed)

    fresh_db = new_database("fresh")
    fresh = await start_service(stack.mint.url, fresh_db)
    api = ApiClient(fresh.url)
    try:
        await api.create(npub)
        code, out = await ops(
            fresh_db, stack.mint.url, "restore", npub, "--seed-file", str(seed_file), "--dry-run", "--json"
        )
        assert code == 0
        assert json.loads(out)["restoredAmount"] == balance
        assert (await api.balance(npub))["balance"] == 0
        code, out = await ops(fresh_db, stack.mint.url, "restore", npub, "--seed-file", str(seed_file), "--json")
        assert code == 0
        assert json.loads(out)["restoredAmount"] == balance
        assert (await api.balance(npub))["balance"] == balance
        info = (await api.call("GET", f"/api/wallet/{npub}/info")).json()["walletInfo"]["ledger"]
        assert info["received"] == balance
        assert info["balanced"] is True
        assert await ledger_problems(fresh.services) == []
    finally:
        await api.aclose()
        await fresh.stop()


async def test_restore_twice_adds_nothing(stack, npub, tmp_path, new_database):
    database = new_database("twice")
    service = await start_service(stack.mint.url, database)
    api = ApiClient(service.url)
    try:
        await api.fund(npub, 300)
        code, out = await ops(database, stack.mint.url, "restore", npub, "--json")
        report = json.loads(out)
        assert code == 0
        assert report["restoredAmount"] == 0
        assert report["alreadyKnown"] == 4  # 300 = 256 + 32 + 8 + 4
        async with service.services.db.read() as conn:
            counters = (await conn.execute(select(keyset_counters.c.counter))).scalars().all()
        assert counters == [4]
        assert await ledger_problems(service.services) == []
    finally:
        await api.aclose()
        await service.stop()
