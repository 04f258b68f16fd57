"""The one error root of the edge package; the CLI turns these into messages and exit codes."""

from __future__ import annotations


class LinesideError(Exception):
    """Base of every error Lineside raises on purpose. ``exit_code`` is for the CLI."""

    exit_code = 1


class ConfigError(LinesideError):
    """Invalid configuration. ``messages`` are ``FILE: path.to.field: what is wrong``."""

    exit_code = 2

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


class DriverError(LinesideError):
    """A device did not answer, refused a request or sent data we cannot decode.

    ``retryable`` is False for faults that reconnecting will not fix (bad certificate,
    login refused); those are still retried, but slowly, and logged as such.
    """

    def __init__(self, device: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device
        self.message = message
        self.retryable = retryable


class WriteRefused(LinesideError):
    """A write was refused before reaching the PLC (not writable, unknown tag, bad value)."""

    exit_code = 3


class StoreError(LinesideError):
    """The local store cannot be opened or written."""


class StoreUnusable(StoreError):
    """The store is damaged, not a database, or not readable/writable by this user:
    retrying or restarting does not help, a person must act (the message says what).
    Exit 2, which the systemd units do not restart on."""

    exit_code = 2
