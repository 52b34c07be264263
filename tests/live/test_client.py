"""The client library: typed errors, timeouts, reconnection, retries (lazy pirate)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import zmq

from zoe.core.errors import InvalidInput
from zoe.core.execution import ExecutionStatus
from zoe.live.client import MasterClient, new_request_id
from zoe.live.protocol import ExecutionRef, ListArgs, Request
from zoe.live.protocol_errors import (
    BadReply,
    ConflictError,
    InvalidZAppError,
    MasterUnavailable,
    RemoteError,
    TooLargeError,
)
from zoe.live.transport import ProtocolServer, ServerConfig

LOCAL = "tcp://127.0.0.1:*"


class Recorder:
    """A handler that records every request it executes and answers ``answer``."""

    def __init__(self, answer: Callable[[Request], Mapping[str, Any]]) -> None:
        self.requests: list[Request] = []
        self._answer = answer

    def __call__(self, request: Request) -> Mapping[str, Any]:
        self.requests.append(request)
        return self._answer(request)

    @property
    def calls(self) -> Counter[str]:
        return Counter(request.id for request in self.requests)


def echo(request: Request) -> Mapping[str, Any]:
    return {"op": request.op.value}


@contextmanager
def served(
    handler: Callable[[Request], Mapping[str, Any]],
    address: str = LOCAL,
    start_delay: float = 0.0,
    **config: Any,
) -> Iterator[Callable[[], str]]:
    """Serve ``handler`` in a thread, binding after ``start_delay`` seconds.

    Yields a function that returns the bound address once the server is up.
    """
    stop = threading.Event()
    bound = threading.Event()
    holder: list[ProtocolServer] = []

    def loop() -> None:
        if stop.wait(start_delay):
            return
        server = ProtocolServer(ServerConfig(address=address, **config))
        holder.append(server)
        bound.set()
        with server:
            while not stop.is_set():
                server.serve_once(handler, 10)

    def bound_address() -> str:
        assert bound.wait(5), "the server did not start"
        return holder[0].address

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield bound_address
    finally:
        stop.set()
        thread.join(5)


def free_address() -> str:
    socket = zmq.Context.instance().socket(zmq.ROUTER)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    socket.close(linger=0)
    return f"tcp://127.0.0.1:{port}"


def test_each_method_sends_its_op_and_returns_the_result():
    recorder = Recorder(echo)
    with (
        served(recorder) as address,
        MasterClient(address(), timeout_ms=2000) as client,
    ):
        results = [
            client.submit("wc", {"name": "wc"}, "alice"),
            client.terminate(4),
            client.delete(4),
            client.get(4),
            client.list_executions(),
            client.cluster(),
            client.scheduler(),
        ]
    ops = ["submit", "terminate", "delete", "get", "list", "cluster", "scheduler"]
    assert results == [{"op": op} for op in ops]
    assert [r.op.value for r in recorder.requests] == ops
    assert recorder.requests[1].args == ExecutionRef(4)


def test_ping_returns_the_pong():
    with served(echo) as address, MasterClient(address(), timeout_ms=2000) as client:
        pong = client.ping()
    assert pong["pong"] is True
    assert pong["protocol"] == 1


def test_list_filters_reach_the_master_as_given():
    recorder = Recorder(lambda request: {"executions": [], "next": None})
    with (
        served(recorder) as address,
        MasterClient(address(), timeout_ms=2000) as client,
    ):
        page = client.list_executions(
            user="bob", status=[ExecutionStatus.RUNNING, "queued"], limit=10
        )
    assert page == {"executions": [], "next": None}
    statuses = (ExecutionStatus.RUNNING, ExecutionStatus.QUEUED)
    assert recorder.requests[0].args == ListArgs("bob", statuses, 10, None)


def test_user_token_and_request_id_are_sent():
    recorder = Recorder(echo)
    with (
        served(recorder, token="t0k") as address,
        MasterClient(address(), timeout_ms=2000, user="alice", token="t0k") as client,
    ):
        client.submit("wc", {"name": "wc"}, "alice", request_id="chosen-1")
    (request,) = recorder.requests
    assert (request.id, request.user, request.auth.token) == (
        "chosen-1",
        "alice",
        "t0k",
    )


def test_an_error_reply_is_raised_as_its_type():
    def refuse(request: Request) -> Mapping[str, Any]:
        raise ConflictError("execution 4 is finished", {"status": "finished"})

    with (
        served(refuse) as address,
        MasterClient(address(), timeout_ms=2000) as client,
        pytest.raises(ConflictError) as caught,
    ):
        client.terminate(4, request_id="t-1")
    error = caught.value
    assert (error.type, error.message, error.request_id) == (
        "Conflict",
        "execution 4 is finished",
        "t-1",
    )
    assert error.details == {"status": "finished"}


def test_the_master_refusing_an_unknown_argument_is_raised_as_bad_request():
    with served(echo) as address, MasterClient(address(), timeout_ms=2000) as client:
        with pytest.raises(RemoteError, match=r"args\.force: unknown field"):
            client.call("get", {"execution_id": 1, "force": True})
        assert client.ping()["pong"] is True


def test_a_retry_after_a_timeout_is_not_executed_twice():
    def slow(request: Request) -> Mapping[str, Any]:
        time.sleep(0.4)
        return {"execution_id": 31}

    recorder = Recorder(slow)
    with (
        served(recorder) as address,
        MasterClient(address(), timeout_ms=250, retries=4) as client,
    ):
        result = client.submit("wc", {"name": "wc"}, "alice")
    assert result == {"execution_id": 31}
    assert len(recorder.requests) == 1


def test_a_request_sent_before_the_master_starts_succeeds():
    address = free_address()
    with (
        served(echo, address=address, start_delay=0.3),
        MasterClient(address, timeout_ms=200, retries=5) as client,
    ):
        assert client.cluster() == {"op": "cluster"}


def test_without_a_master_the_client_gives_up_after_its_retries_in_bounded_time():
    client = MasterClient(free_address(), timeout_ms=100, retries=2)
    started = time.monotonic()
    with client, pytest.raises(MasterUnavailable) as caught:
        client.ping()
    elapsed = time.monotonic() - started
    assert (caught.value.attempts, caught.value.timeout_ms, caught.value.op) == (
        3,
        100,
        "ping",
    )
    # three attempts of 100 ms, with generous slack for a loaded machine
    assert 0.25 < elapsed < 3.0


def test_the_client_works_again_once_the_master_is_back():
    address = free_address()
    with MasterClient(address, timeout_ms=100, retries=0) as client:
        with pytest.raises(MasterUnavailable):
            client.ping()
        with served(echo, address=address) as bound:
            bound()
            assert client.get(1) == {"op": "get"}


def test_a_request_over_the_client_limit_is_not_sent():
    client = MasterClient(free_address(), timeout_ms=5000, max_request_bytes=1000)
    started = time.monotonic()
    with client, pytest.raises(TooLargeError) as caught:
        client.submit("big", {"pad": "x" * 2000}, "alice")
    assert time.monotonic() - started < 1.0
    assert caught.value.details["limit"] == 1000


def test_the_master_too_large_reply_without_id_reaches_the_caller():
    with (
        served(echo, max_request_bytes=1024) as address,
        MasterClient(address(), timeout_ms=2000) as client,
        pytest.raises(TooLargeError) as caught,
    ):
        client.submit("big", {"pad": "x" * 2000}, "alice")
    assert caught.value.request_id is None
    assert caught.value.details["limit"] == 1024


@contextmanager
def scripted_master(replies: Callable[[bytes], list[list[bytes]]]) -> Iterator[str]:
    """A raw ROUTER that answers one request with the frames ``replies`` gives."""
    socket = zmq.Context.instance().socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    port = socket.bind_to_random_port("tcp://127.0.0.1")

    def answer() -> None:
        if socket.poll(5000, zmq.POLLIN):
            identity, _, body = socket.recv_multipart()
            for frames in replies(body):
                socket.send_multipart([identity, *frames])

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        thread.join(5)
        socket.close(linger=0)


def reply_to(body: bytes, **fields: Any) -> bytes:
    return json.dumps({"v": 1, "id": json.loads(body)["id"], **fields}).encode()


def test_a_stale_reply_is_dropped_and_the_right_one_returned():
    def replies(body: bytes) -> list[list[bytes]]:
        stale = json.dumps({"v": 1, "id": "old", "ok": True, "result": {"n": 0}})
        right = reply_to(body, ok=True, result={"n": 1})
        return [[b"", stale.encode()], [b"", right]]

    with scripted_master(replies) as address, MasterClient(address) as client:
        assert client.get(1) == {"n": 1}


def test_an_unknown_error_type_is_raised_as_a_remote_error():
    def replies(body: bytes) -> list[list[bytes]]:
        error = {"type": "Throttled", "message": "slow down", "details": {}}
        return [[b"", reply_to(body, ok=False, error=error)]]

    with (
        scripted_master(replies) as address,
        MasterClient(address) as client,
        pytest.raises(RemoteError) as caught,
    ):
        client.cluster()
    assert type(caught.value) is RemoteError
    assert caught.value.type == "Throttled"


def test_a_garbled_reply_is_a_bad_reply_naming_the_address():
    with (
        scripted_master(lambda body: [[b"", b"\xff not json"]]) as address,
        MasterClient(address) as client,
        pytest.raises(BadReply, match=f"master at {address}"),
    ):
        client.cluster()


def test_an_invalid_zapp_reply_carries_the_faults():
    def replies(body: bytes) -> list[list[bytes]]:
        faults = [{"path": "frameworks", "message": "required field is missing"}]
        error = {
            "type": "InvalidZApp",
            "message": "invalid ZApp",
            "details": {"faults": faults},
        }
        return [[b"", reply_to(body, ok=False, error=error)]]

    with (
        scripted_master(replies) as address,
        MasterClient(address) as client,
        pytest.raises(InvalidZAppError) as caught,
    ):
        client.submit("x", {}, "alice")
    assert caught.value.details["faults"][0]["path"] == "frameworks"


@pytest.mark.parametrize(("timeout_ms", "retries"), [(0, 1), (100, -1)])
def test_bad_client_settings_say_what_to_fix(timeout_ms, retries):
    with pytest.raises(InvalidInput, match="timeout_ms must be 1 or more"):
        MasterClient(timeout_ms=timeout_ms, retries=retries)


def test_a_malformed_address_is_invalid_input():
    with (
        MasterClient("tcp://nowhere", timeout_ms=100) as client,
        pytest.raises(InvalidInput, match="master address 'tcp://nowhere'"),
    ):
        client.ping()


def test_request_ids_are_fresh_hex():
    first, second = new_request_id(), new_request_id()
    assert first != second
    assert len(first) == 32
    assert int(first, 16) >= 0


def test_a_silent_attempt_is_retried_on_a_new_connection_with_the_same_request():
    socket = zmq.Context.instance().socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    received: list[tuple[bytes, bytes]] = []

    def answer_the_second() -> None:
        while len(received) < 2 and socket.poll(5000, zmq.POLLIN):
            identity, _, body = socket.recv_multipart()
            received.append((identity, body))
        socket.send_multipart([identity, b"", reply_to(body, ok=True, result={})])

    thread = threading.Thread(target=answer_the_second, daemon=True)
    thread.start()
    with MasterClient(f"tcp://127.0.0.1:{port}", timeout_ms=200, retries=1) as client:
        assert client.cluster() == {}
    thread.join(5)
    socket.close(linger=0)
    (first_peer, first_body), (second_peer, second_body) = received
    assert first_peer != second_peer
    assert first_body == second_body
