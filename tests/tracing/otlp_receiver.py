"""A small OTLP/HTTP logs receiver on 127.0.0.1 for tests: it decodes what an OTLP exporter sends (protobuf
``ExportLogsServiceRequest``) with opentelemetry-proto, so the wire format is checked, not only the SDK's objects."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


class OtlpLogsReceiver:
    """Collects every log record POSTed to ``/v1/logs`` as a dict (trace_id, span_id, event_name, attributes)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path != "/v1/logs":
                    self.send_response(404)
                    self.end_headers()
                    return
                req = ExportLogsServiceRequest()
                req.ParseFromString(body)
                for rl in req.resource_logs:
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            owner.records.append({
                                "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(), "event_name": r.event_name,
                                "scope": sl.scope.name,
                                "attributes": {kv.key: _value(kv.value) for kv in r.attributes}})
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/logs"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
