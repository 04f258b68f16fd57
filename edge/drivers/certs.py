"""Self-signed OPC UA application certificates (client and simulator server).

Real plants usually get certificates from their PKI or the PLC's GDS; this covers test
rigs and first set-up (``lineside certs create``).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID


def create_app_certificate(
    out_dir: Path,
    name: str,
    uri: str,
    *,
    server: bool = False,
    days: int = 3650,
    hosts: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``NAME.der`` and ``NAME-key.pem`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    hostnames = hosts or ["localhost", socket.gethostname()]
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    for h in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = generate_self_signed_app_certificate(key, name, {}, sans, extended=usage, days=days)
    cert_path = out_dir / f"{name}.der"
    key_path = out_dir / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    return cert_path, key_path


def certificate_uri(cert_path: Path) -> str | None:
    """The application URI in a certificate's subjectAltName (OPC UA requires it to match)."""
    data = cert_path.read_bytes()
    cert = (
        x509.load_der_x509_certificate(data)
        if cert_path.suffix == ".der"
        else x509.load_pem_x509_certificate(data)
    )
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def load_der(path: Path) -> bytes:
    """A certificate file (DER or PEM) as DER bytes."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data


def thumbprint(der: bytes) -> str:
    import hashlib

    return hashlib.sha1(der).hexdigest()
