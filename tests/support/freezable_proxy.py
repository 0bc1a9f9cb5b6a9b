"""A TCP proxy to a real server that can be frozen: it keeps every connection open and
accepts new ones, but forwards nothing (a hung database host, a stalled route)."""

from __future__ import annotations

import select
import socket
import threading


class FreezableProxy:
    def __init__(self, *, upstream: tuple[str, int]):
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def unfreeze(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._stopped.set()
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # A connection made while frozen is accepted (the kernel does that) but not answered.
        self._flowing.wait()
        if self._stopped.is_set():
            client.close()
            return
        server = socket.create_connection(self.upstream)
        with self._lock:
            self._sockets += [client, server]
        peers = {client: server, server: client}
        try:
            while not self._stopped.is_set():
                self._flowing.wait()  # frozen: bytes stay in the kernel buffers, nobody answers
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                if not self._flowing.is_set():
                    continue
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()
