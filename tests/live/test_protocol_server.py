"""The master's protocol socket, over real sockets on 127.0.0.1.

Each test serves a small counting handler in a thread and talks to it with raw
DEALER/REQ sockets, so that it can send what no client library would.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import zmq

from zoe.core.errors import InvalidInput, NotFound
from zoe.live.protocol import Request
from zoe.live.protocol_errors import ProtocolError, UnavailableError
from zoe.live.transport import ProtocolServer, ServerConfig, check_bindable

LOCAL = "tcp://127.0.0.1:*"
WAIT_MS = 2000


class CountingHandler:
    """Answers every op with a fixed result and counts the calls per request id."""

    def __init__(self, behaviour: Callable[[Request], Mapping[str, Any]] | None = None):
        self.calls: Counter[str] = Counter()
        self._behaviour = behaviour

    def __call__(self, request: Request) -> Mapping[str, Any]:
        self.calls[request.id] += 1
        if self._behaviour is not None:
            return self._behaviour(request)
        return {"op": request.op.value, "call": self.calls[request.id]}


@contextmanager
def served(
    handler: CountingHandler | None = None, **config: Any
) -> Iterator[tuple[ProtocolServer, CountingHandler]]:
    handler = handler or CountingHandler()
    server = ProtocolServer(ServerConfig(address=LOCAL, **config), clock=lambda: 1000.5)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            server.serve_once(handler, 10)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        stop.set()
        thread.join(5)
        server.close()


@contextmanager
def peer(address: str, kind: int = zmq.DEALER) -> Iterator[zmq.Socket[bytes]]:
    socket = zmq.Context.instance().socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(address)
    try:
        yield socket
    finally:
        socket.close(linger=0)


def exchange(socket: zmq.Socket[bytes], frames: list[bytes]) -> list[bytes]:
    socket.send_multipart(frames)
    assert socket.poll(WAIT_MS, zmq.POLLIN), "no reply from the server"
    return socket.recv_multipart()


def request(op: str = "ping", rid: str = "r1", **fields: Any) -> bytes:
    return json.dumps({"v": 1, "id": rid, "op": op, **fields}).encode()


def ask(address: str, body: bytes) -> dict[str, Any]:
    with peer(address) as socket:
        frames = exchange(socket, [b"", body])
    assert frames[0] == b""
    assert len(frames) == 2
    return json.loads(frames[1])


def still_serving(address: str) -> bool:
    reply = ask(address, request("ping", "after"))
    return reply["ok"] is True and reply["result"]["pong"] is True


@pytest.mark.parametrize(
    ("body", "rid", "error_type", "fragment"),
    [
        (b'{"v": 1, "id": "a", ', None, "BadRequest", "not valid JSON"),
        (b"[1, 2, 3]", None, "BadRequest", "got a JSON array"),
        (b'"ping"', None, "BadRequest", "got a JSON string"),
        (b'{"v": 1, "op": "ping"}', None, "BadRequest", "'id' is missing"),
        (request("reboot"), "r1", "UnknownOp", "unknown op"),
        (
            request("get", args={"execution_id": 1, "x": 2}),
            "r1",
            "BadRequest",
            "args.x",
        ),
        (
            request("get", args={"execution_id": 1.5}),
            "r1",
            "BadRequest",
            "args.execution_id",
        ),
        (request("ping", extra=1), "r1", "BadRequest", "'extra'"),
        (b'{"v": 7, "id": "r1", "op": "ping"}', "r1", "VersionMismatch", "version 7"),
        (b"\x00\x9f\x92\x96\xff garbage", None, "BadRequest", "not UTF-8"),
        (b"", None, "BadRequest", "not valid JSON"),
    ],
)
def test_a_bad_request_gets_an_error_reply_and_the_server_keeps_serving(
    body, rid, error_type, fragment
):
    with served() as (server, handler):
        reply = ask(server.address, body)
        assert reply["v"] == 1
        assert reply["ok"] is False
        assert reply["id"] == rid
        assert reply["error"]["type"] == error_type
        assert fragment in reply["error"]["message"]
        assert still_serving(server.address)
    assert handler.calls == Counter()


def test_an_oversized_request_gets_too_large_and_the_server_keeps_serving():
    body = request(
        "submit", args={"name": "n", "user": "u", "zapp": {"pad": "x" * 2000}}
    )
    with served(max_request_bytes=1024, hard_limit_bytes=1024 * 1024) as (server, _):
        reply = ask(server.address, body)
        assert reply["error"]["type"] == "TooLarge"
        assert reply["error"]["details"] == {"limit": 1024, "size": len(body)}
        assert reply["id"] is None
        assert still_serving(server.address)


def test_a_frame_over_the_hard_cap_is_dropped_without_reply_and_the_server_goes_on():
    with served(max_request_bytes=1024, hard_limit_bytes=4096) as (server, _):
        with peer(server.address) as socket:
            socket.send_multipart([b"", b"x" * 5000])
            assert not socket.poll(300, zmq.POLLIN)
        assert still_serving(server.address)


@pytest.mark.parametrize(
    "frames",
    [
        [b"", request(), request()],
        [request(), request()],
        [b"", b"", request()],
        [b""],
    ],
)
def test_frames_of_the_wrong_shape_get_an_error_reply(frames):
    with served() as (server, _), peer(server.address) as socket:
        reply = exchange(socket, frames)
        document = json.loads(reply[-1])
        assert document["error"]["type"] == "BadRequest"
        assert "one frame of JSON" in document["error"]["message"]
        assert still_serving(server.address)


def test_a_dealer_without_delimiter_gets_a_reply_without_delimiter():
    with served() as (server, _), peer(server.address) as socket:
        frames = exchange(socket, [request("cluster", "c1")])
    assert len(frames) == 1
    assert json.loads(frames[0]) == {
        "v": 1,
        "id": "c1",
        "ok": True,
        "result": {"op": "cluster", "call": 1},
    }


def test_a_req_socket_is_served():
    with served() as (server, _), peer(server.address, zmq.REQ) as socket:
        socket.send(request("scheduler", "s1"))
        assert socket.poll(WAIT_MS, zmq.POLLIN)
        reply = json.loads(socket.recv())
    assert reply["result"] == {"op": "scheduler", "call": 1}


def test_ping_is_answered_by_the_server_with_version_and_time():
    with served() as (server, handler):
        reply = ask(server.address, request("ping", "p1"))
    assert reply == {
        "v": 1,
        "id": "p1",
        "ok": True,
        "result": {
            "pong": True,
            "version": "0.1.0",
            "protocol": 1,
            "time": "1970-01-01T00:16:40.500000+00:00",
        },
    }
    assert handler.calls == Counter()


SUBMIT_ARGS = {"name": "wc", "user": "alice", "zapp": {"name": "wc"}}


def test_a_retried_submit_gets_the_same_reply_and_runs_once():
    with served() as (server, handler):
        first = ask(server.address, request("submit", "s1", args=SUBMIT_ARGS))
        again = ask(server.address, request("submit", "s1", args=SUBMIT_ARGS))
    assert (
        first
        == again
        == {
            "v": 1,
            "id": "s1",
            "ok": True,
            "result": {"op": "submit", "call": 1},
        }
    )
    assert handler.calls == Counter({"s1": 1})


def test_an_id_reused_for_another_request_is_a_conflict():
    other = {**SUBMIT_ARGS, "name": "other"}
    with served() as (server, handler):
        ask(server.address, request("submit", "s1", args=SUBMIT_ARGS))
        reply = ask(server.address, request("submit", "s1", args=other))
    assert reply["error"]["type"] == "Conflict"
    assert reply["id"] == "s1"
    assert handler.calls == Counter({"s1": 1})


def test_a_read_only_request_is_executed_again_on_retry():
    args = {"execution_id": 3}
    with served() as (server, handler):
        ask(server.address, request("get", "g1", args=args))
        reply = ask(server.address, request("get", "g1", args=args))
    assert reply["result"] == {"op": "get", "call": 2}
    assert handler.calls == Counter({"g1": 2})


def test_an_unavailable_reply_is_not_kept_so_a_retry_runs_again():
    def flaky(request: Request) -> Mapping[str, Any]:
        if handler.calls[request.id] == 1:
            raise UnavailableError("database down")
        return {"execution_id": 12}

    handler = CountingHandler(flaky)
    with served(handler) as (server, _):
        first = ask(server.address, request("submit", "s1", args=SUBMIT_ARGS))
        second = ask(server.address, request("submit", "s1", args=SUBMIT_ARGS))
    assert first["error"]["type"] == "Unavailable"
    assert second["result"] == {"execution_id": 12}
    assert handler.calls == Counter({"s1": 2})


def test_the_reply_cache_forgets_the_least_recent_beyond_its_capacity():
    with served(dedup_capacity=1) as (server, handler):
        ask(server.address, request("delete", "d1", args={"execution_id": 1}))
        ask(server.address, request("delete", "d2", args={"execution_id": 2}))
        reply = ask(server.address, request("delete", "d1", args={"execution_id": 1}))
    assert reply["result"] == {"op": "delete", "call": 2}
    assert handler.calls == Counter({"d1": 2, "d2": 1})


def test_a_retry_of_a_pending_request_waits_for_the_same_reply():
    body = request("terminate", "t1", args={"execution_id": 5})
    server = ProtocolServer(ServerConfig(address=LOCAL))
    with server, peer(server.address) as first, peer(server.address) as second:
        first.send_multipart([b"", body])
        requests = server.poll(WAIT_MS)
        second.send_multipart([b"", body])
        assert server.poll(WAIT_MS) == []
        assert server.pending_count == 1
        server.reply(requests[0], {"status": "cleaning up"})
        for socket in (first, second):
            assert socket.poll(WAIT_MS, zmq.POLLIN)
            assert json.loads(socket.recv_multipart()[1])["result"] == {
                "status": "cleaning up"
            }
    assert [r.id for r in requests] == ["t1"]


def test_a_request_cannot_be_answered_twice():
    server = ProtocolServer(ServerConfig(address=LOCAL))
    with server, peer(server.address) as socket:
        socket.send_multipart([b"", request("cluster", "c1")])
        (pending,) = server.poll(WAIT_MS)
        server.reply(pending, {})
        with pytest.raises(ProtocolError, match="c1: not pending"):
            server.reply(pending, {})


def test_a_handler_exception_becomes_internal_and_the_server_keeps_serving():
    def broken(request: Request) -> Mapping[str, Any]:
        raise RuntimeError("secret detail")

    with served(CountingHandler(broken)) as (server, _):
        reply = ask(server.address, request("cluster", "c9"))
        assert reply["error"]["type"] == "Internal"
        assert "c9" in reply["error"]["message"]
        assert "secret" not in reply["error"]["message"]
        assert still_serving(server.address)


def test_a_core_error_of_the_handler_keeps_its_type():
    def missing(request: Request) -> Mapping[str, Any]:
        raise NotFound("execution", "42")

    with served(CountingHandler(missing)) as (server, _):
        reply = ask(server.address, request("get", "g", args={"execution_id": 42}))
    assert reply["error"] == {
        "type": "NotFound",
        "message": "execution '42' not found",
        "details": {"kind": "execution", "key": "42"},
    }


def test_a_result_that_is_not_json_is_answered_as_internal():
    with served(CountingHandler(lambda request: {"when": object()})) as (server, _):
        reply = ask(server.address, request("cluster", "c1"))
        assert reply["error"]["type"] == "Internal"
        assert still_serving(server.address)


def test_a_token_is_required_when_configured():
    with served(token="s3cret") as (server, handler):
        refused = ask(server.address, request("cluster", "c1"))
        wrong = ask(server.address, request("cluster", "c2", auth={"token": "guess"}))
        right = ask(server.address, request("cluster", "c3", auth={"token": "s3cret"}))
    assert (refused["id"], refused["error"]["type"]) == ("c1", "Unauthorized")
    assert wrong["error"]["type"] == "Unauthorized"
    assert right["ok"] is True
    assert handler.calls == Counter({"c3": 1})


@pytest.mark.parametrize(
    "address",
    [
        "tcp://127.0.0.1:4850",
        "tcp://127.3.2.1:4850",
        "tcp://localhost:4850",
        "tcp://[::1]:4850",
        "tcp://lo:4850",
        "ipc:///tmp/zoe-master",
        "inproc://master",
    ],
)
def test_local_addresses_may_be_bound(address):
    check_bindable(address, allow_remote=False)


@pytest.mark.parametrize(
    "address",
    ["tcp://*:4850", "tcp://0.0.0.0:4850", "tcp://10.0.0.5:4850", "tcp://eth0:1"],
)
def test_remote_addresses_need_allow_remote(address):
    with pytest.raises(InvalidInput, match="allow_remote"):
        check_bindable(address, allow_remote=False)
    check_bindable(address, allow_remote=True)


@pytest.mark.parametrize("address", ["udp://127.0.0.1:1", "127.0.0.1:4850", "pgm://x"])
def test_other_transports_are_refused(address):
    with pytest.raises(InvalidInput, match="use tcp://HOST:PORT"):
        check_bindable(address, allow_remote=True)


def test_a_remote_address_is_refused_before_binding():
    with pytest.raises(InvalidInput, match="not a loopback address"):
        ProtocolServer(ServerConfig(address="tcp://0.0.0.0:*"))


def test_a_busy_port_is_a_protocol_error():
    with (
        ProtocolServer(ServerConfig(address=LOCAL)) as first,
        pytest.raises(ProtocolError, match="cannot bind the master"),
    ):
        ProtocolServer(ServerConfig(address=first.address))


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"max_request_bytes": 10}, "at least 64"),
        ({"max_request_bytes": 2000, "hard_limit_bytes": 1000}, "hard_limit_bytes"),
        ({"dedup_capacity": -1}, "dedup_capacity"),
        ({"max_batch": 0}, "max_batch"),
        ({"token": ""}, "token must not be empty"),
    ],
)
def test_a_bad_server_config_says_what_to_fix(fields, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        ServerConfig(**fields)
