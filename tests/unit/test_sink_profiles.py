"""The sink's /engage and /groups over real loopback HTTP: every answer kind, each validation rule, the profiles
the valid updates leave behind, and every fault kind on these endpoints."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from localdev.sink import MixpanelSink, Profile, RequestLog, Update

TOKEN = "sink-token"
OK = {"status": 1, "error": None}


def user(distinct_id: object = "u1", operation: str = "$set", value: Any = None, **extra: Any) -> dict[str, Any]:
    """One /engage update; `extra` holds top-level keys (pass `$` keys as **{"$ip": "0"})."""
    update = {"$token": TOKEN, "$distinct_id": distinct_id, operation: {"plan": "pro"} if value is None else value}
    return {**update, **extra}


def group(group_id: object = "acme", operation: str = "$set", value: Any = None, **extra: Any) -> dict[str, Any]:
    update = {"$token": TOKEN, "$group_key": "company", "$group_id": group_id}
    return {**update, operation: {"size": 10} if value is None else value, **extra}


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


def send(
    http: urllib3.PoolManager,
    sink: MixpanelSink,
    updates: Any = None,
    *,
    path: str = "/engage",
    query: str = "verbose=1",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> urllib3.BaseHTTPResponse:
    payload = body if body is not None else json.dumps(updates).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    return http.request("POST", f"{sink.url}{path}?{query}", body=payload, headers=sent, timeout=timeout)


def answer(response: urllib3.BaseHTTPResponse) -> Any:
    return json.loads(response.data)


def properties(sink: MixpanelSink) -> dict[str, dict[str, Any]]:
    return {distinct_id: profile.properties for distinct_id, profile in sink.users.items()}


# --- answers -------------------------------------------------------------------------------------------


def test_engage_applies_a_valid_batch_and_answers_verbose_json(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    updates = [user("u1", **{"$ip": "0"}), user("u2", value={"plan": "free"}, **{"$ip": "0"})]
    response = send(http, sink, updates)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert answer(response) == OK
    assert sink.users == {"u1": Profile({"plan": "pro"}, ("0",)), "u2": Profile({"plan": "free"}, ("0",))}
    assert sink.users["u1"].ip == "0"
    size = len(json.dumps(updates).encode())
    assert sink.requests == [RequestLog(200, 2, 2, 0, False, size, None, "/engage", 0, 1)]
    assert sink.events == []


def test_groups_applies_a_valid_batch(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    response = send(http, sink, [group("acme"), group(7, value={"size": 3})], path="/groups")
    assert answer(response) == OK
    assert {key: profile.properties for key, profile in sink.groups.items()} == {
        ("company", "acme"): {"size": 10},
        ("company", "7"): {"size": 3},
    }
    assert sink.users == {}
    assert sink.requests[0].endpoint == "/groups"


def test_engage_without_verbose_answers_the_text_1(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    response = send(http, sink, [user()], query="")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain"
    assert response.data == b"1"


@pytest.mark.parametrize(("query", "verbose"), [("verbose=0", False), ("verbose=1", True), ("verbose=2", True)])
def test_engage_reads_verbose_from_the_query(
    sink: MixpanelSink, http: urllib3.PoolManager, query: str, verbose: bool
) -> None:
    response = send(http, sink, [user()], query=query)
    assert response.data == (b'{"status":1,"error":null}' if verbose else b"1")


def test_engage_without_verbose_answers_1_while_any_update_is_valid(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    """Mixpanel's bare `1` means "one or more objects provided are valid": a refused update does not make it 0."""
    assert send(http, sink, [user("u1"), user("")], query="").data == b"1"
    assert send(http, sink, [user(""), user(None)], query="").data == b"0"
    assert list(sink.users) == ["u1"]
    assert [(log.answer, log.imported, log.failed) for log in sink.requests] == [(1, 1, 1), (0, 0, 2)]


def test_engage_needs_no_authorization_and_ignores_a_wrong_one(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    wrong = urllib3.make_headers(basic_auth="nobody:nothing")
    assert answer(send(http, sink, [user()], headers=wrong)) == OK
    assert list(sink.users) == ["u1"]


def test_engage_reads_a_form_encoded_data_field_with_verbose_in_the_form(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    form = urlencode({"data": json.dumps([user("u1", value={"note": "a+b & c"})]), "verbose": "1", "ip": "0"})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = send(http, sink, body=form.encode(), query="", headers=headers)
    assert answer(response) == OK
    assert properties(sink) == {"u1": {"note": "a+b & c"}}


def test_engage_reads_base64_json_in_the_data_field(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    encoded = base64.b64encode(json.dumps([user("u1")]).encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = send(http, sink, body=urlencode({"data": encoded}).encode(), headers=headers)
    assert answer(response) == OK
    assert list(sink.users) == ["u1"]


def test_engage_reads_one_object_as_a_batch_of_one(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    assert answer(send(http, sink, user("u1"))) == OK
    assert list(sink.users) == ["u1"]


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        pytest.param(b"", "application/json", "data, missing or empty", id="empty-body"),
        pytest.param(b"[]", "application/json", "data, missing or empty", id="empty-array"),
        pytest.param(b"[{broken", "application/json", "data, neither JSON nor base64 JSON", id="not-json"),
        pytest.param(b'"text"', "application/json", "data, must be a JSON array of updates", id="not-an-array"),
        pytest.param(b"verbose=1", "application/x-www-form-urlencoded", "data, missing or empty", id="no-data-field"),
        pytest.param(
            b"data=%25%25", "application/x-www-form-urlencoded", "data, neither JSON nor base64 JSON", id="b64"
        ),
    ],
)
def test_engage_answers_status_0_to_a_body_it_cannot_read(
    sink: MixpanelSink, http: urllib3.PoolManager, body: bytes, content_type: str, error: str
) -> None:
    response = send(http, sink, body=body, headers={"Content-Type": content_type})
    assert response.status == 200
    assert answer(response) == {"status": 0, "error": error}
    assert sink.requests == [RequestLog(200, 0, 0, 0, False, len(body), None, "/engage", 0, 0)]


def test_engage_and_groups_refuse_a_gzip_body_with_400(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    body = gzip.compress(json.dumps([user()]).encode())
    for path in ("/engage", "/groups"):
        response = send(http, sink, body=body, path=path, query="", headers={"Content-Encoding": "gzip"})
        assert response.status == 400
        assert answer(response) == {  # JSON even without verbose: a bare 0 would not say why
            "status": 0,
            "error": f"Content-Encoding gzip is not supported: send {path} an uncompressed body",
        }
    assert sink.users == {}
    assert [(log.status, log.gzip, log.events, log.answer) for log in sink.requests] == [(400, True, 0, 0)] * 2


def test_engage_answers_404_elsewhere_and_get_is_not_an_endpoint(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    assert send(http, sink, [user()], path="/engage/extra").status == 404
    assert http.request("GET", f"{sink.url}/engage").status == 404
    assert sink.requests == []


# --- limits --------------------------------------------------------------------------------------------


def test_engage_takes_2000_updates_and_refuses_2001_with_400(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    assert answer(send(http, sink, [user(f"u{n}") for n in range(2000)])) == OK
    response = send(http, sink, [user(f"v{n}") for n in range(2001)], path="/groups", query="")
    assert response.status == 400
    assert answer(response) == {"status": 0, "error": "too many updates: 2001, at most 2000 per request"}
    assert len(sink.users) == 2000
    assert sink.groups == {}


def test_max_updates_is_a_setting(http: urllib3.PoolManager) -> None:
    with MixpanelSink(max_updates=2) as small:
        assert send(http, small, [user("a"), user("b")]).status == 200
        assert send(http, small, [user("c"), user("d"), user("e")]).status == 400
        assert list(small.users) == ["a", "b"]


def test_engage_answers_413_above_max_bytes(http: urllib3.PoolManager) -> None:
    with MixpanelSink(max_bytes=1000) as small:
        response = send(http, small, [user(f"u{n}", value={"pad": "x" * 200}) for n in range(5)])
        assert response.status == 413
        assert answer(response) == {
            "code": 413,
            "error": "request exceeds max limit of 1000 bytes",
            "status": "Payload Too Large",
        }
        assert small.users == {}
        assert small.requests[0].answer is None


def test_engage_refuses_an_update_of_1_mb_and_applies_the_rest(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    big = user("big", value={"pad": "x" * (1024 * 1024)})
    response = send(http, sink, [user("u1"), big])
    assert answer(response) == {"status": 0, "error": "update, 1048576 bytes or more: each update must be under 1 MB"}
    assert list(sink.users) == ["u1"]


# --- validation ----------------------------------------------------------------------------------------


def _without(update: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in update.items() if key != name}


PLACEHOLDER = "$distinct_id, a placeholder value (such as null, undefined or anonymous) is not an id"
ENGAGE_OPERATIONS = "$add, $append, $delete, $remove, $set, $set_once, $union, $unset"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        pytest.param("not an object", "update, must be a JSON object", id="not-an-object"),
        pytest.param(_without(user("x"), "$token"), "token, missing or empty", id="no-token"),
        pytest.param({**user("x"), "$token": ""}, "token, missing or empty", id="empty-token"),
        pytest.param({**user("x"), "$token": 5}, "token, must be a string", id="token-a-number"),
        pytest.param(_without(user("x"), "$distinct_id"), "$distinct_id, missing or empty", id="no-distinct-id"),
        pytest.param(user(""), "$distinct_id, missing or empty", id="empty-distinct-id"),
        pytest.param(user(None), "$distinct_id, missing or empty", id="null-distinct-id"),
        pytest.param(user(True), "$distinct_id, must be a string or a number", id="distinct-id-a-bool"),
        pytest.param(user(["a"]), "$distinct_id, must be a string or a number", id="distinct-id-a-list"),
        pytest.param(user("NULL"), PLACEHOLDER, id="placeholder-null-any-case"),
        pytest.param(user("Undefined"), PLACEHOLDER, id="placeholder-undefined"),
        pytest.param(user("00000000-0000-0000-0000-000000000000"), PLACEHOLDER, id="placeholder-zero-uuid"),
        pytest.param(user(0), PLACEHOLDER, id="placeholder-number-0"),
        pytest.param(user(-1), PLACEHOLDER, id="placeholder-number-minus-1"),
        pytest.param(
            _without(user("x"), "$set"),
            f"update, no operation: exactly one of {ENGAGE_OPERATIONS} is needed",
            id="none",
        ),
        pytest.param(
            user("x", **{"$unset": ["plan"]}),
            "update, more than one operation ($set, $unset): send each in an update of its own",
            id="two-operations",
        ),
        pytest.param(user("x", **{"$setx": {}}), "$setx, not a key of a /engage update", id="unknown-dollar-key"),
        pytest.param(user("x", **{"$group_id": "g"}), "$group_id, not a key of a /engage update", id="group-key"),
        pytest.param(user("x", "$set", ["plan"]), "$set, must be a JSON object of properties", id="set-a-list"),
        pytest.param(user("x", "$set_once", "v"), "$set_once, must be a JSON object of properties", id="set-once"),
        pytest.param(user("x", "$append", 1), "$append, must be a JSON object of properties", id="append"),
        pytest.param(user("x", "$remove", "a"), "$remove, must be a JSON object of properties", id="remove"),
        pytest.param(user("x", "$add", {"n": "1"}), "$add, 'n' must be a number", id="add-a-string"),
        pytest.param(user("x", "$add", {"n": True}), "$add, 'n' must be a number", id="add-a-bool"),
        pytest.param(user("x", "$union", {"t": []}), "$union, 't' must be a non-empty list", id="union-empty"),
        pytest.param(user("x", "$union", {"t": "a"}), "$union, 't' must be a non-empty list", id="union-not-a-list"),
        pytest.param(user("x", "$unset", []), "$unset, must be a non-empty list of property names", id="unset-empty"),
        pytest.param(user("x", "$unset", [1]), "$unset, must be a non-empty list of property names", id="unset-ints"),
        pytest.param(user("x", "$unset", "plan"), "$unset, must be a non-empty list of property names", id="unset"),
    ],
)
def test_engage_refuses_a_bad_update_with_status_0_and_applies_the_others(
    sink: MixpanelSink, http: urllib3.PoolManager, bad: Any, error: str
) -> None:
    response = send(http, sink, [user("u1"), bad, user("u2")])
    assert response.status == 200  # "a 200 OK even if there are data validation issues"
    assert answer(response) == {"status": 0, "error": error}
    assert properties(sink) == {"u1": {"plan": "pro"}, "u2": {"plan": "pro"}}  # the ambiguity: applied all the same
    assert sink.requests[0] == RequestLog(200, 3, 2, 1, False, sink.requests[0].bytes_raw, None, "/engage", 0, 0)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        pytest.param(_without(group(), "$group_key"), "$group_key, missing or empty", id="no-group-key"),
        pytest.param({**group(), "$group_key": ""}, "$group_key, missing or empty", id="empty-group-key"),
        pytest.param({**group(), "$group_key": 3}, "$group_key, must be a string", id="group-key-a-number"),
        pytest.param(_without(group(), "$group_id"), "$group_id, missing or empty", id="no-group-id"),
        pytest.param(group(""), "$group_id, missing or empty", id="empty-group-id"),
        pytest.param(group(False), "$group_id, must be a string or a number", id="group-id-a-bool"),
        pytest.param(group("g", "$add", {"n": 1}), "$add, not supported for group profiles", id="add"),
        pytest.param(group("g", "$append", {"t": 1}), "$append, not supported for group profiles", id="append"),
        pytest.param(group("g", **{"$distinct_id": "u"}), "$distinct_id, not a key of a /groups update", id="user-id"),
        pytest.param(_without(group(), "$token"), "token, missing or empty", id="no-token"),
        pytest.param(
            _without(group(), "$set"),
            "update, no operation: exactly one of $delete, $remove, $set, $set_once, $union, $unset is needed",
            id="no-operation",
        ),
    ],
)
def test_groups_refuses_a_bad_update_with_status_0_and_applies_the_others(
    sink: MixpanelSink, http: urllib3.PoolManager, bad: Any, error: str
) -> None:
    response = send(http, sink, [group("a"), bad, group("b")], path="/groups")
    assert answer(response) == {"status": 0, "error": error}
    assert set(sink.groups) == {("company", "a"), ("company", "b")}


def test_the_first_refusal_is_the_one_reported(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    response = send(http, sink, [user(""), _without(user("x"), "$token"), user("u1")])
    assert answer(response) == {"status": 0, "error": "$distinct_id, missing or empty"}
    assert list(sink.users) == ["u1"]


@pytest.mark.parametrize(
    "fine",
    [
        pytest.param(user("anonymous-42"), id="distinct-id-containing-a-placeholder"),
        pytest.param(user(12345), id="distinct-id-a-number"),
        pytest.param(user("d", "$delete", ""), id="delete-with-an-empty-string"),
        pytest.param(user("d", "$delete", None), id="delete-with-null"),
        pytest.param(user("d", "$set", {}), id="set-an-empty-object"),
        pytest.param(user("d", "$add", {"n": -2.5}), id="add-a-negative-float"),
        pytest.param(
            user("d", **{"$ip": "0", "$ignore_time": True, "$ignore_alias": False, "$time": 1764000000}),
            id="meta-keys",
        ),
        pytest.param(user("d", **{"$latitude": 52.5, "$longitude": 13.4}), id="location"),
        pytest.param(user("d", note="a key without $ is ignored"), id="plain-key"),
    ],
)
def test_engage_accepts_valid_edge_cases(sink: MixpanelSink, http: urllib3.PoolManager, fine: Any) -> None:
    assert answer(send(http, sink, [fine])) == OK
    assert sink.requests[0].imported == 1


def test_a_numeric_distinct_id_is_the_same_profile_as_its_string(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    send(http, sink, [user(42, value={"a": 1}), user("42", value={"b": 2})])
    assert properties(sink) == {"42": {"a": 1, "b": 2}}


# --- tokens --------------------------------------------------------------------------------------------


def test_a_wrong_token_is_accepted_but_not_applied_to_this_project(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    """Mixpanel checks only a token's format: the update goes to the project the token names, not this one."""
    elsewhere = {**user("other"), "$token": "another-project"}
    response = send(http, sink, [user("u1"), elsewhere])
    assert answer(response) == OK
    assert list(sink.users) == ["u1"]
    assert (sink.requests[0].imported, sink.requests[0].failed, sink.requests[0].wrong_token) == (1, 0, 1)
    assert sink.stats()["engage"]["wrong_token"] == 1
    assert sink.token == TOKEN


def test_a_sink_without_a_token_applies_no_update(http: urllib3.PoolManager) -> None:
    with MixpanelSink(token=None) as tokenless:
        assert answer(send(http, tokenless, [user()])) == OK
        assert tokenless.users == {}
        assert tokenless.requests[0].wrong_token == 1


# --- profile state -------------------------------------------------------------------------------------


def test_each_operation_changes_the_profile_as_mixpanel_documents(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    updates = [
        user("u", "$set", {"name": "Ann", "plan": "free", "tags": ["a"], "n": 1, "text": "t"}),
        user("u", "$set", {"plan": "pro"}),  # overwrites
        user("u", "$set_once", {"plan": "trial", "first_seen": "2025-01-01"}),  # only where absent
        user("u", "$add", {"n": 2, "logins": 1, "text": 5}),  # a missing property counts as 0; a string stays
        user("u", "$add", {"n": -0.5}),
        user("u", "$union", {"tags": ["a", "b", "b"], "fresh": [1, True]}),  # each item once; 1 is not true
        user("u", "$append", {"tags": "a", "events": {"k": 1}}),  # duplicates and all; a missing list is created
        user("u", "$append", {"name": "x"}),  # not a list: unchanged
        user("u", "$remove", {"tags": "a", "missing": 1, "name": "Ann"}),  # every "a" goes
        user("u", "$unset", ["text", "never-there"]),
    ]
    assert answer(send(http, sink, updates)) == OK
    assert properties(sink) == {
        "u": {
            "name": "Ann",
            "plan": "pro",
            "tags": ["b"],
            "n": 2.5,
            "first_seen": "2025-01-01",
            "logins": 1,
            "fresh": [1, True],
            "events": [{"k": 1}],
        }
    }


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param([("$set", {"a": 1}), ("$unset", ["a"])], {"b": 0}, id="set-then-unset"),
        pytest.param([("$unset", ["a"]), ("$set", {"a": 1})], {"a": 1, "b": 0}, id="unset-then-set"),
        pytest.param([("$set_once", {"a": 1}), ("$set", {"a": 2})], {"a": 2, "b": 0}, id="set-once-then-set"),
        pytest.param([("$set", {"a": 2}), ("$set_once", {"a": 1})], {"a": 2, "b": 0}, id="set-then-set-once"),
        pytest.param([("$append", {"a": 1}), ("$remove", {"a": 1})], {"a": [], "b": 0}, id="append-then-remove"),
        pytest.param([("$remove", {"a": 1}), ("$append", {"a": 1})], {"a": [1], "b": 0}, id="remove-then-append"),
    ],
)
def test_updates_apply_in_array_order(
    sink: MixpanelSink, http: urllib3.PoolManager, operations: list[tuple[str, Any]], expected: dict[str, Any]
) -> None:
    updates = [user("u", "$set", {"b": 0})] + [user("u", op, value) for op, value in operations]
    assert answer(send(http, sink, updates)) == OK
    assert properties(sink) == {"u": expected}


def test_updates_apply_in_request_order(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    send(http, sink, [user("u", "$set", {"a": 1})])
    send(http, sink, [user("u", "$unset", ["a"])])
    send(http, sink, [user("v", "$unset", ["a"])])
    send(http, sink, [user("v", "$set", {"a": 1})])
    assert properties(sink) == {"u": {}, "v": {"a": 1}}


def test_delete_removes_the_profile_and_taking_away_never_creates_one(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    send(http, sink, [user("u"), user("u", "$delete", ""), user("v", "$unset", ["a"]), user("w", "$remove", {"a": 1})])
    assert sink.users == {}
    send(http, sink, [user("u", "$add", {"n": 1})])  # a new profile after the delete
    assert properties(sink) == {"u": {"n": 1}}


def test_group_profiles_change_and_delete_by_key_and_id(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    updates = [
        group("acme", "$set", {"name": "Acme", "tags": ["x"]}),
        group("acme", "$union", {"tags": ["x", "y"]}),
        group("acme", "$remove", {"tags": "x"}),
        group("acme", "$unset", ["name"]),
        group("gone", "$set_once", {"a": 1}),
        group("gone", "$delete", None),
    ]
    assert answer(send(http, sink, updates, path="/groups")) == OK
    assert sink.groups == {("company", "acme"): Profile({"tags": ["y"]}, (None, None, None, None))}


def test_each_profile_keeps_the_ip_of_every_update(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    send(http, sink, [user("u", **{"$ip": "0"}), user("u", "$add", {"n": 1}), user("u", **{"$ip": "10.0.0.1"})])
    assert sink.users["u"].ips == ("0", None, "10.0.0.1")
    assert sink.users["u"].ip == "10.0.0.1"


def test_users_and_groups_are_copies(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    send(http, sink, [user("u", "$set", {"tags": ["a"]})])
    sink.users["u"].properties["tags"].append("changed")
    assert properties(sink) == {"u": {"tags": ["a"]}}


def test_updates_lists_each_application_in_order_resends_included(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    first = user("u", "$set", {"tags": ["a"]})
    send(http, sink, [first, user("bad", "$add", {"n": "x"}), user("u", "$union", {"tags": ["b"]})])
    send(http, sink, [group("g", "$unset", ["size"])], path="/groups")
    send(http, sink, [first])
    assert sink.updates == [
        Update("u", "$set", {"tags": ["a"]}, TOKEN, None),
        Update("u", "$union", {"tags": ["b"]}, TOKEN, None),
        Update(("company", "g"), "$unset", ["size"], TOKEN, None),
        Update("u", "$set", {"tags": ["a"]}, TOKEN, None),
    ]  # the first $set as sent, though the $union then changed the profile's list
    sink.clear()
    assert sink.updates == []


# --- stats and the request log -------------------------------------------------------------------------


def test_stats_show_a_block_per_profile_endpoint_and_leave_import_keys_alone(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    send(http, sink, [user("u1"), user(""), {**user("u2"), "$token": "elsewhere"}])
    send(http, sink, [user("u3")], query="")
    send(http, sink, [user("u4")], headers={"Content-Encoding": "gzip"})
    send(http, sink, [group("g")], path="/groups")
    event = {"event": "E", "properties": {"time": int(time.time()), "distinct_id": "u1", "$insert_id": "i1"}}
    token_auth = urllib3.make_headers(basic_auth=f"{TOKEN}:")
    assert send(http, sink, [event], path="/import", query="strict=1", headers=token_auth).status == 200
    stats = answer(http.request("GET", f"{sink.url}/stats"))
    assert stats == {
        "imported": 1,
        "duplicates": 0,
        "requests": 1,
        "by_status": {"200": 1},
        "engage": {
            "requests": 3,
            "by_status": {"200": 2, "400": 1},
            "by_answer": {"0": 2, "1": 1},
            "updates": 4,
            "applied": 2,
            "refused": 1,
            "wrong_token": 1,
            "profiles": 2,
        },
        "groups": {
            "requests": 1,
            "by_status": {"200": 1},
            "by_answer": {"1": 1},
            "updates": 1,
            "applied": 1,
            "refused": 0,
            "wrong_token": 0,
            "profiles": 1,
        },
    }
    assert sink.stats() == stats


def test_clear_forgets_profiles_too(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    send(http, sink, [user("u")])
    send(http, sink, [group("g")], path="/groups")
    sink.clear()
    assert (sink.users, sink.groups, sink.requests) == ({}, {}, [])
    assert "engage" not in sink.stats()


# --- faults --------------------------------------------------------------------------------------------


def test_fail_next_applies_to_profile_requests(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.fail_next(503)
    sink.fail_next(429, retry_after="3")
    failed = send(http, sink, [user()])
    assert (failed.status, answer(failed)["code"]) == (503, 503)
    limited = send(http, sink, [group()], path="/groups")
    assert (limited.status, limited.headers["Retry-After"]) == (429, "3")
    assert (sink.users, sink.groups) == ({}, {})
    assert [(log.endpoint, log.fault, log.answer) for log in sink.requests] == [
        ("/engage", "fail:503", None),
        ("/groups", "fail:429", None),
    ]


def test_hang_next_and_reset_next_apply_to_profile_requests(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.hang_next(0.2)
    sink.reset_next()
    started = time.monotonic()
    hung = send(http, sink, [user()])
    assert time.monotonic() - started >= 0.2
    assert hung.status == 503
    with pytest.raises(ProtocolError) as raised:
        send(http, sink, [user()], path="/groups")
    assert isinstance(raised.value.args[1], ConnectionResetError)
    assert sink.users == {}
    assert [log.fault for log in sink.requests] == ["hang", "reset"]


@pytest.mark.parametrize(("query", "expected"), [("verbose=1", None), ("", b"1")])
def test_reject_next_refuses_the_first_update_and_applies_the_rest(
    sink: MixpanelSink, http: urllib3.PoolManager, query: str, expected: bytes | None
) -> None:
    sink.reject_next()
    response = send(http, sink, [user("u1"), user("u2")], query=query)
    assert response.status == 200
    if expected is None:
        assert answer(response) == {"status": 0, "error": "update 0, rejected by the sink's fault script"}
    else:
        assert response.data == expected  # bare: one update was valid
    assert list(sink.users) == ["u2"]
    assert sink.requests[0].fault == "reject"
    assert (sink.requests[0].imported, sink.requests[0].failed) == (1, 1)
    assert answer(send(http, sink, [user("u3")])) == OK


def test_reject_next_waits_for_a_readable_profile_request(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.reject_next()
    assert answer(send(http, sink, [])) == {"status": 0, "error": "data, missing or empty"}
    assert answer(send(http, sink, [group("g1"), group("g2")], path="/groups"))["status"] == 0
    assert list(sink.groups) == [("company", "g2")]


def test_drip_next_applies_and_answers_slowly(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.drip_next(0.01, headers=True)
    assert answer(send(http, sink, [user("u1")])) == OK
    assert list(sink.users) == ["u1"]
    assert sink.requests[0].fault == "drip-headers"


@pytest.mark.parametrize(
    ("miscount", "query", "content_type", "body"),
    [
        pytest.param(False, "verbose=1", "text/html; charset=utf-8", None, id="portal"),
        pytest.param(True, "verbose=1", "text/plain", b"1", id="miscount-verbose"),
        pytest.param(True, "", "application/json", b'{"status":"ok"}', id="miscount-bare"),
    ],
)
def test_unconfirmed_next_answers_200_that_is_not_the_answer_asked_for(
    sink: MixpanelSink,
    http: urllib3.PoolManager,
    miscount: bool,
    query: str,
    content_type: str,
    body: bytes | None,
) -> None:
    sink.unconfirmed_next(miscount=miscount)
    response = send(http, sink, [user("u1")], query=query)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    if body is None:
        assert response.data.startswith(b"<!DOCTYPE html>")
    else:
        assert response.data == body
    assert sink.users == {}
    assert sink.requests[0].fault == ("miscount" if miscount else "portal")


def test_random_faults_apply_to_profile_requests(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.set_fault_rates(seed=2, rate_429=1.0)
    assert send(http, sink, [user()]).status == 429
    sink.set_fault_rates(seed=2, rate_5xx=1.0)
    assert send(http, sink, [user()], path="/groups").status in (502, 503)
    sink.set_fault_rates(seed=2, rate_413=1.0)
    assert send(http, sink, [user()]).status == 413
    sink.set_fault_rates(seed=2, rate_hang=1.0, hang_seconds=0.2)
    with pytest.raises(ReadTimeoutError):
        send(http, sink, [user()], timeout=0.05)
    sink.set_fault_rates(seed=2, rate_reset=1.0)
    with pytest.raises(ProtocolError):
        send(http, sink, [user()])
    sink.set_fault_rates(seed=2, rate_unconfirmed=1.0)
    unconfirmed = [send(http, sink, [user()]) for _ in range(6)]
    assert {response.status for response in unconfirmed} == {200}
    assert sink.users == {}
    sink.set_fault_rates(seed=2, rate_drip=1.0, drip_seconds=0.001)
    assert answer(send(http, sink, [user("u1")])) == OK
    faults = [log.fault for log in sink.requests]
    assert faults[:5] == ["random:429", faults[1], "random:413", "random:hang", "random:reset"]
    assert faults[1] in ("random:502", "random:503")
    assert set(faults[5:11]) == {"random:portal", "random:miscount"}
    assert faults[11] in ("random:drip", "random:drip-headers")
    assert list(sink.users) == ["u1"]


def test_a_fault_for_an_endpoint_waits_for_a_request_to_it(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.reject_next(endpoint="/groups")
    sink.fail_next(503, endpoint="/engage")
    sink.set_fault_rates(seed=1, rate_429=1.0)  # random faults wait for no scripted fault for another endpoint
    event = {"event": "e", "properties": {"time": int(time.time()), "distinct_id": "d"}}
    headers = {"Content-Type": "application/json", **urllib3.make_headers(basic_auth="sink-user:sink-secret")}
    imported = http.request("POST", f"{sink.url}/import?project_id=4242", body=json.dumps([event]), headers=headers)
    assert imported.status == 429
    sink.set_fault_rates(seed=1)
    sink.reset_next()  # for any endpoint: a request takes it after those scripted before it for its own endpoint
    assert send(http, sink, [user("u1")]).status == 503
    with pytest.raises(ProtocolError):
        send(http, sink, [user("u2")])
    assert answer(send(http, sink, [group("g1"), group("g2")], path="/groups"))["status"] == 0
    assert (list(sink.users), list(sink.groups)) == ([], [("company", "g2")])
    assert [(log.endpoint, log.fault) for log in sink.requests] == [
        ("/import", "random:429"),
        ("/engage", "fail:503"),
        ("/engage", "reset"),
        ("/groups", "reject"),
    ]


def test_a_fault_for_an_unknown_endpoint_is_refused(sink: MixpanelSink) -> None:
    with pytest.raises(ValueError, match="/engage"):
        sink.reset_next(endpoint="/track")
