"""Messages of the master's protocol: validation of requests, encoding of replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zoe.core.errors import Fault, IllegalTransition, InvalidZApp, NotFound, UnknownName
from zoe.core.execution import ExecutionStatus
from zoe.live.errors import DatabaseUnavailable
from zoe.live.protocol import (
    ExecutionRef,
    ListArgs,
    NoArgs,
    Op,
    SubmitArgs,
    decode_reply,
    decode_request,
    encode_error,
    encode_request,
    encode_result,
    error_for_exception,
)
from zoe.live.protocol_errors import (
    BadReply,
    BadRequestError,
    ConflictError,
    InternalError,
    InvalidZAppError,
    NotFoundError,
    RemoteError,
    TooLargeError,
    UnavailableError,
    UnknownOpError,
    VersionMismatchError,
    remote_error,
)


def frame(document: Any) -> bytes:
    return json.dumps(document).encode()


def refused(document: Any) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        decode_request(frame(document))
    return caught.value


def test_a_valid_request_of_each_op_decodes_to_its_args():
    zapp = {"name": "a", "version": 4}
    cases = [
        (
            "submit",
            {"name": "n", "user": "u", "zapp": zapp},
            SubmitArgs("n", "u", zapp),
        ),
        ("terminate", {"execution_id": 7}, ExecutionRef(7)),
        ("delete", {"execution_id": 7}, ExecutionRef(7)),
        ("get", {"execution_id": 7}, ExecutionRef(7)),
        ("list", {}, ListArgs(None, None, 100, None)),
        ("cluster", {}, NoArgs()),
        ("scheduler", {}, NoArgs()),
        ("ping", {}, NoArgs()),
    ]
    for op, args, expected in cases:
        request = decode_request(frame({"v": 1, "id": "r1", "op": op, "args": args}))
        assert (request.id, request.op, request.args) == ("r1", Op(op), expected)


def test_args_and_auth_may_be_omitted_or_null():
    request = decode_request(frame({"v": 1, "id": "r", "op": "ping", "auth": None}))
    assert request.args == NoArgs()
    assert request.user is None


def test_list_filters_are_read_as_statuses():
    args = {"user": "bob", "status": ["queued", "running"], "limit": 5, "cursor": "c"}
    request = decode_request(frame({"v": 1, "id": "r", "op": "list", "args": args}))
    statuses = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
    assert request.args == ListArgs("bob", statuses, 5, "c")


def test_auth_user_is_read_and_the_token_is_not_shown():
    auth = {"user": "alice", "token": "s3cret"}
    request = decode_request(frame({"v": 1, "id": "r", "op": "ping", "auth": auth}))
    assert request.user == "alice"
    assert request.auth.token == "s3cret"
    assert "s3cret" not in repr(request)


def test_malformed_json_is_a_bad_request_without_id():
    with pytest.raises(BadRequestError, match="not valid JSON") as caught:
        decode_request(b'{"v": 1, "id": ')
    assert caught.value.request_id is None


@pytest.mark.parametrize(
    ("document", "kind"), [([1, 2], "array"), ("ping", "string"), (3, "number")]
)
def test_a_request_that_is_not_an_object_names_what_it_is(document, kind):
    error = refused(document)
    assert isinstance(error, BadRequestError)
    assert error.message == f"a request is a JSON object; got a JSON {kind}"


def test_bytes_that_are_not_utf8_are_a_bad_request():
    with pytest.raises(BadRequestError, match="not UTF-8"):
        decode_request(b"\x00\xff\xfe garbage")


def test_nan_is_refused_as_json():
    with pytest.raises(BadRequestError, match="NaN"):
        decode_request(b'{"v": 1, "id": "r", "op": "ping", "args": {"x": NaN}}')


def test_json_nested_too_deeply_is_a_bad_request():
    with pytest.raises(BadRequestError, match="nested too deeply"):
        decode_request(b"[" * 200_000, max_bytes=1_000_000)


def test_a_missing_id_is_named():
    error = refused({"v": 1, "op": "ping"})
    assert isinstance(error, BadRequestError)
    assert error.details == {"path": "id"}
    assert "'id' is missing" in error.message


def test_an_id_of_the_wrong_form_is_refused_and_not_echoed():
    error = refused({"v": 1, "id": "has space", "op": "ping"})
    assert isinstance(error, BadRequestError)
    assert error.request_id is None
    assert error.details == {"path": "id"}


def test_an_unknown_op_lists_the_valid_ones_and_echoes_the_id():
    error = refused({"v": 1, "id": "r9", "op": "reboot"})
    assert isinstance(error, UnknownOpError)
    assert error.request_id == "r9"
    assert error.details["valid"] == [
        "submit",
        "terminate",
        "delete",
        "get",
        "list",
        "cluster",
        "scheduler",
        "ping",
        "logs",
    ]


def test_a_missing_op_is_a_bad_request():
    error = refused({"v": 1, "id": "r"})
    assert isinstance(error, BadRequestError)
    assert error.details["path"] == "op"


def test_a_wrong_version_is_a_version_mismatch():
    error = refused({"v": 2, "id": "r", "op": "ping"})
    assert isinstance(error, VersionMismatchError)
    assert error.request_id == "r"
    assert error.details == {"supported": [1], "got": 2}


@pytest.mark.parametrize(
    ("version", "shown"), [("1", '"1"'), (True, "true"), (1.0, "1.0")]
)
def test_a_version_must_be_the_integer_one(version, shown):
    error = refused({"v": version, "id": "r", "op": "ping"})
    assert isinstance(error, VersionMismatchError)
    # the message shows the version as the client wrote it, in JSON
    assert error.message.startswith(f"protocol version {shown} is not supported")


def test_a_missing_version_is_a_bad_request():
    error = refused({"id": "r", "op": "ping"})
    assert isinstance(error, BadRequestError)
    assert error.details == {"path": "v"}


def test_an_unknown_envelope_field_is_named():
    error = refused({"v": 1, "id": "r", "op": "ping", "priority": 3})
    assert isinstance(error, BadRequestError)
    assert error.details == {"path": "priority"}
    assert "'priority'" in error.message


def test_an_unknown_argument_is_named_with_the_valid_ones():
    args = {"execution_id": 3, "force": True}
    error = refused({"v": 1, "id": "r", "op": "get", "args": args})
    assert isinstance(error, BadRequestError)
    assert error.request_id == "r"
    assert error.details["path"] == "args.force"
    assert error.message == "args.force: unknown field; valid fields: execution_id"


def test_a_wrong_type_names_its_json_path():
    args = {"status": ["queued", 5]}
    error = refused({"v": 1, "id": "r", "op": "list", "args": args})
    assert isinstance(error, BadRequestError)
    assert error.details["path"] == "args.status[1]"


def test_an_execution_id_given_as_a_string_is_refused():
    error = refused({"v": 1, "id": "r", "op": "get", "args": {"execution_id": "3"}})
    assert error.details["path"] == "args.execution_id"
    assert 'got "3"' in error.message


def test_every_missing_argument_is_listed():
    error = refused({"v": 1, "id": "r", "op": "submit", "args": {"name": "x"}})
    paths = [fault["path"] for fault in error.details["faults"]]
    assert paths == ["args.user", "args.zapp"]


def test_args_that_are_not_an_object_are_refused():
    error = refused({"v": 1, "id": "r", "op": "get", "args": [3]})
    assert error.message == "field 'args' must be a JSON object; got a JSON array"


def test_an_unknown_auth_field_is_named():
    error = refused({"v": 1, "id": "r", "op": "ping", "auth": {"password": "x"}})
    assert error.details["path"] == "auth.password"


def test_a_request_over_the_limit_is_too_large_and_not_parsed():
    data = b"x" * 101
    with pytest.raises(TooLargeError) as caught:
        decode_request(data, max_bytes=100)
    assert caught.value.details == {"limit": 100, "size": 101}


def test_the_fingerprint_ignores_key_order_but_not_values():
    def fingerprint(args: dict[str, Any]) -> str:
        document = {"v": 1, "id": "r", "op": "submit", "args": args}
        return decode_request(frame(document)).fingerprint

    one = fingerprint({"name": "a", "user": "u", "zapp": {"x": 1, "y": 2}})
    same = fingerprint({"zapp": {"y": 2, "x": 1}, "user": "u", "name": "a"})
    other = fingerprint({"name": "b", "user": "u", "zapp": {"x": 1, "y": 2}})
    assert one == same
    assert one != other


def test_encode_request_writes_the_envelope():
    data = encode_request("r1", Op.GET, {"execution_id": 4}, {"user": "u"})
    assert json.loads(data) == {
        "v": 1,
        "id": "r1",
        "op": "get",
        "args": {"execution_id": 4},
        "auth": {"user": "u"},
    }


def test_a_result_reply_round_trips():
    data = encode_result("r1", {"execution_id": 4})
    assert json.loads(data) == {
        "v": 1,
        "id": "r1",
        "ok": True,
        "result": {"execution_id": 4},
    }
    reply = decode_reply(data)
    assert (reply.id, reply.result, reply.error) == ("r1", {"execution_id": 4}, None)


def test_an_error_reply_round_trips_to_its_class():
    data = encode_error("r1", NotFoundError("execution 4 not found", {"key": "4"}))
    assert json.loads(data)["error"] == {
        "type": "NotFound",
        "message": "execution 4 not found",
        "details": {"key": "4"},
    }
    error = decode_reply(data).error
    assert isinstance(error, NotFoundError)
    assert (error.message, error.details, error.request_id) == (
        "execution 4 not found",
        {"key": "4"},
        "r1",
    )


def test_details_that_are_not_json_are_sent_as_text():
    data = encode_error(None, ConflictError("x", {"when": {1, 2}}))
    assert json.loads(data)["error"]["details"] == {"when": "{1, 2}"}


def test_a_result_with_nan_cannot_be_encoded():
    with pytest.raises(ValueError, match="JSON"):
        encode_result("r", {"x": float("nan")})


def test_an_unknown_error_type_becomes_a_plain_remote_error():
    error = remote_error("Throttled", "slow down", {"after": 2})
    assert type(error) is RemoteError
    assert (error.type, str(error)) == ("Throttled", "Throttled: slow down")


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",
        b"[]",
        b'{"v": 1, "id": "r", "ok": true}',
        b'{"v": 1, "id": 5, "ok": true, "result": {}}',
        b'{"v": 1, "id": "r", "ok": false, "error": {"type": "X"}}',
        b'{"v": 3, "id": "r", "ok": true, "result": {}}',
    ],
)
def test_a_reply_that_breaks_the_protocol_is_a_bad_reply(data):
    with pytest.raises(BadReply):
        decode_reply(data)


def test_core_errors_map_to_their_reply_types():
    invalid = InvalidZApp([Fault("frameworks[0].name", "required field is missing")])
    mapped = error_for_exception(invalid)
    assert isinstance(mapped, InvalidZAppError)
    assert mapped.details == {
        "faults": [
            {"path": "frameworks[0].name", "message": "required field is missing"}
        ]
    }
    mapped = error_for_exception(NotFound("execution", "4"))
    assert isinstance(mapped, NotFoundError)
    assert mapped.details == {"kind": "execution", "key": "4"}
    mapped = error_for_exception(IllegalTransition("execution 4", "finished", "queued"))
    assert isinstance(mapped, ConflictError)
    assert mapped.details == {
        "subject": "execution 4",
        "old": "finished",
        "new": "queued",
    }
    assert isinstance(
        error_for_exception(UnknownName("policy", "x", ["a"])), BadRequestError
    )
    unavailable = error_for_exception(DatabaseUnavailable(2.0, "refused"))
    assert isinstance(unavailable, UnavailableError)


def test_an_unexpected_exception_is_internal_and_keeps_its_text_private():
    request = decode_request(frame({"v": 1, "id": "r7", "op": "cluster"}))
    mapped = error_for_exception(KeyError("password=hunter2"), request)
    assert isinstance(mapped, InternalError)
    assert "r7" in mapped.message
    assert "hunter2" not in mapped.message


def test_a_remote_error_stands_for_itself():
    error = ConflictError("no")
    assert error_for_exception(error) is error
