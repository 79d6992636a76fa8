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


class SendBody(_Body):
    amount: StrictInt = Field(description="amount in sats; the recipient pays the mint's input fee on redeeming")
    recipientPubkey: str | None = Field(
        default=None, description="lock the token to this key (NUT-11): compressed hex, x-only hex or npub"
    )
    format: str | None = Field(default=None, description="token format: cashuB (default) or cashuA")


class ReceiveBody(_Body):
    encodedToken: str = Field(description="cashuA or cashuB token")
    privateKey: str | None = Field(
        default=None, description="hex private key for a token locked to a key other than the wallet's p2pkPub"
    )


class CleanupBody(_Body):
    dryRun: bool = Field(default=True, description="report what would be done without changing anything")
    # Ten years in ms: larger values overflow a timedelta and select nothing more anyway.
    maxAge: StrictInt = Field(
        default=3_600_000, ge=0, le=315_360_000_000, description="only operations older than this, in ms"
    )


class ErrorBody(BaseModel):
    """Every error response: a stable code, a severity, and a message with the next step."""

    model_config = ConfigDict(extra="allow")

    success: bool = False
    error: str = Field(description="short label")
    message: str = Field(description="what failed and what to do next")
    code: str = Field(description="machine-readable code, e.g. INSUFFICIENT_BALANCE or NUT_20004")
    severity: str = Field(description="CRITICAL, HIGH, MEDIUM or LOW")
    details: list[str] | None = Field(default=None, description="one line per invalid field (400 only)")


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI descriptions of the error statuses a route can return."""
    meaning = {
        400: "invalid input; details names each field",
        401: "no credentials, or an unknown, revoked, invalid or stale API key or NIP-98 event",
        402: "insufficient balance, with required and available",
        403: "the credentials do not reach this wallet or endpoint, or the daily withdrawal limit is reached",
        404: "unknown wallet",
        409: "conflict: reconciliation block, idempotency key reuse, invoice already paid or in flight",
        413: "the request body is larger than NCTOOL_MAX_BODY_BYTES",
        429: "this credential sent too many requests; retry after Retry-After seconds",
        502: "the mint failed; fundsStatus says whether funds are untouched, released or pending",
        503: "melts halted by the ledger breaker",
        504: "the mint timed out; fundsStatus says whether funds are untouched, released or pending",
    }
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}
