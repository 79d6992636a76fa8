"""`nctool admin`: API keys and the secret key that encrypts secrets at rest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nctool.config import get_settings
from nctool.nostr.nip19 import NostrKeyError, decode_npub, encode_npub
from nctool.security.secretbox import (
    SecretKeyError,
    generate_key_file,
    install_keyring,
    load_key_file,
    new_key_line,
    write_key_file,
)
from nctool.security.startup import key_file_path
from nctool.store import api_keys
from nctool.store.database import Database

admin_app = typer.Typer(help="Operator commands for credentials and secret keys.", no_args_is_help=True)
api_key_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
secret_key_app = typer.Typer(help="The key that encrypts seeds, P2PK keys and proof secrets.", no_args_is_help=True)
admin_app.add_typer(api_key_app, name="api-key")
admin_app.add_typer(secret_key_app, name="secret-key")
console = Console()
errors = Console(stderr=True)


async def _migrated_db() -> Database:
    db = Database(get_settings().database_url)
    await db.migrate()
    return db


@api_key_app.command("create")
def api_key_create(
    scope: str = typer.Option(..., help="wallet (wallet endpoints) or admin (also system and operator endpoints)"),
    npub: str = typer.Option(None, help="bind a wallet key to this npub only"),
    label: str = typer.Option(None, help="a note on who uses the key, shown by list"),
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    if scope not in api_keys.SCOPES:
        errors.print(f"--scope must be wallet or admin, got {scope!r}")
        raise typer.Exit(2)
    if npub is not None:
        if scope != "wallet":
            errors.print("--npub binds wallet keys only; an admin key acts for every wallet")
            raise typer.Exit(2)
        try:
            npub = encode_npub(decode_npub(npub))
        except NostrKeyError as exc:
            errors.print(f"--npub: {exc}")
            raise typer.Exit(2) from exc

    async def create() -> tuple[api_keys.ApiKey, str]:
        db = await _migrated_db()
        try:
            async with db.transaction("api_key_create") as conn:
                return await api_keys.create_key(conn, scope, npub, label)
        finally:
            await db.dispose()

    row, key = asyncio.run(create())
    bound = f" for {row.npub}" if row.npub else ""
    console.print(f"created {row.scope} key {row.id}{bound}; it is shown only now, store it safely:", highlight=False)
    # Plain print: no wrapping, so the key can be copied or piped whole.
    print(key)


@api_key_app.command("list")
def api_key_list(
    as_json: bool = typer.Option(False, "--json", help="print the keys' records as JSON"),
) -> None:
    """List API keys by id, scope, bound npub and state; the keys themselves are not stored."""

    async def fetch() -> list[api_keys.ApiKey]:
        db = await _migrated_db()
        try:
            async with db.read() as conn:
                return await api_keys.list_keys(conn)
        finally:
            await db.dispose()

    rows = asyncio.run(fetch())
    if as_json:
        listed = [
            {
                "id": row.id,
                "scope": row.scope,
                "npub": row.npub,
                "label": row.label,
                "createdAt": row.created_at.isoformat(),
                "revokedAt": row.revoked_at.isoformat() if row.revoked_at else None,
            }
            for row in rows
        ]
        print(json.dumps(listed, indent=2))
        return
    table = Table("id", "scope", "npub", "label", "created", "revoked")
    # The id column never shrinks, because `revoke` needs the whole id.
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max((len(row.id) for row in rows), default=2)
    for row in rows:
        revoked = row.revoked_at.isoformat()[:19] if row.revoked_at else ""
        table.add_row(row.id, row.scope, row.npub or "any", row.label or "", row.created_at.isoformat()[:19], revoked)
    console.print(table)


@api_key_app.command("revoke")
def api_key_revoke(key_id: str = typer.Argument(..., help="the key's id, as list shows it (key_...)")) -> None:
    """Revoke an API key; requests with it get 401 from then on, on every replica."""

    async def revoke() -> bool:
        db = await _migrated_db()
        try:
            async with db.transaction("api_key_revoke") as conn:
                return await api_keys.revoke_key(conn, key_id)
        finally:
            await db.dispose()

    if not asyncio.run(revoke()):
        errors.print(f"no active API key has id {key_id}; see `nctool admin api-key list`")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@secret_key_app.command("generate")
def secret_key_generate(path: Path = typer.Argument(..., help="where to create the key file (mode 0600)")) -> None:
    """Create a new key file; it never overwrites one."""
    try:
        keyring = generate_key_file(path)
    except SecretKeyError as exc:
        errors.print(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"created {path} with key {keyring.current_id}; set NCTOOL_SECRET_KEY_FILE={path} and back it up")


def _key_file() -> Path:
    path = key_file_path(get_settings())
    if path is None:
        errors.print("NCTOOL_SECRET_KEY_FILE is not set; set it to the key file nctool serves with")
        raise typer.Exit(2)
    return path


@secret_key_app.command("add")
def secret_key_add() -> None:
    """Put a new key first in NCTOOL_SECRET_KEY_FILE; older keys stay below it for reading."""
    path = _key_file()
    try:
        old = load_key_file(path)
    except SecretKeyError as exc:
        errors.print(str(exc))
        raise typer.Exit(1) from exc
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    write_key_file(path, [new_key_line(), *lines])
    console.print(
        f"{path}: new key {load_key_file(path).current_id} encrypts from now on; "
        f"{len(old.keys)} older key(s) still decrypt. Restart nctool, then run `nctool admin secret-key rotate`."
    )


@secret_key_app.command("rotate")
def secret_key_rotate(
    prune: bool = typer.Option(False, help="after re-encrypting, delete every key but the first from the file"),
) -> None:
    """Re-encrypt every stored secret under the first key of NCTOOL_SECRET_KEY_FILE."""
    path = _key_file()
    try:
        keyring = load_key_file(path)
    except SecretKeyError as exc:
        errors.print(str(exc))
        raise typer.Exit(1) from exc
    install_keyring(keyring)

    async def reseal() -> None:
        from nctool.store.sealing import reseal_all

        db = await _migrated_db()
        try:
            for count in await reseal_all(db):
                console.print(f"{count.table}.{count.column}: re-encrypted {count.resealed} of {count.total}")
        finally:
            await db.dispose()

    asyncio.run(reseal())
    if prune and len(keyring.keys) > 1:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        write_key_file(path, lines[:1])
        console.print(f"{path}: kept key {keyring.current_id} only")
    console.print(f"every stored secret is encrypted under key {keyring.current_id}")
