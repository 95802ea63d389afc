"""A fake, instant OpenAI-compatible server for benchmarks: canned chat completions with logprobs.

It is a fake, named as such: no model runs. It exists so that a benchmark measures the client side
(the harness, deepeval, a bare HTTP client) and not a model. It answers each client in the shape that
client asks for, read from the prompt:

- this harness's label prompts ("Reply with 'Score: <answer>' ... one of: 1, 2, 3, 4, 5") get
  ``"<marker> <label>\\nReason ..."`` with the label token's top alternatives set to every label;
- deepeval's G-Eval prompts (which ask for a JSON object with "score" and "reason") get that JSON,
  the score token carrying top alternatives "5".."9";
- anything else (e.g. "write evaluation steps") gets three numbered steps.

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /stats`` (requests served).
``--delay-ms N`` answers each chat request N ms late (a slow model, for fault tests that must kill a
run while judge calls are in flight).
A raw asyncio HTTP/1.1 server with keep-alive (on uvloop when installed), so that it is not the
bottleneck. Run ``python bench/fake_openai_server.py --port 0``: it prints ``PORT <n>`` once listening
on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

MODELS = ("fake-judge", "gpt-4o")
_REPLY_WITH = re.compile(r"Reply with '(.+?) <answer>' on the first line, where <answer> is one of: (.+?)\. ")


def _lp(p: float) -> float:
    return math.log(p)


def _spread(labels: list[str], best: str) -> list[dict[str, Any]]:
    """Top alternatives over ``labels``: most mass on ``best``, the rest decaying with distance."""
    i = labels.index(best)
    weights = [2.0 ** -abs(j - i) for j in range(len(labels))]
    z = sum(weights)
    return [
        {"token": lab, "logprob": _lp(w / z), "bytes": None} for lab, w in zip(labels, weights, strict=True)
    ]


def _token(tok: str, p: float = 0.99, top: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "token": tok,
        "logprob": _lp(p),
        "bytes": None,
        "top_logprobs": top or [{"token": tok, "logprob": _lp(p)}],
    }


def _harness_reply(marker: str, labels: list[str]) -> tuple[str, list[dict[str, Any]]]:
    best = labels[len(labels) * 3 // 4] if len(labels) > 1 else labels[0]  # "4" on 1..5, "B" for A/B
    top = _spread(labels, best)
    chosen = next(t["logprob"] for t in top if t["token"] == best)
    tokens = [_token(marker), _token(" "), {**_token(best), "logprob": chosen, "top_logprobs": top}]
    tokens += [_token(t) for t in ("\n", "The", " response", " is", " clear", " and", " accurate", ".")]
    return "".join(t["token"] for t in tokens), tokens


def _deepeval_reply() -> tuple[str, list[dict[str, Any]]]:
    digits = [str(d) for d in range(5, 10)]
    top = _spread(digits, "7")
    chosen = next(t["logprob"] for t in top if t["token"] == "7")
    pieces = ['{"', "reason", '":', ' "', "Clear", " and", " accurate", '",', ' "', "score", '":', " "]
    tokens = [_token(t) for t in pieces] + [
        {**_token("7"), "logprob": chosen, "top_logprobs": top},
        _token("}"),
    ]
    return "".join(t["token"] for t in tokens), tokens


def _steps_reply() -> tuple[str, list[dict[str, Any]]]:
    text = "1. Read the input.\n2. Check the response against it.\n3. Score it."
    return text, [_token(text)]


class Canned:
    """Builds each distinct reply once; afterwards a request costs a JSON parse and a dictionary lookup."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, ...], bytes] = {}
        self.requests = 0

    def chat(self, body: bytes) -> bytes:
        self.requests += 1
        req = json.loads(body)
        content = "\n".join(str(m.get("content", "")) for m in req.get("messages", []))
        model = str(req.get("model", MODELS[0]))
        want_logprobs = bool(req.get("logprobs"))
        m = _REPLY_WITH.search(content)
        if m:
            key: tuple[str, ...] = ("harness", model, m.group(1), m.group(2), str(want_logprobs))
        elif '"score"' in content and "JSON" in content:
            key = ("deepeval", model, str(want_logprobs))
        else:
            key = ("steps", model, str(want_logprobs))
        cached = self._bodies.get(key)
        if cached is None:
            if key[0] == "harness":
                text, tokens = _harness_reply(m.group(1), [s.strip() for s in m.group(2).split(",")])  # type: ignore[union-attr]
            elif key[0] == "deepeval":
                text, tokens = _deepeval_reply()
            else:
                text, tokens = _steps_reply()
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": {"content": tokens} if want_logprobs else None,
            }
            cached = self._bodies[key] = json.dumps(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [choice],
                    "usage": {
                        "prompt_tokens": 100,
                        "completion_tokens": len(tokens),
                        "total_tokens": 100 + len(tokens),
                    },
                }
            ).encode()
        return cached

    def models(self) -> bytes:
        return json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]}).encode()


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    reason = {200: "OK", 404: "Not Found", 400: "Bad Request", 411: "Length Required"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


class _Protocol(asyncio.Protocol):
    def __init__(self, canned: Canned, delay_s: float = 0.0) -> None:
        self.canned = canned
        self.delay_s = delay_s
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            method, path = head[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
            if headers.get("transfer-encoding", "").lower() == "chunked":
                self.transport.write(_response(411, b'{"error":"send content-length"}', False))
                self.transport.close()
                return
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            keep_alive = headers.get("connection", "").lower() != "close"
            path = path.split("?", 1)[0]
            if method == "POST" and path.endswith("/chat/completions"):
                try:
                    status, out = 200, self.canned.chat(body)
                except (ValueError, KeyError, TypeError) as exc:
                    status, out = 400, json.dumps({"error": str(exc)}).encode()
            elif method == "GET" and path.endswith("/models"):
                status, out = 200, self.canned.models()
            elif method == "GET" and path == "/stats":
                status, out = 200, json.dumps({"requests": self.canned.requests}).encode()
            else:
                status, out = 404, b'{"error":"not found"}'
            if self.delay_s and method == "POST":
                loop = asyncio.get_running_loop()
                loop.call_later(self.delay_s, self._send_late, _response(status, out, keep_alive), keep_alive)
                continue
            self.transport.write(_response(status, out, keep_alive))
            if not keep_alive:
                self.transport.close()
                return


    def _send_late(self, response: bytes, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(response)
        if not keep_alive:
            self.transport.close()


async def serve(port: int, delay_s: float = 0.0) -> None:
    """Listen on 127.0.0.1:``port`` (0 = a free port), print ``PORT <n>``, serve until killed."""
    canned = Canned()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(canned, delay_s), "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


class FakeServer:
    """``bench/fake_openai_server.py`` in a subprocess on a free loopback port; stopped by its PID."""

    def __init__(self, delay_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", "0", "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def requests(self) -> int:
        import httpx

        return int(httpx.get(self.base_url.rsplit("/v1", 1)[0] + "/stats").json()["requests"])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--port`` (0 picks a free one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer chat requests this late")
    args = parser.parse_args(argv)
    try:
        import uvloop  # faster, so the fake server is never the bottleneck

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(args.port, args.delay_ms / 1000.0))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
