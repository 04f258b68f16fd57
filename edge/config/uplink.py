"""The MQTT broker connection (shared by the edge uplink and the aggregator) and the
``uplink:`` section of a line config.

Secrets never live in these files: a password comes from a file or an environment
variable named here, is read when connecting, and is never logged or echoed back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from edge.config.base import Model
from edge.core.errors import ConfigError


class Tls(Model):
    """TLS towards the broker; server certificates are always verified."""

    ca: Path
    """CA certificate (PEM) that signed the broker's certificate."""
    certificate: Path | None = None
    """Client certificate (PEM) when the broker asks for one."""
    private_key: Path | None = None
    """Private key (PEM) of the client certificate."""

    @model_validator(mode="after")
    def _pair(self) -> Tls:
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("certificate and private_key go together")
        return self


class MqttConfig(Model):
    """How to reach the MQTT broker."""

    host: str = "127.0.0.1"
    """Broker host name or address."""
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    """Broker port (8883 is usual with TLS)."""
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    """MQTT version: ``auto`` tries 5 and falls back to 3.1.1 for brokers without it."""
    client_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """Client id (default: derived from the line or ``lineside-aggregator``). It names
    the persistent session, so it must be stable across restarts and unique."""
    keepalive_s: Annotated[int, Field(ge=2, le=3600)] = 10
    """Keep-alive; a silent connection is declared dead after 1.5 times this."""
    session_expiry_s: Annotated[int, Field(ge=0, le=30 * 86400)] = 7 * 86400
    """How long the broker keeps this client's session (queued QoS 1 messages) while it
    is away."""
    username: str | None = None
    """User name at the broker."""
    password_file: Path | None = None
    """File holding the password (first line)."""
    password_env: str | None = None
    """Environment variable holding the password."""
    tls: Tls | None = None
    """TLS settings; plain TCP when absent."""
    reconnect_min_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    """First reconnect delay; doubles up to ``reconnect_max_s``."""
    reconnect_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    """Longest reconnect delay."""

    @model_validator(mode="after")
    def _password(self) -> MqttConfig:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give password_file or password_env, not both")
        if (self.password_file is not None or self.password_env is not None) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def password(self) -> str | None:
        """The password from its file or environment variable (ConfigError names which)."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError) as e:
                raise ConfigError([f"mqtt.password_file: cannot read {self.password_file}: {e}"]) from None
        if self.password_env is not None:
            v = os.environ.get(self.password_env)
            if v is None:
                raise ConfigError([f"mqtt.password_env: environment variable {self.password_env} is not set"])
            return v
        return None

    def resolved(self, base: Path) -> MqttConfig:
        """Relative paths made relative to the config file's folder."""

        def fix(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        tls = None
        if self.tls is not None:
            tls = self.tls.model_copy(
                update={
                    "ca": fix(self.tls.ca),
                    "certificate": fix(self.tls.certificate),
                    "private_key": fix(self.tls.private_key),
                }
            )
        return self.model_copy(update={"password_file": fix(self.password_file), "tls": tls})


class UplinkConfig(Model):
    """Store-and-forward of the line's streams to the aggregator over MQTT."""

    enabled: bool = True
    """Off: the agent keeps everything locally (retention then ignores acks)."""
    mqtt: MqttConfig = MqttConfig()
    """Broker connection."""
    batch_max_bytes: Annotated[int, Field(ge=1024, le=256 * 1024)] = 16 * 1024
    """Largest batch payload."""
    batch_max_ms: Annotated[int, Field(ge=5, le=10_000)] = 100
    """Longest a committed record waits before it is sent."""
    inflight: Annotated[int, Field(ge=1, le=1000)] = 20
    """Batches published and not yet acknowledged by the broker (PUBACK)."""
    unacked_records: Annotated[int, Field(ge=1000, le=10_000_000)] = 200_000
    """Per stream, records sent but not yet acknowledged end to end by the aggregator;
    beyond it the uplink waits (bounds what sits in the broker while the aggregator is away)."""
    ack_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    """No end-to-end ack progress for this long while records are outstanding: resend
    from the last ack (the aggregator ignores duplicates). Doubles while it keeps failing."""
    status_interval_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """How often retained status, current order and shift KPIs are refreshed."""
