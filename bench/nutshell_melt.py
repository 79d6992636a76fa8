"""The melt loop of Nutshell's own wallet library, for comparison with nctool on the same mint.

Runs under the mint's virtualenv (`.venv-mint/bin/python bench/nutshell_melt.py MINT_URL WORKDIR
INVOICES_JSON FUND`), because Nutshell pins libraries that conflict with nctool's. It funds one
wallet and pays each invoice of INVOICES_JSON the way `cashu pay` does: quote, select (swapping
first when no exact selection exists), then melt with NUT-08 blank outputs. It prints one JSON
object with the latency of each payment in seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from cashu.wallet.wallet import Wallet


async def fund(wallet: Wallet, amount: int) -> None:
    """Mint `amount` sat; the dev mint's FakeWallet marks the quote paid at once."""
    quote = await wallet.request_mint(amount)
    for _ in range(100):
        try:
            await wallet.mint(amount, quote_id=quote.quote)
            return
        except Exception:  # the quote may not be paid yet; retried below
            await asyncio.sleep(0.1)
    raise RuntimeError(f"mint quote {quote.quote} was not paid")


async def pay(wallet: Wallet, invoice: str) -> None:
    """Pay one invoice as the `cashu pay` command does."""
    quote = await wallet.melt_quote(invoice)
    total = quote.amount + quote.fee_reserve
    send_proofs, _ = await wallet.select_to_send(wallet.proofs, total, include_fees=True, set_reserved=True)
    response = await wallet.melt(send_proofs, invoice, quote.fee_reserve, quote.quote)
    if response.state != "PAID":
        raise RuntimeError(f"payment not paid: {response.state}")


async def main(mint_url: str, workdir: Path, invoices: list[str], amount: int) -> None:
    wallet = await Wallet.with_db(mint_url, str(workdir / "nutshell-wallet"), name="bench")
    await wallet.load_mint()
    await fund(wallet, amount)
    await wallet.load_proofs(reload=True)
    latencies = []
    for invoice in invoices:
        started = time.perf_counter()
        await pay(wallet, invoice)
        latencies.append(time.perf_counter() - started)
    sys.stdout.write(json.dumps({"latencies": latencies}) + "\n")


if __name__ == "__main__":
    url, work, invoice_file, funded = sys.argv[1:5]
    asyncio.run(main(url, Path(work), json.loads(Path(invoice_file).read_text()), int(funded)))
