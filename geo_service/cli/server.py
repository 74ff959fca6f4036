"""uvicorn, started so that no response waits on the client's delayed ACK and several
workers share the connections.

With --workers N uvicorn binds one listening socket itself, as `socket.socket(family)`,
and hands it to every worker. Two things went wrong with it:

- Its protocol number is 0. asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
  sockets whose protocol is IPPROTO_TCP, and connections accepted from that socket inherit
  the 0: each response's headers and body left as two segments, the second held back until
  the client's delayed ACK, 40 ms later. Every small response took 44 ms and a kept-alive
  connection managed about 22 requests a second.
- The worker that wakes first accepts every connection waiting (asyncio accepts in a
  loop), so kept-alive clients that connect together all land on one worker while the
  other idles.

So here each worker gets a socket of its own, made as a TCP socket and bound to the same
port with SO_REUSEPORT: the kernel spreads new connections over the workers. One worker
binds as uvicorn always did (asyncio makes that socket, with its protocol set).
"""

import logging
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("uvicorn.error")


def run_server(
    app: str,
    *,
    host: str,
    port: int,
    workers: int = 1,
    factory: bool = False,
    certfile=None,
    keyfile=None,
) -> None:
    """uvicorn.run for an app given as "module:attribute" (workers need an import string);
    HTTPS when given a certificate (and its key, unless the certificate file holds it)."""
    config = uvicorn.Config(
        app,
        factory=factory,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        # A worker answers the supervisor only once it has imported GDAL, PROJ & co.: on a
        # busy machine that takes longer than uvicorn's 5 s, which then kills it in a loop.
        timeout_worker_healthcheck=60,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a client on this
        # host could then claim any address and dodge the sign-in throttle. The app
        # believes it only from TRUSTED_PROXIES (api/app.py).
        proxy_headers=False,
    )
    if workers > 1:
        scheme = "https" if certfile else "http"
        log.info("Uvicorn running on %s://%s:%d with %d workers", scheme, host, port, workers)
        _Workers(config, sockets=[]).run()
    else:
        uvicorn.Server(config).run()


class _Workers(Multiprocess):
    """uvicorn's supervisor, handing each worker it starts (or restarts) a socket of its own."""

    @property
    def sockets(self) -> list[socket.socket]:
        return [_listening_socket(self.config.host, self.config.port)]

    @sockets.setter
    def sockets(self, value) -> None:  # Multiprocess.__init__ sets it: each worker binds anew
        pass


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
