"""Settings read from the environment, with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from api.limits import Limits


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}.") from None


@dataclass(frozen=True)
class Settings:
    """Runtime settings of one appgraph process."""

    data_dir: Path = Path("./data")
    """Directory of the SQLite database and the file store."""
    development: bool = False
    """Serve the GraphiQL page at /graphql to browsers."""
    limits: Limits = field(default_factory=Limits)
    max_file_bytes: int = 20_000_000
    """Largest accepted upload of one file, in bytes."""
    default_page_size: int = 50

    @property
    def database_path(self) -> Path:
        """Return the SQLite database file."""
        return self.data_dir / "appgraph.sqlite3"

    @property
    def files_dir(self) -> Path:
        """Return the directory of the local blob store."""
        return self.data_dir / "files"

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from ``APPGRAPH_*`` environment variables."""
        limits = Limits(
            max_depth=_env_int("APPGRAPH_MAX_DEPTH", Limits.max_depth),
            max_aliases=_env_int("APPGRAPH_MAX_ALIASES", Limits.max_aliases),
            max_tokens=_env_int("APPGRAPH_MAX_TOKENS", Limits.max_tokens),
            max_body_bytes=_env_int("APPGRAPH_MAX_BODY_BYTES", Limits.max_body_bytes),
            max_page_size=_env_int("APPGRAPH_MAX_PAGE_SIZE", Limits.max_page_size),
        )
        return cls(
            data_dir=Path(os.environ.get("APPGRAPH_DATA_DIR", "./data")),
            development=os.environ.get("APPGRAPH_DEV", "") in ("1", "true", "yes"),
            limits=limits,
            max_file_bytes=_env_int("APPGRAPH_MAX_FILE_BYTES", cls.max_file_bytes),
        )
