"""Idempotency keys of record creates.

A client may send an idempotency key with a create, so that a retry of a
request whose response was lost returns the record the first request made
instead of creating a second one. The key stays bound to its first request
for good. A repeat with the same request returns the first record with
``created`` false. A repeat with a
different request, or one made after the first record was deleted, is
rejected, so that a client never takes a stale record for its new data.

Keys are scoped to the user and the app, as the store's unique index is.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from api.uploads import StagedUpload
from blocks.errors import ErrorCode, Path, Problem, ProblemsError
from store import Record

MAX_KEY_LENGTH = 255
"""Maximum length of an idempotency key in characters, enough for any UUID
or ULID with a prefix."""

KEY_PATH: Path = ("idempotencyKey",)
"""Path of the problems raised here: the ``idempotencyKey`` input field."""


class IdempotencyKeyError(ProblemsError):
    """An idempotency key is invalid, or bound to another request; nothing was saved."""


def check_key(key: str | None) -> None:
    """Check that ``key`` is None or a usable idempotency key.

    Raises:
        IdempotencyKeyError: ``INVALID`` when the key is empty or only
            whitespace, ``TOO_LONG`` when it has more than
            :data:`MAX_KEY_LENGTH` characters.
    """
    if key is None:
        return
    if not key.strip():
        _reject(
            ErrorCode.INVALID,
            "The idempotency key is empty or blank. Send a unique key, such as "
            "a UUID, or leave idempotencyKey out.",
        )
    if len(key) > MAX_KEY_LENGTH:
        _reject(
            ErrorCode.TOO_LONG,
            f"The idempotency key has {len(key)} characters; the maximum is "
            f"{MAX_KEY_LENGTH}. Send a shorter key, such as a UUID.",
        )


def request_fingerprint(
    app_id: str,
    version: int | None,
    data: Mapping[str, Any],
    staged: Sequence[StagedUpload] = (),
) -> str:
    """Return the SHA-256 of a create request, in lowercase hex.

    The fingerprint covers the request as the client sent it: the app, the
    requested version (None for the current one) and the data keyed by block
    id, with each upload's content hash, name and type. It does not cover
    the normalized data, because that changes between two sends of the same
    request: unique numbers are allocated again, staged uploads get new file
    ids, and computed and fetched values may differ. A different spelling of
    the same value, such as ``1.5`` and ``"1.5"``, counts as different data.
    """
    uploads = {
        upload.placeholder_id: [upload.sha256, upload.filename, upload.content_type]
        for upload in staged
    }
    request = {"app": app_id, "version": version, "data": data, "uploads": uploads}
    canonical = json.dumps(
        request,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_default,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_repeat(record: Record, fingerprint: str) -> None:
    """Check that a repeated key may return ``record``, the first request's.

    A deleted record is never returned, whatever the repeat carries. A
    record without a stored fingerprint matches any request. Records
    created before the store kept fingerprints have none.

    Raises:
        IdempotencyKeyError: ``NOT_FOUND`` when the record was deleted since,
            ``CONFLICT`` when the first request had different data.
    """
    if record.deleted_at is not None:
        _reject(
            ErrorCode.NOT_FOUND,
            f"Record {record.id}, created with this idempotency key, was deleted. "
            f"Send a new key to create a record.",
        )
    stored = record.idempotency_fingerprint
    if stored is not None and stored != fingerprint:
        _reject(
            ErrorCode.CONFLICT,
            f"The idempotency key was already used for different data, which "
            f"created record {record.id}. Send a new key to create a record "
            f"with this data.",
        )


def _reject(code: ErrorCode, message: str) -> NoReturn:
    raise IdempotencyKeyError([Problem(KEY_PATH, code, message)])


def _json_default(value: object) -> object:
    """Encode the non-JSON values that GraphQL scalars parse into."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    # NOTE: a plugin scalar may parse into any object. Its str() must not
    # change between two sends of the same value, or every retry conflicts.
    return str(value)
