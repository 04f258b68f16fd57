"""paho-mqtt clients set up the same way for the uplink and the aggregator: MQTT 5 with
a persistent session (clean start off, session expiry), 3.1.1 as fallback, TLS with
verified server certificates, credentials from a file or the environment (never
logged), capped reconnect backoff.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.config import MqttConfig

log = logging.getLogger("lineside.mqtt")

V5 = mqtt.MQTTv5
V311 = mqtt.MQTTv311

#: CONNACK reason codes that mean "this broker does not speak MQTT 5".
UNSUPPORTED_VERSION = {1, 132}


def make_client(
    cfg: MqttConfig,
    client_id: str,
    *,
    version: int = V5,
    will: tuple[str, bytes] | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A configured, not yet connected client (start it with :func:`connect`)."""
    if version == V5:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=V5, manual_ack=manual_ack)
    else:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=V311,
            clean_session=False,
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
    c.enable_logger(logging.getLogger("lineside.mqtt.paho"))
    return c


def connect(c: mqtt.Client, cfg: MqttConfig) -> None:
    """Start connecting in the background; paho's thread reconnects after losses."""
    kwargs: dict[str, Any] = {}
    if c.protocol == V5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.session_expiry_s
        kwargs = {"clean_start": False, "properties": props}
    c.connect_async(cfg.host, cfg.port, cfg.keepalive_s, **kwargs)
    c.loop_start()


def describe(cfg: MqttConfig) -> str:
    """Where we connect, for logs: never the password."""
    who = f"{cfg.username}@" if cfg.username else ""
    return f"mqtt{'s' if cfg.tls else ''}://{who}{cfg.host}:{cfg.port}"


def reason_value(rc: Any) -> int:
    return int(getattr(rc, "value", rc))
