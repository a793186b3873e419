"""Mutual TLS on the Alertmanager cluster's gossip port.

Alertmanager's gossip (memberlist, on its web port + 1) authenticates nobody
by itself: whoever reaches the port joins the cluster, and a silence posted to
that newcomer's own, open API becomes active on every member, so a local user
(or an agent, which runs as one) could silence Warden. With
`--cluster.tls-config` the members speak TLS to each other and each must show
a certificate signed by the cluster's own CA (`RequireAndVerifyClientCert`).

`warden secrets` and `warden up` make that CA and one member certificate, which
every member shows, once, in `secrets_dir`. The CA's key is never written: no
other certificate can ever be signed with it. To replace them, delete the
`cluster-*` files and restart the stack (every member at once).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from warden.atomicfile import write_atomic

CA, CERT, KEY = "cluster-ca.pem", "cluster-cert.pem", "cluster-key.pem"
CONFIG = "alertmanager-cluster.yml"
SERVER_NAME = "warden-alertmanager-cluster"
"""The name every member's certificate carries and every member asks for: members
are reached by address (127.0.0.1, a compose service, another host), so the name
checked is the cluster's, not the host's."""
VALIDITY = dt.timedelta(days=3650)


def ensure(folder: Path) -> Path:
    """The TLS config file Alertmanager's `--cluster.tls-config` reads, with the
    certificates it names; made when any of them is missing."""
    config = folder / CONFIG
    if not all((folder / name).exists() for name in (CA, CERT, KEY, CONFIG)):
        # Each file is replaced whole, mode 0600 (write_atomic's temp file); a
        # crash midway leaves one missing, and the next start makes them all anew.
        ca_pem, cert_pem, key_pem = _issue(dt.datetime.now(dt.UTC))
        write_atomic(folder / KEY, key_pem)
        write_atomic(folder / CERT, cert_pem)
        write_atomic(folder / CA, ca_pem)
        write_atomic(config, yaml.safe_dump(_tls_config(), sort_keys=False).encode())
    return config


def _tls_config() -> dict[str, dict[str, str]]:
    """Paths relative to the config file's folder, as Alertmanager reads them: the
    same file serves `warden up` and the compose stack's /secrets volume."""
    return {
        "tls_server_config": {
            "cert_file": CERT,
            "key_file": KEY,
            "client_ca_file": CA,
            "client_auth_type": "RequireAndVerifyClientCert",
        },
        "tls_client_config": {
            "cert_file": CERT,
            "key_file": KEY,
            "ca_file": CA,
            "server_name": SERVER_NAME,
        },
    }


def _issue(now: dt.datetime) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, member certificate, member key), PEM; the CA's key is dropped."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Warden Alertmanager cluster CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    cert = (
        _builder(name, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
