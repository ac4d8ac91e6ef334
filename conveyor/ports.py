"""Ports the long-running commands listen on: a taken one is refused up front with one line naming the setting
that moves it, instead of a stack trace from deep inside a server."""

from __future__ import annotations

import socket

from conveyor.errors import ConveyorError


class PortBusy(ConveyorError):
    """A port Conveyor needs is taken."""

    def __init__(self, host: str, port: int, setting: str) -> None:
        super().__init__(f"port {port} on {host} is in use; set {setting} to use another")


def check_free(host: str, port: int, setting: str) -> None:
    """`PortBusy` naming the port and the setting that moves it, if something listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise PortBusy(host, port, setting) from None
