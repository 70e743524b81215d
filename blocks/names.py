"""GraphQL names for blocks and apps, and the rules for app slugs.

Generated app types expose each block under its field name, so a field name
must be a valid GraphQL name (``/[_A-Za-z][_0-9A-Za-z]*/`` in the GraphQL
specification) that does not start with ``__``, which the specification
reserves for introspection. It must not clash with the system
fields that the schema builder adds to every record type either.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
"""Pattern of a valid GraphQL name."""

MAX_FIELD_NAME_LENGTH = 64
"""Maximum length of a block's field name, in characters."""

RESERVED_FIELD_NAMES = frozenset(
    {"id", "version", "revision", "createdAt", "createdBy", "updatedAt", "updatedBy"}
)
"""Fields that the schema builder adds to every record type."""

TYPE_NAME_SUFFIXES = (
    "Connection",
    "Edge",
    "Filter",
    "OrderBy",
    "CreateInput",
    "UpdateInput",
    "Row",
    "Payload",
    "Data",
    "Change",
    "Records",
    "Create",
    "Update",
    "Delete",
    "Changed",
)
"""Suffixes the schema builder appends to an app's type name for related types
and, after lowering the first letter, for its root fields (``plotsRecords``)."""


def reserved_type_names(names: Iterable[str]) -> frozenset[str]:
    """Return ``names`` together with each name minus a generated suffix.

    An app named after such a stem would generate a type that already exists:
    the app ``app-import`` would make ``AppImportPayload``, a static type.
    """
    given = set(names)
    reserved = set(given)
    for name in given:
        for suffix in (*TYPE_NAME_SUFFIXES, "RowData"):
            if name.endswith(suffix) and len(name) > len(suffix):
                reserved.add(name[: -len(suffix)])
    return frozenset(reserved)


SLUG = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
"""Pattern of an app slug: a lowercase letter, then up to 62 of ``a-z0-9-``."""

DEFAULT_FIELD_NAME = "field"
"""Name suggested for input with no usable character at all."""

# Letters that NFKD does not decompose into an ASCII letter and a mark.
_LETTER_SPELLINGS = str.maketrans(
    {
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Đ": "D",
        "đ": "d",
        "Ł": "L",
        "ł": "l",
        "Þ": "Th",
        "þ": "th",
        "ı": "i",
    }
)
_NOT_NAME_CHARACTERS = re.compile(r"[^_0-9A-Za-z]+")
_UNDERSCORES = re.compile(r"_{2,}")
_NOT_SLUG_CHARACTERS = re.compile(r"[^a-z0-9]+")


def check_field_name(name: str) -> str | None:
    """Return why ``name`` cannot be a block's GraphQL field name, or None.

    The returned sentence names the first rule the name breaks and suggests
    a valid name produced by :func:`suggest_field_name`.
    """
    reason = _field_name_fault(name)
    if reason is None:
        return None
    return f"{reason} Use a name such as {suggest_field_name(name)!r} instead."


def _field_name_fault(name: str) -> str | None:
    if not name:
        return "A field name must not be empty."
    if len(name) > MAX_FIELD_NAME_LENGTH:
        return (
            f"The field name is {len(name)} characters long; the maximum is "
            f"{MAX_FIELD_NAME_LENGTH}."
        )
    if name in RESERVED_FIELD_NAMES:
        reserved = ", ".join(sorted(RESERVED_FIELD_NAMES))
        return (
            f"The field name {name!r} is reserved for a field that every record "
            f"has ({reserved})."
        )
    if GRAPHQL_NAME.match(name):
        if name.startswith("__"):
            return (
                f"The field name {name!r} starts with '__', which GraphQL "
                "reserves for introspection."
            )
        return None
    if name[0].isdigit():
        return f"The field name {name!r} starts with a digit."
    if not name.isascii():
        return f"The field name {name!r} contains non-ASCII characters."
    if any(character.isspace() for character in name):
        return f"The field name {name!r} contains spaces."
    if "-" in name:
        return f"The field name {name!r} contains '-'."
    return (
        f"The field name {name!r} contains characters other than ASCII letters, "
        "digits and '_'."
    )


def suggest_field_name(raw: str) -> str:
    """Map any text to a valid field name, the same way every time.

    A valid name comes back unchanged. Otherwise these steps apply in order:

    - accents are dropped, so ``Höhe`` becomes ``Hohe``;
    - every run of other characters becomes one ``_``;
    - leading and trailing ``_`` are removed;
    - a leading digit gets a ``_`` prefix;
    - the result is cut to :data:`MAX_FIELD_NAME_LENGTH` characters;
    - a reserved name gets a ``_`` suffix.

    Text with no usable character maps to :data:`DEFAULT_FIELD_NAME`.
    Importers use this to propose names. Two inputs may map to the same name,
    so callers still check for duplicates.
    """
    if _field_name_fault(raw) is None:
        return raw
    ascii_text = _to_ascii(raw)
    name = _NOT_NAME_CHARACTERS.sub("_", ascii_text)
    name = _UNDERSCORES.sub("_", name).strip("_")
    if not name:
        return DEFAULT_FIELD_NAME
    if name[0].isdigit():
        name = "_" + name
    name = name[:MAX_FIELD_NAME_LENGTH].rstrip("_")
    if name in RESERVED_FIELD_NAMES:
        name += "_"
    return name


def _to_ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTER_SPELLINGS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def check_slug(slug: str) -> str | None:
    """Return why ``slug`` cannot be an app slug, or None when it is valid."""
    if SLUG.match(slug):
        return None
    if not slug:
        reason = "An app slug must not be empty."
    elif len(slug) > 63:
        reason = f"The app slug is {len(slug)} characters long; the maximum is 63."
    elif not ("a" <= slug[0] <= "z"):
        reason = f"The app slug {slug!r} must start with a lowercase letter a-z."
    else:
        reason = (
            f"The app slug {slug!r} may contain only lowercase letters a-z, "
            "digits and '-'."
        )
    return f"{reason} Use a slug such as {_suggest_slug(slug)!r}."


def _suggest_slug(raw: str) -> str:
    slug = _NOT_SLUG_CHARACTERS.sub("-", _to_ascii(raw).lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = "app-" + slug
    return slug[:63].rstrip("-")


def type_name_for_app(
    slug: str, taken: set[str], reserved: frozenset[str] = frozenset()
) -> str:
    """Return the GraphQL type name of the app with ``slug``.

    The name is the slug in PascalCase (``tree-survey`` becomes
    ``TreeSurvey``). A name that is in ``reserved`` (the static schema's type
    names) or ends with one of :data:`TYPE_NAME_SUFFIXES` gets ``App``
    appended, so it cannot clash with a type generated for another app, such
    as ``TreeFilter`` for the app ``tree``. A name in ``taken`` or
    ``reserved`` then gets ``_2``, ``_3``... appended. Such names cannot come
    from a slug, because PascalCase removes every ``-``.

    The result is stable only when callers replay the same order: pass the
    names already given to the workspace's apps, assigning them to apps
    sorted by creation time, and add each result to ``taken`` before naming
    the next app.

    Raises:
        ValueError: ``slug`` is not a valid app slug.
    """
    fault = check_slug(slug)
    if fault is not None:
        raise ValueError(fault)
    base = "".join(part[:1].upper() + part[1:] for part in slug.split("-"))
    if base in reserved or base.endswith(TYPE_NAME_SUFFIXES):
        base += "App"
    name = base
    number = 2
    while name in taken or name in reserved:
        name = f"{base}_{number}"
        number += 1
    return name
