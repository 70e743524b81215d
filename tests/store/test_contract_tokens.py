import re
import sqlite3
from pathlib import Path

import pytest

from blocks.errors import NotFoundError
from store import Role, SQLiteStore, Store, Workspace, hash_token


async def test_create_token_plaintext_format(
    store: Store, workspace: Workspace
) -> None:
    plaintext, _ = await store.create_token(workspace.id, Role.ADMIN, "user-1", "cli")

    assert re.fullmatch(r"ag_[A-Za-z0-9_-]{43}", plaintext)


async def test_create_token_plaintexts_differ(
    store: Store, workspace: Workspace
) -> None:
    first, _ = await store.create_token(workspace.id, Role.ADMIN, "user-1", "a")
    second, _ = await store.create_token(workspace.id, Role.ADMIN, "user-1", "b")

    assert first != second


async def test_authenticate_returns_token(store: Store, workspace: Workspace) -> None:
    plaintext, token = await store.create_token(
        workspace.id, Role.MEMBER, "user-1", "phone"
    )

    assert await store.authenticate(plaintext) == token


async def test_authenticate_keeps_member_role(
    store: Store, workspace: Workspace
) -> None:
    plaintext, _ = await store.create_token(workspace.id, Role.MEMBER, "user-1", "x")

    token = await store.authenticate(plaintext)

    assert token is not None
    assert token.role is Role.MEMBER


@pytest.mark.parametrize("guess", ["", "ag_", "ag_wrong", "not-a-token"])
async def test_authenticate_unknown_is_none(
    store: Store, workspace: Workspace, guess: str
) -> None:
    await store.create_token(workspace.id, Role.ADMIN, "user-1", "cli")

    assert await store.authenticate(guess) is None


async def test_authenticate_altered_token_is_none(
    store: Store, workspace: Workspace
) -> None:
    plaintext, _ = await store.create_token(workspace.id, Role.ADMIN, "user-1", "cli")
    altered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")

    assert await store.authenticate(altered) is None


async def test_revoke_token_stops_authentication(
    store: Store, workspace: Workspace
) -> None:
    plaintext, token = await store.create_token(
        workspace.id, Role.ADMIN, "user-1", "cli"
    )

    await store.revoke_token(token.id)

    assert await store.authenticate(plaintext) is None


async def test_revoke_token_twice_is_harmless(
    store: Store, workspace: Workspace
) -> None:
    _, token = await store.create_token(workspace.id, Role.ADMIN, "user-1", "cli")
    await store.revoke_token(token.id)

    await store.revoke_token(token.id)

    assert await store.list_tokens(workspace.id) == []


async def test_revoke_token_unknown_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.revoke_token("missing")


async def test_revoke_token_other_workspace_raises(
    store: Store, workspace: Workspace, other_workspace: Workspace
) -> None:
    _, token = await store.create_token(workspace.id, Role.ADMIN, "user-1", "cli")

    with pytest.raises(NotFoundError):
        await store.revoke_token(token.id, workspace_id=other_workspace.id)


async def test_revoke_token_other_workspace_keeps_token(
    store: Store, workspace: Workspace, other_workspace: Workspace
) -> None:
    plaintext, token = await store.create_token(
        workspace.id, Role.ADMIN, "user-1", "cli"
    )
    with pytest.raises(NotFoundError):
        await store.revoke_token(token.id, workspace_id=other_workspace.id)

    assert await store.authenticate(plaintext) == token


async def test_list_tokens_skips_revoked(store: Store, workspace: Workspace) -> None:
    _, active = await store.create_token(workspace.id, Role.ADMIN, "user-1", "a")
    _, revoked = await store.create_token(workspace.id, Role.ADMIN, "user-1", "gone")
    await store.revoke_token(revoked.id, workspace_id=workspace.id)

    assert await store.list_tokens(workspace.id) == [active]


async def test_list_tokens_oldest_first(store: Store, workspace: Workspace) -> None:
    tokens = [
        (await store.create_token(workspace.id, Role.MEMBER, f"user-{i}", str(i)))[1]
        for i in range(3)
    ]

    assert await store.list_tokens(workspace.id) == tokens


async def test_list_tokens_per_workspace(
    store: Store, workspace: Workspace, other_workspace: Workspace
) -> None:
    await store.create_token(workspace.id, Role.ADMIN, "user-1", "cli")
    _, other = await store.create_token(other_workspace.id, Role.ADMIN, "user-2", "x")

    assert await store.list_tokens(other_workspace.id) == [other]


async def test_create_token_unknown_workspace_raises(store: Store) -> None:
    with pytest.raises(NotFoundError, match="'missing'"):
        await store.create_token("missing", Role.ADMIN, "user-1", "cli")


# SQLite only ------------------------------------------------------------------


async def test_sqlite_file_lacks_token_plaintext(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    workspace = await sqlite_store.create_workspace("acme", "Acme")
    plaintext, _ = await sqlite_store.create_token(
        workspace.id, Role.ADMIN, "user-1", "cli"
    )
    before_close = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    await sqlite_store.close()
    after_close = (tmp_path / "store.db").read_bytes()

    assert plaintext.encode() not in before_close
    assert plaintext.encode() not in after_close
    assert hash_token(plaintext).encode() in after_close


async def test_sqlite_token_hash_column_is_sha256(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    workspace = await sqlite_store.create_workspace("acme", "Acme")
    plaintext, token = await sqlite_store.create_token(
        workspace.id, Role.ADMIN, "user-1", "cli"
    )
    with sqlite3.connect(tmp_path / "store.db") as db:
        row = db.execute(
            "SELECT token_hash FROM api_tokens WHERE id = ?", (token.id,)
        ).fetchone()

    assert row == (hash_token(plaintext),)
