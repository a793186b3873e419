"""Credentials between Warden's parts: every hop is authenticated.

Without them, anyone who can reach Alertmanager's API could post a forged
BuildFailing (a CRISIS and a CRITICAL swarm with the forger's text in the
agent's context), silence every alert, or stop Prometheus. So:

- Prometheus and Alertmanager run with a web config file (`--web.config.file`)
  that asks for HTTP basic auth, the password stored as a bcrypt hash;
- the exporter and the responder ask the same of whoever scrapes them or
  reads their API (`scrape-password`); Alertmanager's webhooks to the
  responder carry the bearer token of `responder.token_file`, as before;
- Prometheus sends to Alertmanager and scrapes with the passwords' files;
  the responder reads Prometheus and posts to Alertmanager with them.

Every password is a file in `secrets_dir` (one line, mode 0600), made once by
`warden up` or `warden secrets` and never logged. The user name is `warden`.
Warden's own servers compare the password in constant time (no bcrypt: a
scrape a second would cost a hash each).
"""

from __future__ import annotations

import base64
import os
import secrets
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import yaml

USER = "warden"
SCRAPE, PROMETHEUS, ALERTMANAGER = "scrape-password", "prometheus-password", "alertmanager-password"
NAMES = (SCRAPE, PROMETHEUS, ALERTMANAGER)
BCRYPT_COST = 10
"""Prometheus checks a hash per request it has not seen; 10 keeps that near 50 ms."""


class SecretError(SystemExit):
    """A secret file cannot be read or made; the message names it."""


def make_secret(path: Path) -> bool:
    """Write a new random secret to `path` unless it exists; True if it was made.
    Made with O_EXCL and mode 0600: never readable by others, never overwritten."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # another part made it first
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    return True


def read_secret(
    path: Path, key: str = "", fix: str = "`warden secrets -c warden.yml` makes the secrets"
) -> str:
    """The secret in `path`; an error names the config `key` it came from and the `fix`."""
    where = f"{key} {path}" if key else str(path)
    try:
        raw = path.read_bytes().strip()
    except OSError as exc:
        raise SecretError(f"{where}: {exc.strerror}; {fix}") from exc
    # Sent in an HTTP header and compared byte for byte: a line break or a byte that
    # is not printable ASCII would be accepted here and never authenticate.
    bad = next((i for i, b in enumerate(raw) if not 0x21 <= b <= 0x7E), None)
    if bad is not None:
        what = "a line break" if raw[bad] in b"\r\n" else f"byte {raw[bad]:#04x}"
        raise SecretError(
            f"{where}: a secret is one line of printable ASCII without spaces; "
            f"found {what} at position {bad}"
        )
    if len(raw) < 16:
        raise SecretError(f"{where}: a secret must be at least 16 characters")
    return raw.decode("ascii")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    @property
    def header(self) -> str:
        """The Authorization header's value (never logged)."""
        pair = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def __repr__(self) -> str:
        return f"Credentials({self.user!r}, '***')"


@dataclass(frozen=True)
class Secrets:
    """The secrets folder of a stack (`secrets_dir`)."""

    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    def ensure(self) -> list[str]:
        """Make the secrets that are missing; their names."""
        return [name for name in NAMES if make_secret(self.path(name))]

    def credentials(self, name: str) -> Credentials:
        return Credentials(USER, read_secret(self.path(name)))

    def web_configs(self) -> tuple[Path, Path]:
        """Prometheus' and Alertmanager's web config files, (re)written from the
        passwords: (prometheus-web.yml, alertmanager-web.yml)."""
        out = []
        for name in (PROMETHEUS, ALERTMANAGER):
            path = self.folder / f"{name.removesuffix('-password')}-web.yml"
            write_web_config(path, read_secret(self.path(name)))
            out.append(path)
        return out[0], out[1]

    def cluster_tls(self) -> Path:
        """The Alertmanager cluster's TLS config file (`--cluster.tls-config`) and
        the certificates it names, made when missing (warden.clustertls)."""
        from warden import clustertls  # only where a stack is made: cryptography is large

        return clustertls.ensure(self.folder)

    def share(self) -> None:
        """Let the stack's containers read the secrets (they run as other users):
        the compose stack's volume is mounted only into them."""
        self.folder.chmod(0o755)
        for path in self.folder.iterdir():
            path.chmod(0o644)


def write_web_config(path: Path, password: str) -> None:
    """Prometheus' and Alertmanager's web config: basic auth, the password as a
    bcrypt hash. A file whose hash still matches is left as it is."""
    import bcrypt  # only where web configs are written: a C extension to load

    if path.exists():
        users = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("basic_auth_users")
        hashed = (users or {}).get(USER)
        if isinstance(hashed, str) and bcrypt.checkpw(password.encode(), hashed.encode()):
            return
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def fetch(
    url: str,
    credentials: Credentials | None,
    timeout: float,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """GET (or POST `data` to) another part of the stack with its credentials;
    raises OSError (an HTTP error included) like urlopen."""
    return fetch_with_headers(url, credentials, timeout, data, headers)[0]


def fetch_with_headers(
    url: str,
    credentials: Credentials | None,
    timeout: float,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, Message]:
    """`fetch`, with the response's headers (its `Date`: the peer's own clock)."""
    all_headers = dict(headers or {})
    if credentials is not None:
        all_headers["Authorization"] = credentials.header
    req = urllib.request.Request(url, data=data, headers=all_headers)  # noqa: S310  (our URLs)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        return bytes(resp.read()), resp.headers
