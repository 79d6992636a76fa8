"""`nctool ops` commands against a real database and mint: check, reconcile, mark-spent, breaker, maintenance."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from sqlalchemy import select, text

from nctool.cashu.amounts import split_amount
from nctool.cashu.client import MintClient
from nctool.cashu.models import Proof
from nctool.store.tables import proofs
from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice
from nctool.testing.service import start_service
from nctool.wallet.outputs import blinded_messages, plan_outputs


async def ops(database: str, mint_url: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "NCTOOL_DATABASE_URL": database, "NCTOOL_MINT_URL": mint_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nctool.cli.main",
        "ops",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def spend_elsewhere(svc, mint_url: str, npub: str, amount: int) -> str:  # type: ignore[no-untyped-def]
    """Redeem one unspent proof of the wallet directly at the mint; return its Y."""
    async with svc.db.read() as conn:
        row = (
            await conn.execute(
                select(proofs)
                .where(proofs.c.amount == amount, proofs.c.state == "unspent")
                .order_by(proofs.c.id.desc())
            )
        ).first()
    client = MintClient(mint_url)
    try:
        keyset = next(k for k in await client.keysets() if k.active)
        outputs = plan_outputs(split_amount(amount - 1), keyset.id, "elsewhere")
        await client.swap(
            [Proof(id=row.keyset_id, amount=row.amount, secret=row.secret, C=row.C)], blinded_messages(outputs)
        )
    finally:
        await client.aclose()
    return str(row.Y)


class Isolated:
    """A service with its own database, for tests that leave the ledger in a state the shared stack must not see."""

    def __init__(self, stack, database: str):  # type: ignore[no-untyped-def]
        self.stack = stack
        self.database = database

    async def __aenter__(self) -> Isolated:
        self.service = await start_service(self.stack.mint.url, self.database, worker_interval_seconds=0.2)
        self.api = ApiClient(self.service.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()
        await self.service.stop()

    async def ops(self, *args: str) -> tuple[int, str]:
        return await ops(self.database, self.stack.mint.url, *args)


def _db(stack) -> str:  # type: ignore[no-untyped-def]
    return stack.service.settings.database_url


async def test_check_clean_ledger_exits_zero(stack, npub):
    await stack.api.fund(npub, 500)
    await stack.api.melt(npub, make_invoice(100))
    code, out = await ops(_db(stack), stack.proxy.url, "check", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["clean"] is True
    assert report["wallets"] >= 1


async def test_check_reports_missing_money(stack, npub, new_database):
    async with Isolated(stack, new_database("isolated")) as iso:
        await iso.api.fund(npub, 500)
        async with iso.service.services.db.transaction("test_tamper") as conn:
            await conn.execute(text("DELETE FROM proofs WHERE amount = 256"))
        code, out = await iso.ops("check", "--json")
    findings = json.loads(out)["findings"]
    assert code == 1
    assert {f["check"] for f in findings} >= {"ledger_identity", "token_totals"}
    assert any(f["detail"].startswith("money missing: 256 sat") for f in findings)


async def test_check_reports_melted_token(stack, npub, new_database):
    async with Isolated(stack, new_database("isolated")) as iso:
        await iso.api.fund(npub, 100)
        async with iso.service.services.db.transaction("test_tamper") as conn:
            # The schema rejects the type "melted"; this private database drops that guard first.
            if iso.service.services.db.dialect == "postgresql":
                await conn.execute(text("ALTER TABLE tokens DROP CONSTRAINT ck_tokens_type"))
            else:
                await conn.execute(text("PRAGMA ignore_check_constraints = ON"))
            await conn.execute(text("UPDATE tokens SET transaction_type = 'melted'"))
        code, out = await iso.ops("check", "--json")
    assert code == 1
    assert "melted_tokens" in {f["check"] for f in json.loads(out)["findings"]}


async def test_breaker_halts_melts_until_resumed(stack, npub, new_database):
    async with Isolated(stack, new_database("isolated")) as iso:
        await iso.api.fund(npub, 1000)
        async with iso.service.services.db.transaction("test_tamper") as conn:
            await conn.execute(text("DELETE FROM proofs WHERE amount = 8"))
        code, _ = await iso.ops("check", "--trip-breaker")
        assert code == 1
        halted = await iso.api.melt(npub, make_invoice(100))
        assert halted.status_code == 503
        assert halted.json()["code"] == "MELTS_HALTED"
        code, out = await iso.ops("resume-melts", "--reason", "test: proofs deleted on purpose")
        assert code == 0
        assert "melts resumed" in out
        resumed = await iso.api.melt(npub, make_invoice(100))
        assert resumed.status_code == 200
        # The deleted proof is missing on purpose; everything else must still agree with the mint.
        problems = await ledger_problems(iso.service.services)
        assert [p for p in problems if "ledger" not in p and "minted+received" not in p] == []


async def test_reconcile_dry_run_changes_nothing(stack, npub):
    await stack.api.fund(npub, 1000)
    await spend_elsewhere(stack.svc, stack.mint.url, npub, 512)
    code, out = await ops(_db(stack), stack.proxy.url, "reconcile", npub, "--dry-run", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["discrepancies"] == {"DB_UNSPENT_MINT_SPENT": 1}
    assert report["actions"] == {}
    code, out = await ops(_db(stack), stack.proxy.url, "reconcile", npub, "--json")  # leave the stack consistent
    assert json.loads(out)["actions"] == {"marked_spent": 1}


async def test_reconcile_marks_spent_elsewhere(stack, npub):
    await stack.api.fund(npub, 1000)
    await spend_elsewhere(stack.svc, stack.mint.url, npub, 256)
    code, out = await ops(_db(stack), stack.proxy.url, "reconcile", "--all", "--json")
    assert code == 0
    assert json.loads(out)["actions"]["marked_spent"] >= 1
    assert (await stack.api.balance(npub))["balance"] == 1000 - 256


async def test_reconcile_needs_npub_or_all(stack):
    code, _ = await ops(_db(stack), stack.proxy.url, "reconcile")
    assert code == 2


async def test_mark_spent_acts_on_mint_confirmed_proof(stack, npub):
    await stack.api.fund(npub, 1000)
    y = await spend_elsewhere(stack.svc, stack.mint.url, npub, 128)
    code, out = await ops(_db(stack), stack.proxy.url, "mark-spent", "--y", y, "--json")
    assert code == 0
    assert json.loads(out)[0]["action"] == "marked_spent"


async def test_mark_spent_refuses_unspent_proof(stack, npub):
    await stack.api.fund(npub, 100)
    async with stack.svc.db.read() as conn:
        y = (await conn.execute(select(proofs.c.Y).where(proofs.c.state == "unspent"))).first()[0]
    code, out = await ops(_db(stack), stack.proxy.url, "mark-spent", "--y", y, "--json")
    result = json.loads(out)[0]
    assert code == 1
    assert result["action"] == "refused"
    assert "UNSPENT" in result["reason"]


async def test_mark_spent_force_needs_reason(stack):
    code, _ = await ops(_db(stack), stack.proxy.url, "mark-spent", "--y", "02" + "ab" * 32, "--force")
    assert code == 2  # usage error


async def test_forced_mark_spent_is_undone_by_reconcile(stack, npub):
    await stack.api.fund(npub, 100)
    async with stack.svc.db.read() as conn:
        y = (
            await conn.execute(select(proofs.c.Y).where(proofs.c.state == "unspent").order_by(proofs.c.id.desc()))
        ).first()[0]
    code, out = await ops(_db(stack), stack.proxy.url, "mark-spent", "--y", y, "--force", "--reason", "test", "--json")
    assert json.loads(out)[0]["action"] == "forced_spent"
    code, out = await ops(_db(stack), stack.proxy.url, "reconcile", npub, "--include-spent", "--json")
    assert code == 0
    assert json.loads(out)["actions"] == {"restored_unspent": 1}
    assert (await stack.api.balance(npub))["balance"] == 100


async def test_recover_dry_run_describes_open_quote(stack, npub, new_database):
    database = new_database("quiet")
    service = await start_service(stack.mint.url, database, worker_enabled=False)
    api = ApiClient(service.url)
    try:
        await api.create(npub)
        await api.call("POST", f"/api/wallet/{npub}/mint", {"amount": 100})
        code, out = await ops(database, stack.mint.url, "recover", "--dry-run", "--json")
        report = json.loads(out)
        assert code == 0
        assert report["processed"] == 1
        assert report["details"][0]["action"] == "would_credit"
        code, out = await ops(database, stack.mint.url, "recover", "--json")
        assert json.loads(out)["recovered"] == 1
        assert (await api.balance(npub))["balance"] == 100
        assert await ledger_problems(service.services) == []
    finally:
        await api.aclose()
        await service.stop()


async def test_cleanup_api_and_recovery_stats(stack, npub, new_database):
    service = await start_service(stack.mint.url, new_database("api"), worker_enabled=False)
    api = ApiClient(service.url)
    try:
        await api.create(npub)
        await api.call("POST", f"/api/wallet/{npub}/mint", {"amount": 100})
        stats = (await api.call("GET", f"/api/wallet/{npub}/recovery/stats")).json()["stats"]
        assert stats["totalPending"] == 1
        assert stats["stuckOneHour"] == 0
        dry = (await api.call("POST", f"/api/wallet/{npub}/cleanup", {"dryRun": True, "maxAge": 0})).json()
        assert dry["processed"] == 1
        assert dry["transactions"][0]["action"] == "would_credit"
        done = (await api.call("POST", f"/api/wallet/{npub}/cleanup", {"dryRun": False, "maxAge": 0})).json()
        assert done["cleaned"] == 1
        assert (await api.balance(npub))["balance"] == 100
        assert await ledger_problems(service.services) == []
    finally:
        await api.aclose()
        await service.stop()


async def test_cleanup_api_rejects_bad_max_age(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/cleanup", {"dryRun": True, "maxAge": -1})
    assert response.status_code == 400


async def test_maintenance_commands(stack, npub, new_database):
    async with Isolated(stack, new_database("isolated")) as iso:
        await iso.api.fund(npub, 300)
        code, out = await iso.ops("cleanup", "--failed-older-than", "0s", "--json")
        assert code == 0
        assert json.loads(out)["matched"] == 0
        code, out = await iso.ops("archive-audit", "--older-than", "0s")
        assert code == 0
        assert out.startswith("moved ")
        async with iso.service.services.db.read() as conn:
            archived = (await conn.execute(text("SELECT count(*) FROM audit_log_archive"))).scalar_one()
            left = (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
        assert archived >= 2
        assert left == 0
        code, out = await iso.ops("db-stats", "--json")
        assert code == 0
        assert json.loads(out)["tables"]["proofs"]["rows"] == 4  # 300 = 256 + 32 + 8 + 4


async def test_duration_option_is_validated(stack):
    code, _ = await ops(_db(stack), stack.proxy.url, "cleanup", "--failed-older-than", "thirty days")
    assert code == 2


async def test_reconcile_unknown_wallet_fails(stack, npub):
    code, _ = await ops(_db(stack), stack.proxy.url, "reconcile", npub, "--dry-run")
    assert code == 1


async def test_cleanup_api_accepts_empty_body(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.http.post(f"/api/wallet/{npub}/cleanup")
    assert response.status_code == 200
    assert response.json()["dryRun"] is True
