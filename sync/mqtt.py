"""paho-mqtt clients set up the same way for the uplink and the aggregator: MQTT 5 with
a persistent session (clean start off, session expiry), 3.1.1 as fallback, TLS with
verified server certificates, credentials from a file or the environment (never
logged), capped reconnect backoff.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config.uplink import MqttConfig

log = logging.getLogger("lineside.mqtt")

V5 = mqtt.MQTTv5
V311 = mqtt.MQTTv311

#: CONNACK reason codes that mean "this broker does not speak MQTT 5".
UNSUPPORTED_VERSION = {1, 132}


class RepeatFilter(logging.Filter):
    """Lets a message through once, then again only after ``quiet_s`` or a different
    message: paho reports the same network fault on every loop iteration while the
    broker is away (our own callbacks log the loss and the recovery once each)."""

    def __init__(self, quiet_s: float = 300.0) -> None:
        super().__init__()
        self.quiet_s = quiet_s
        self._last: tuple[str, float] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith("Client is not connected"):
            # paho's words after a failed connect; the reason is logged by whoever
            # owns the client (``on_fail`` of :func:`make_client`).
            return False
        if self._last is not None and self._last[0] == msg and record.created - self._last[1] < self.quiet_s:
            return False
        self._last = (msg, record.created)
        return True


_paho_log = logging.getLogger("lineside.mqtt.paho")
_paho_log.addFilter(RepeatFilter())


def connect_failure(exc: BaseException | None, cfg: MqttConfig) -> str:
    """Why a connection attempt failed, in words an operator can act on: which TLS check
    failed (unknown CA, host name, expiry), refused, unreachable, not resolvable."""
    where = f"{cfg.host}:{cfg.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, text = exc.verify_code, exc.verify_message or str(exc)
        if code in (2, 19, 20, 21):
            return (
                f"TLS: the broker's certificate is not signed by a CA in mqtt.tls.ca ({text}); "
                f"check mqtt.tls.ca ({cfg.tls.ca if cfg.tls else '-'})"
            )
        if code in (62, 64):  # host name, IP address mismatch
            return (
                f"TLS: the broker's certificate is not valid for the name {cfg.host!r} ({text}); "
                "connect by a name the certificate lists, or reissue it"
            )
        if code == 10:
            return f"TLS: the broker's certificate has expired ({text})"
        if code == 9:
            return f"TLS: the broker's certificate is not valid yet ({text}; check this machine's clock)"
        return f"TLS: the broker's certificate was refused ({text})"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if reason == "WRONG_VERSION_NUMBER":
            return f"TLS: {where} does not speak TLS (a plain MQTT port?)"
        if reason and reason.startswith("TLSV1_ALERT_"):
            return (
                f"TLS: the broker refused the handshake ({reason}): does it trust our client certificate "
                "(mqtt.tls.certificate)?"
            )
        return f"TLS handshake failed ({reason})"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where} (is the broker running and listening there?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the broker's name {cfg.host!r} ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {where} (a firewall, or the wrong address?)"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return f"cannot connect to {where}"


#: What a CONNACK refusal means and what to check (MQTT 5 reason codes; 3.1.1's 1-5).
_CONNACK = {
    4: "bad user name or password",
    5: "not authorized",
    134: "bad user name or password",
    135: "not authorized",
    133: "client id refused",
    138: "banned",
    140: "bad authentication method",
}


def connack_hint(rc: int) -> str:
    """`` (not authorized: check mqtt.username and the password)`` for a refusal code."""
    what = _CONNACK.get(rc)
    if what is None:
        return ""
    check = "mqtt.username and the password" if "password" in what or "authorized" in what else "the broker"
    return f" ({what}: check {check})"


def make_client(
    cfg: MqttConfig,
    client_id: str,
    *,
    version: int = V5,
    will: tuple[str, bytes] | None = None,
    manual_ack: bool = False,
    on_fail: Callable[[str], object] | None = None,
    clean: bool = False,
) -> mqtt.Client:
    """A configured, not yet connected client (start it with :func:`connect`).
    ``on_fail`` gets the reason (:func:`connect_failure`) of every failed attempt.
    ``clean``: no persistent session (Sparkplug edge nodes, the unified namespace)."""
    if version == V5:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=V5, manual_ack=manual_ack)
    else:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=V311,
            clean_session=clean,
            manual_ack=manual_ack,
        )
    if cfg.username:
        c.username_pw_set(cfg.username, cfg.password())
    if cfg.tls is not None:
        c.tls_set(
            ca_certs=str(cfg.tls.ca),
            certfile=str(cfg.tls.certificate) if cfg.tls.certificate else None,
            keyfile=str(cfg.tls.private_key) if cfg.tls.private_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        c.tls_insecure_set(False)
    if will is not None:
        c.will_set(will[0], will[1], qos=1, retain=True)
    c.reconnect_delay_set(max(1, round(cfg.reconnect_min_s)), max(1, round(cfg.reconnect_max_s)))
    c.max_queued_messages_set(0)
    c.enable_logger(_paho_log)
    if on_fail is not None:

        def failed(client: Any, userdata: Any) -> None:
            # paho calls this from inside its ``except OSError`` around the attempt
            # without passing the error: the one being handled is it.
            on_fail(connect_failure(sys.exc_info()[1], cfg))

        c.on_connect_fail = failed
    return c


def connect(c: mqtt.Client, cfg: MqttConfig, *, clean: bool = False) -> None:
    """Start connecting in the background; paho's thread reconnects after losses.
    ``clean``: a new session each time (MQTT 5 clean start, no session expiry)."""
    kwargs: dict[str, Any] = {}
    if c.protocol == V5 and clean:
        kwargs = {"clean_start": True}
    elif c.protocol == V5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.session_expiry_s
        kwargs = {"clean_start": False, "properties": props}
    c.connect_async(cfg.host, cfg.port, cfg.keepalive_s, **kwargs)
    c.loop_start()


def no_answer_to_v5(version: int, cfg: MqttConfig, answered: bool) -> bool:
    """A broker that took the TCP connection but closed it without any CONNACK to an
    MQTT 5 CONNECT (amqtt does this when the CONNECT carries properties or a will):
    in ``protocol: auto`` that means "try 3.1.1", as a CONNACK refusing v5 would."""
    return version == V5 and cfg.protocol == "auto" and not answered


def describe(cfg: MqttConfig) -> str:
    """Where we connect, for logs: never the password."""
    who = f"{cfg.username}@" if cfg.username else ""
    return f"mqtt{'s' if cfg.tls else ''}://{who}{cfg.host}:{cfg.port}"


def reason_value(rc: Any) -> int:
    return int(getattr(rc, "value", rc))
