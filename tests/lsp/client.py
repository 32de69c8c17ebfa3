"""A small LSP client for the tests: `python -m netlang lsp` in a subprocess, JSON-RPC messages framed by
Content-Length headers over its stdin and stdout, every wait bounded by a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0  # seconds any one answer may take before the test fails (a first analysis imports jsonschema)


class ServerError(Exception):
    """The server answered a request with a JSON-RPC error."""


class Client:
    """One server process; requests wait for their answers, notifications from the server are kept."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-m", "netlang", "lsp"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.received: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.next_id = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                header = stream.readline()
                if not header:
                    with self.changed:
                        self.received.append({"closed": True})
                        self.changed.notify_all()
                    return
                header = header.strip()
                if not header:
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length).decode("utf-8"))
            if "method" in message and "id" in message:  # a request from the server: answer it
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            with self.changed:
                self.received.append(message)
                self.changed.notify_all()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def wait_for(self, predicate, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first message received that satisfies predicate (waiting for it); fails the test on timeout."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for message in self.received:
                    if predicate(message):
                        self.received.remove(message)
                        return message
                if any(message.get("closed") for message in self.received):
                    raise AssertionError(f"the server closed its output; stderr: {self.stderr()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no answer within {timeout} s; received: {self.received}")
                self.changed.wait(left)

    def request(self, method: str, params: Any, timeout: float = TIMEOUT) -> Any:
        """Send a request and return its result; ServerError for an error response."""
        self.next_id += 1
        number = self.next_id
        self._send({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
        answer = self.wait_for(lambda message: message.get("id") == number and "method" not in message, timeout)
        if "error" in answer:
            raise ServerError(answer["error"])
        return answer.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri: str, version: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The diagnostics the server publishes for this version of a document."""
        message = self.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                and m["params"]["uri"] == uri and m["params"].get("version") == version, timeout)
        return message["params"]["diagnostics"]

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode("utf-8", "replace")[-3000:]

    def close(self) -> int:
        """shutdown, exit, and the process's exit code (killed if it does not end)."""
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            return self.process.wait(timeout=5)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                stream.close()
