"""A TLS failure names its reason (issue 13, finding 13) — unknown CA, a certificate for
another name, an expired certificate — against a real mosquitto serving TLS with
certificates made here; the uplink logs it once however often it retries, and its
recovery once. Before, paho's "Client is not connected. Socket: None" was all."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.config.uplink import MqttConfig
from sync import mqtt as m
from sync.uplink.session import Uplink
from tests.conftest import make_config
from tests.mqtt_rig import MOSQUITTO_HINT, Mosquitto, mosquitto_binary
from tests.sync.conftest import DEVICE, TAGS, uplink_section, wait

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(d: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path = d / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_server_cert(
    d: Path,
    name: str,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path],
    *,
    sans: list[x509.GeneralName],
    expired: bool = False,
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = (
        (NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1))
        if expired
        else (
            NOW - dt.timedelta(days=1),
            NOW + dt.timedelta(days=30),
        )
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca[0], hashes.SHA256())
    )
    cert_path, key_path = d / f"{name}.pem", d / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def tls_broker(d: Path, ca_pem: Path, cert: Path, key: Path) -> Mosquitto:
    if mosquitto_binary() is None:
        pytest.fail(MOSQUITTO_HINT)
    b = Mosquitto(d, extra=f"cafile {ca_pem}\ncertfile {cert}\nkeyfile {key}\n")
    b.start()
    return b


LOCAL = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


def first_failure(cfg: MqttConfig) -> str:
    """Connect once with paho (as the uplink and the aggregator do) and return the
    reason handed to ``on_fail``."""
    got: list[str] = []
    seen = threading.Event()

    def fail(reason: str) -> None:
        got.append(reason)
        seen.set()

    c = m.make_client(cfg, "tls-test", on_fail=fail)
    m.connect(c, cfg)
    try:
        assert seen.wait(15), "no connection failure reported"
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_ca", "the broker's certificate is not signed by a CA in mqtt.tls.ca"),
        ("wrong_host", "the broker's certificate is not valid for the name '127.0.0.1'"),
        ("expired", "the broker's certificate has expired"),
    ],
)
def test_a_tls_failure_names_its_reason(tmp_path: Path, case: str, expected: str) -> None:
    ca = make_ca(tmp_path, "plant-ca")
    other_ca = make_ca(tmp_path, "other-ca")
    sans = [x509.DNSName("broker.plant.example")] if case == "wrong_host" else LOCAL
    cert, key = make_server_cert(tmp_path, "broker", ca, sans=sans, expired=case == "expired")
    b = tls_broker(tmp_path / "mosq", ca[2], cert, key)
    try:
        trust = other_ca[2] if case == "unknown_ca" else ca[2]
        cfg = MqttConfig.model_validate({"host": "127.0.0.1", "port": b.port, "tls": {"ca": str(trust)}})
        reason = first_failure(cfg)
    finally:
        b.stop()
    assert reason.startswith(f"TLS: {expected}"), reason
    assert "Socket: None" not in reason


def test_the_uplink_logs_a_tls_failure_once_and_its_recovery_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker first presents a certificate for another name, then (restarted on the
    same port) a correct one: one warning with the reason, one recovery line."""
    caplog.set_level(logging.DEBUG, logger="lineside")
    ca = make_ca(tmp_path, "plant-ca")
    wrong = make_server_cert(tmp_path, "wrong", ca, sans=[x509.DNSName("broker.plant.example")])
    right = make_server_cert(tmp_path, "right", ca, sans=LOCAL)
    b = tls_broker(tmp_path / "mosq1", ca[2], *wrong)
    section = uplink_section(b.port)
    section["mqtt"] |= {"tls": {"ca": str(ca[2])}, "reconnect_min_s": 0.5, "reconnect_max_s": 1}
    up = Uplink(make_config(DEVICE, TAGS, tmp_path, uplink=section))
    up.start()
    try:
        wait(lambda: sum("still failing" in r.getMessage() for r in caplog.records) >= 3)
        b.stop()
        b = Mosquitto(
            tmp_path / "mosq2",
            port=b.port,
            extra=f"cafile {ca[2]}\ncertfile {right[0]}\nkeyfile {right[1]}\n",
        )
        b.start()
        wait(lambda: up.connected)
    finally:
        up.stop(0.5)
        b.stop()
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    failed = [x for x in msgs if "uplink cannot connect" in x]
    assert len(failed) == 1, failed
    assert "not valid for the name '127.0.0.1'" in failed[0], failed
    assert sum(x.startswith("uplink connection recovered after") for x in msgs) == 1, msgs
    assert not any("Client is not connected" in x for x in msgs)
