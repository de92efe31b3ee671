"""A dead letter keeps every original header and adds the reason (issue 15)."""

from __future__ import annotations

import base64

from shared.events.dead_letter import BASE64_HEADER, HEADER_NAMES, DeadLetterReason, dead_letter_headers

REASON = DeadLetterReason(
    source_topic="t", source_partition=1, source_offset=7, error_type="E", error="bad", consumer="c"
)


def test_original_headers_come_first_and_the_reason_is_added() -> None:
    original = [("ce_id", b"image:1"), ("traceparent", b"00-ab-cd-01"), ("hma_leader_token", b"3")]
    headers = dead_letter_headers(original, REASON)
    assert list(headers)[:3] == ["ce_id", "traceparent", "hma_leader_token"]
    assert headers["ce_id"] == "image:1"
    assert headers["hma_leader_token"] == "3"
    assert set(HEADER_NAMES) <= set(headers)
    assert BASE64_HEADER not in headers


def test_a_reason_header_wins_over_an_original_of_the_same_name() -> None:
    """A dead letter re-published to its topic and rejected again names its latest coordinates."""
    headers = dead_letter_headers([("dlq_source_offset", b"1")], REASON)
    assert headers["dlq_source_offset"] == "7"


def test_a_value_that_is_not_utf8_travels_base64_encoded() -> None:
    headers = dead_letter_headers([("blob", b"\xff\x00\xfe"), ("empty", b"")], REASON)
    assert base64.b64decode(headers["blob"]) == b"\xff\x00\xfe"
    assert headers[BASE64_HEADER] == "blob"
    assert headers["empty"] == ""
