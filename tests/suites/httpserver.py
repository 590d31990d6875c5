"""A throwaway HTTP server on 127.0.0.1 serving a folder (for download tests; nothing leaves the host)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    faults: list[str] = []  # per request, consumed in order: "503" or "truncate" (half the body, then close)

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        fault = self.faults.pop(0) if self.faults else None
        if fault == "503":
            self.send_error(503, "busy")
            return
        if fault == "truncate":
            path = Path(self.translate_path(self.path))
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().do_GET()


@contextmanager
def serve(folder: Path, faults: list[str] | None = None) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:<port>) of a server for `folder`; `faults` are answered to the
    first requests, one each, before it serves normally."""
    handler_cls = type("_Handler", (_Quiet,), {"faults": list(faults or [])})
    handler = functools.partial(handler_cls, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
