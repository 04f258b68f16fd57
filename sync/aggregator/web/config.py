"""The ``web:`` section of the aggregator config: where the plant web view listens,
who may log in with which role, TLS, and the plant's conventions for its reports."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from edge.config.base import Model

Role = Literal["viewer", "planner", "quality", "maintenance", "manager", "admin"]
ROLE_NAMES: tuple[str, ...] = ("viewer", "planner", "quality", "maintenance", "manager", "admin")
USER_RE = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
TOKEN_HASH_RE = r"^sha256\$[0-9a-f]{64}$"
HASH_RE = r"^pbkdf2_sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$"


class WebUser(Model):
    name: Annotated[str, Field(pattern=USER_RE)]
    """Login name."""
    role: Role
    """viewer (reads only), planner (orders and plans), quality, maintenance, manager
    (all of those), admin (also the audit log)."""
    password_hash: Annotated[str, Field(pattern=HASH_RE)] | None = None
    """From ``lineside aggregator web --hash-password``; none: only through the proxy
    header (single sign-on)."""
    full_name: str = ""
    token_hash: Annotated[str, Field(pattern=TOKEN_HASH_RE)] | None = None
    """Hash of the token in this user's credential file for scripts (``lineside
    aggregator user token``); absent: no credential file is accepted for them."""


class WebTls(Model):
    certificate: Path
    """PEM certificate (chain) the web view serves; relative to the config file's folder."""
    private_key: Path
    """PEM private key of the certificate (unencrypted: the service starts unattended)."""

    def problems(self) -> list[str]:
        """What keeps the web view from serving HTTPS with these files, one message per
        problem naming the field (``web.tls.certificate: …``); empty when they load."""
        out = []
        for name, path, marker in (
            ("certificate", self.certificate, b"-----BEGIN CERTIFICATE-----"),
            ("private_key", self.private_key, b"PRIVATE KEY-----"),
        ):
            try:
                head = path.read_bytes()[:1_000_000]
            except FileNotFoundError:
                out.append(f"web.tls.{name}: {path}: no such file")
                continue
            except IsADirectoryError:
                out.append(f"web.tls.{name}: {path}: a folder, not a PEM file")
                continue
            except OSError as e:
                out.append(f"web.tls.{name}: {path}: cannot be read ({e.strerror or e})")
                continue
            if marker not in head:
                out.append(f"web.tls.{name}: {path}: not a PEM {name.replace('_', ' ')}")
        if not out:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                ctx.load_cert_chain(self.certificate, self.private_key)
            except (ssl.SSLError, OSError) as e:
                out.append(
                    f"web.tls.private_key: {self.private_key}: does not load with {self.certificate} "
                    f"(not its key, or encrypted: {getattr(e, 'reason', None) or e})"
                )
        return out


class SpecLimits(Model):
    lsl: float | None = None
    usl: float | None = None
    target: float | None = None

    @model_validator(mode="after")
    def _order(self) -> SpecLimits:
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            raise ValueError("lsl must be below usl")
        return self


class WebCfg(Model):
    """The plant web view (``lineside aggregator web``, or ``aggregator run`` with this section)."""

    host: str = "127.0.0.1"
    """Address to listen on; 0.0.0.0 for every interface (put TLS in front, or set ``tls``)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    users: list[WebUser] = []
    """Plant users and their roles. With none, nobody can log in (unless ``proxy_user_header``)."""
    proxy_user_header: str | None = None
    """Single sign-on behind a reverse proxy: the header carrying the authenticated user
    (e.g. ``X-Remote-User``), believed only from ``trusted_proxies``. A user named
    there gets that entry's role; anyone else ``proxy_default_role``."""
    proxy_default_role: Role = "viewer"
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    tls: WebTls | None = None
    """Serve HTTPS directly (PEM files); else plain HTTP behind a TLS-terminating proxy."""
    secure_cookies: bool | None = None
    """Mark the session cookie Secure (HTTPS only); default: when ``tls`` is set. Set it
    true behind a TLS proxy."""
    session_idle_s: Annotated[float, Field(ge=60, le=30 * 86400)] = 8 * 3600
    """A session ends after this long without a request (a TV on the board keeps its own alive)."""
    session_absolute_s: Annotated[float, Field(ge=3600, le=90 * 86400)] = 7 * 86400
    """A session ends this long after its login however busy it is (log in again)."""
    andon_rotate_s: Annotated[float, Field(ge=3, le=3600)] = 15
    """TV/andon mode shows each area this long."""
    live_poll_s: Annotated[float, Field(ge=0.1, le=10)] = 0.5
    """How often the live-update feed looks at the plant store (one reader for all browsers)."""
    timezone: str = "UTC"
    """The plant's time zone: days in trends and dates typed into period fields."""
    planned_categories: list[str] = ["PLANNED"]
    """Reason categories (first segment of a reason code) that are planned stops."""
    setup_categories: list[str] = ["SETUP"]
    """Reason categories that are setup and adjustments."""
    spec_limits: dict[str, SpecLimits] = {}
    """Specification limits per SPC characteristic, for capability (Cp, Cpk, Pp, Ppk)."""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> WebCfg:
        names = [u.name.lower() for u in self.users]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"users: {sorted(dup)[0]!r} appears twice")
        if self.session_absolute_s < self.session_idle_s:
            raise ValueError(
                f"session_absolute_s: {self.session_absolute_s:g} is shorter than session_idle_s "
                f"({self.session_idle_s:g}); the absolute end of a session comes after its idle timeout"
            )
        return self

    @property
    def cookies_secure(self) -> bool:
        return self.secure_cookies if self.secure_cookies is not None else self.tls is not None
