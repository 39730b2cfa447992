"""A user agent as Mixpanel's JavaScript SDK names what it tells (formats/user_agent.py): the names, the bounds of
the cache, and that the parser is imported only for a message that has one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from mixpanel_forwarder.formats import user_agent

# mixpanel-js `_.info.browser` / `.os` / `.device` names, uap-core's where mixpanel-js has none.
CASES = [
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 "
        "Mobile Safari/537.36",
        {"$browser": "Chrome", "$browser_version": "120.0.6099.43", "$os": "Android", "$device": "Android"},
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.109 "
        "Mobile/15E148 Safari/604.1",
        {"$browser": "Chrome iOS", "$browser_version": "119.0.6045.109", "$os": "iOS", "$device": "iPad"},
    ),
    (
        "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/12.1.2 Mobile/15E148 Safari/604.1",
        {"$browser": "Mobile Safari", "$browser_version": "12.1.2", "$os": "iOS", "$device": "iPod Touch"},
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        {"$browser": "Firefox", "$browser_version": "115.0", "$os": "Linux"},
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        {"$browser": "Internet Explorer", "$browser_version": "11.0", "$os": "Windows"},
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
        "Chrome/115.0.0.0 Mobile Safari/537.36",
        {"$browser": "Samsung Internet", "$browser_version": "23.0", "$os": "Android", "$device": "Android"},
    ),
    ("python-requests/2.31.0", {"$browser": "Python Requests", "$browser_version": "2.31"}),  # uap-core's name
    ("analytics-python/2.3.2", {}),  # nothing known: nothing said
]


@pytest.mark.parametrize(("agent", "expected"), CASES)
def test_a_user_agent_is_named_as_mixpanels_javascript_sdk_names_it(agent: str, expected: dict[str, str]) -> None:
    assert dict(user_agent.properties(agent)) == expected


@pytest.mark.parametrize("value", [None, "", 42, ["Mozilla/5.0"], {"ua": "Mozilla/5.0"}])
def test_a_value_that_is_no_user_agent_says_nothing(value: object) -> None:
    assert user_agent.properties(value) == ()


def test_a_long_user_agent_is_read_to_its_first_characters_and_the_cache_is_bounded() -> None:
    agent, expected = CASES[0]
    padded = agent + " X" * 50_000  # 100 KB: read as its first MAX_CHARS characters, and cached so
    assert dict(user_agent.properties(padded)) == expected
    assert dict(user_agent.properties(agent + " Y" * 50_000)) == expected
    assert user_agent.parsed.cache_info().maxsize == user_agent.CACHED
    before = user_agent.parsed.cache_info().hits
    user_agent.properties(padded)
    assert user_agent.parsed.cache_info().hits == before + 1  # the same agent again is not parsed again


def test_the_parser_is_imported_only_when_a_message_has_a_user_agent() -> None:
    # A fresh interpreter: Mixpanel events and Segment tracks without a user agent through the real handler never
    # import ua_parser; the first track with one does.
    script = textwrap.dedent(
        """
        import json, sys
        from localdev.eventgen import lambda_context, sqs_event, sqs_record
        from localdev.sink import MixpanelSink
        with MixpanelSink() as sink:
            import os
            os.environ.update(sink.env())
            from functions.sqs_forwarder.app import lambda_handler
            track = {"type": "track", "event": "e", "userId": "u", "messageId": "m1", "context": {"ip": "1.2.3.4"}}
            plain = {"event": "e", "properties": {"distinct_id": "u", "time": 1764000000, "$insert_id": "m2"}}
            def send(*messages):
                records = [sqs_record(json.dumps(m), index=i) for i, m in enumerate(messages)]
                assert lambda_handler(sqs_event(records), lambda_context()) == {"batchItemFailures": []}
            send(plain, track)
            before = "ua_parser" in sys.modules
            agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
            send({**track, "messageId": "m3", "context": {"userAgent": agent}})
            print(json.dumps([before, "ua_parser" in sys.modules, len(sink.events)]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, True, 3]
