"""The real handler against a hostile /import: answers dripped a byte at a time, and 200s that are not Mixpanel's.

A request's whole time is bounded by REQUEST_TIMEOUT_SECONDS (and the time left), the invocation answers before its
deadline whatever the server does, and only Mixpanel's own answer confirms an import.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from mixpanel_forwarder.delivery_stats import DeliveryStats
from mixpanel_forwarder.errors import RequestTimeout, TransportError
from mixpanel_forwarder.transport import Endpoint, Urllib3Sender
from tests.functional.conftest import load_event

DRIP_S = 0.5  # one byte every half second: no single read ever waits long enough to time out
BOUND_S = 1.5  # how much later than its time a request, or the invocation, may end


def records(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def reported(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def delivery() -> DeliveryStats:
    result = runtime.last_result()
    assert result is not None
    return result.delivery


def reasons() -> set[str]:
    result = runtime.last_result()
    assert result is not None
    return set(result.ledger.reasons())


@pytest.fixture
def stop_sink_after(sink: MixpanelSink) -> Iterator[Any]:
    """Stops the sink after a while whatever happens, so that a handler that would wait for a whole drip cannot
    hold the test for minutes (without the bound, the sink's answer would take that long)."""
    timers: list[threading.Timer] = []

    def arm(seconds: float) -> None:
        timer = threading.Timer(seconds, sink.stop)
        timers.append(timer)
        timer.start()

    yield arm
    for timer in timers:
        timer.cancel()


# --- a slow drip ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_dripped_answer_is_cut_at_the_request_timeout_and_retried(
    headers: bool, sink: MixpanelSink, forwarder_env: Any, stop_sink_after: Any
) -> None:
    # GIVEN a 200 whose body (or status line and headers) comes one byte every 0.5 s: ~25 s (~75 s) in all
    forwarder_env(REQUEST_TIMEOUT_SECONDS="2", DEADLINE_MARGIN_MS="3000")
    sink.drip_next(DRIP_S, headers=headers)
    stop_sink_after(12)
    event = load_event("sqs-standard.json")

    # WHEN the handler runs with 12 s left
    started = time.monotonic()
    response = sqs_handler(event, lambda_context(remaining_ms=12_000))
    elapsed = time.monotonic() - started

    # THEN the dripped request ends after its 2 s, and the retry imports everything
    assert response == {"batchItemFailures": []}
    assert len(sink.events) == 5
    assert [log.fault for log in sink.requests] == ["drip-headers" if headers else "drip", None]
    assert delivery().requests == {"timeout": 1, "2xx": 1}
    first_request_ms = delivery().latencies_ms[0]
    assert first_request_ms < (2 + BOUND_S) * 1000
    assert elapsed < 2 + BOUND_S
    print(f"dripped {'headers' if headers else 'body'}: request cut after {first_request_ms:.0f} ms, "
          f"handler {elapsed:.2f} s")  # fmt: skip


def test_drip_longer_than_the_time_left_ends_before_the_deadline(
    sink: MixpanelSink, forwarder_env: Any, stop_sink_after: Any
) -> None:
    # GIVEN a request timeout far beyond the function's time, and every answer dripped
    forwarder_env(REQUEST_TIMEOUT_SECONDS="30", DEADLINE_MARGIN_MS="3000")
    sink.drip_next(DRIP_S, count=20, headers=True)
    stop_sink_after(15)
    event = load_event("sqs-standard.json")
    context = lambda_context(remaining_ms=7_000)  # 4 s to send, 3 s of margin to report

    started = time.monotonic()
    response = sqs_handler(event, context)
    elapsed = time.monotonic() - started

    # THEN the handler answers within the time it had (less the margin), reporting every record
    assert elapsed < 4 + BOUND_S
    assert context.get_remaining_time_in_millis() > 0
    assert reported(response) == records(event)
    assert [log.fault for log in sink.requests] == ["drip-headers"]
    # The request is cut when the time is up, which is when the wait ends: either may tell first.
    assert all("time ran out" in reason or "within 4 s" in reason for reason in reasons())
    print(f"drip past the deadline: handler answered after {elapsed:.2f} s of a 4 s budget")


# --- a 200 that is not Mixpanel's answer ---------------------------------------------------------------------------


@pytest.mark.parametrize("miscount", [False, True], ids=["portal-html", "miscount"])
def test_unconfirmed_200_is_retried_and_then_imported(
    miscount: bool, sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    sink.unconfirmed_next(miscount=miscount)
    event = load_event("sqs-standard.json")

    response = sqs_handler(event, context)

    assert response == {"batchItemFailures": []}
    assert len(sink.events) == 5
    assert [log.fault for log in sink.requests] == ["miscount" if miscount else "portal", None]
    assert delivery().requests == {"2xxUnconfirmed": 1, "2xx": 1}


def test_unconfirmed_200_every_time_reports_the_records_and_imports_nothing(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    forwarder_env(MAX_ATTEMPTS="3")
    sink.unconfirmed_next(count=100)
    event = load_event("sqs-standard.json")

    response = sqs_handler(event, context)

    assert reported(response) == records(event)
    assert sink.events == []
    assert len(sink.requests) == 3
    [reason] = reasons()
    assert "a 200 that is not Mixpanel's answer for 5 events: <!DOCTYPE html>" in reason


# --- the transport on its own: TLS still verified, typed errors ----------------------------------------------------


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class DrippingTlsServer:
    """HTTPS on loopback that reads a request and drips a 200 back, one byte every `interval` s, until stopped."""

    def __init__(self, cert: Path, key: Path, interval: float) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._interval = interval
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DrippingTlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(5)
            try:
                with self._context.wrap_socket(connection, server_side=True) as tls:
                    self._answer(tls)
            except OSError:  # the client refused our certificate, or gave up on the drip
                connection.close()

    def _answer(self, tls: ssl.SSLSocket) -> None:
        received = b""
        while b"\r\n\r\n" not in received:
            received += tls.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
        while len(body) < length:
            body += tls.recv(65536)
        answer = b'{"code":200,"num_records_imported":1,"status":"OK"}'
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(answer))
        for byte in answer:
            if self._stopping.wait(self._interval):
                return
            tls.sendall(bytes([byte]))


def _endpoint(base: str) -> Endpoint:
    return Endpoint(f"{base}/import?strict=1&project_id=4242", "Basic c2luay11c2VyOnNpbmstc2VjcmV0")


BODY = gzip.compress(json.dumps([{"event": "e", "properties": {"time": 1_764_000_000, "$insert_id": "a"}}]).encode())


def test_tls_drip_is_cut_at_the_request_timeout_and_certificates_are_still_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _certificate(tmp_path)
    sender = Urllib3Sender(1, 2.0)
    with DrippingTlsServer(cert, key, interval=0.01) as server:
        endpoint = _endpoint(f"https://127.0.0.1:{server.port}")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            sender.send(endpoint, BODY, 2.0)  # a certificate nobody vouches for is refused
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted as a CA, through the same default verification
        assert sender.send(endpoint, BODY, 5.0).status == 200  # 0.01 s a byte is quick enough
    with DrippingTlsServer(cert, key, interval=DRIP_S) as server:
        endpoint = _endpoint(f"https://127.0.0.1:{server.port}")
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            sender.send(endpoint, BODY, 1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 1 + BOUND_S


def test_transport_errors_say_whether_the_time_ran_out(sink: MixpanelSink) -> None:
    sender = Urllib3Sender(1, 2.0)
    sink.hang_next(30)
    with pytest.raises(RequestTimeout):
        sender.send(_endpoint(sink.url), BODY, 0.5)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TransportError) as raised:
            sender.send(_endpoint(f"http://127.0.0.1:{port}"), BODY, 2.0)
    assert not isinstance(raised.value, RequestTimeout)  # urllib3 files it under connect timeouts: it is not one
