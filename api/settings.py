"""Settings read from the environment, with embedded defaults."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from api.limits import Limits
from workflows.email import SmtpSettings
from workflows.guard import GuardedClient, GuardPolicy
from workflows.secrets import Secret
from workflows.settings import WorkflowSettings
from workflows.steps import StepResources

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}.") from None


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}.")


def smtp_from_env() -> SmtpSettings | None:
    """Read the SMTP server of email steps from ``APPGRAPH_SMTP_*`` variables.

    Returns None when ``APPGRAPH_SMTP_HOST`` is not set, so email steps fail
    with a message saying that no SMTP server is configured.

    Raises:
        ValueError: the host is set without a sender address, or a port or
            flag is malformed.
    """
    host = os.environ.get("APPGRAPH_SMTP_HOST", "").strip()
    if not host:
        return None
    from_address = os.environ.get("APPGRAPH_SMTP_FROM", "").strip()
    if not from_address:
        raise ValueError(
            "APPGRAPH_SMTP_FROM is missing; set it to the sender address of "
            "workflow email, such as workflows@example.com."
        )
    password = os.environ.get("APPGRAPH_SMTP_PASSWORD") or None
    return SmtpSettings(
        host=host,
        from_address=from_address,
        port=_env_int("APPGRAPH_SMTP_PORT", 587),
        username=os.environ.get("APPGRAPH_SMTP_USER") or None,
        password=Secret(password) if password else None,
        starttls=_env_bool("APPGRAPH_SMTP_STARTTLS", True),
    )


def networks_from_env() -> tuple[str, ...]:
    """Read ``APPGRAPH_ALLOW_NETWORKS``: comma-separated CIDRs for HTTP steps.

    Raises:
        ValueError: an entry is not an IPv4 or IPv6 network.
    """
    raw = os.environ.get("APPGRAPH_ALLOW_NETWORKS", "")
    networks = []
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry)))
        except ValueError:
            raise ValueError(
                f"APPGRAPH_ALLOW_NETWORKS has an invalid network {entry!r}; "
                "expected comma-separated CIDRs such as 10.0.0.0/8,192.168.1.0/24."
            ) from None
    return tuple(networks)


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
    workflow: WorkflowSettings = field(default_factory=WorkflowSettings)
    """Engine settings; ``workflow.redis_url`` set means runs execute in
    ``appgraph worker`` processes instead of this one."""
    smtp: SmtpSettings | None = None
    """SMTP server of email steps; None makes them fail with a message."""
    allow_networks: tuple[str, ...] = ()
    """CIDRs that HTTP steps may reach although the guard blocks them by
    default (loopback, private and link-local ranges)."""

    @property
    def database_path(self) -> Path:
        """Return the SQLite database file."""
        return self.data_dir / "appgraph.sqlite3"

    @property
    def files_dir(self) -> Path:
        """Return the directory of the local blob store."""
        return self.data_dir / "files"

    @property
    def redis_url(self) -> str | None:
        """Return the Redis URL of the workflow queue, or None for embedded runs."""
        return self.workflow.redis_url

    def step_resources(self) -> StepResources:
        """Return the HTTP client and SMTP server that workflow steps use."""
        policy = GuardPolicy(allowed_networks=self.allow_networks)
        return StepResources(http=GuardedClient(policy), smtp=self.smtp)

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from ``APPGRAPH_*`` environment variables.

        Workflow engine settings come from ``APPGRAPH_REDIS_URL`` and
        ``APPGRAPH_WORKFLOW_<NAME>`` variables (see
        :meth:`WorkflowSettings.from_env`), such as
        ``APPGRAPH_WORKFLOW_MAX_CHAIN_DEPTH``.

        Raises:
            ValueError: a variable is malformed; the message names it.
        """
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
            workflow=WorkflowSettings.from_env(),
            smtp=smtp_from_env(),
            allow_networks=networks_from_env(),
        )
