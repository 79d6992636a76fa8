"""Request bodies. Extra fields are accepted and ignored, as existing clients send some."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class CreateWalletBody(_Body):
    npub: str = Field(description="NIP-19 npub of the wallet owner")


class MintBody(_Body):
    amount: StrictInt = Field(description="amount in sats")


class MintCompleteBody(_Body):
    quoteId: str | None = None
    amount: StrictInt | None = None
    transactionId: str | None = None


class MeltBody(_Body):
    invoice: str = Field(description="bolt11 Lightning invoice with an amount")


class CleanupBody(_Body):
    dryRun: bool = Field(default=True, description="report what would be done without changing anything")
    maxAge: StrictInt = Field(default=3_600_000, ge=0, description="only operations older than this, in ms")
