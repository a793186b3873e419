"""HOST:PORT, where a part of Warden listens or is reached."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_EXPORTER_PORT = 8947
DEFAULT_RESPONDER_PORT = 8948


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """Parse HOST:PORT (IPv6 hosts in brackets); raises ValueError with the reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(
            f"expected HOST:PORT such as 127.0.0.1:{DEFAULT_EXPORTER_PORT}, got {text!r}"
        )
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, got {port}")
    return Listen(host.strip("[]"), port)
