"""The server's one Timestamp/Duration conversion (devtools/cloud_tasks_server/protobuf_time)."""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2

from devtools.cloud_tasks_server.protobuf_time import set_duration, set_timestamp, to_seconds


def test_a_timestamp_is_set_to_the_microsecond_and_read_back():
    stamp = timestamp_pb2.Timestamp()
    set_timestamp(stamp, 1_700_000_000.1234567)
    assert (stamp.seconds, stamp.nanos) == (1_700_000_000, 123_457_000)
    assert abs(to_seconds(stamp) - 1_700_000_000.123457) < 1e-6


def test_a_whole_second_timestamp_has_no_nanos():
    stamp = timestamp_pb2.Timestamp()
    set_timestamp(stamp, 1_700_000_000)
    assert (stamp.seconds, stamp.nanos) == (1_700_000_000, 0)


def test_a_microsecond_that_rounds_up_carries_into_the_seconds():
    stamp = timestamp_pb2.Timestamp()
    set_timestamp(stamp, 41.9999999)
    assert (stamp.seconds, stamp.nanos) == (42, 0)


def test_a_duration_keeps_its_nanoseconds():
    duration = duration_pb2.Duration()
    set_duration(duration, 0.1)
    assert (duration.seconds, duration.nanos) == (0, 100_000_000)
    set_duration(duration, 3600.000000001)
    assert (duration.seconds, duration.nanos) == (3600, 1)
    assert to_seconds(duration) == 3600.000000001


def test_an_unset_field_is_zero_seconds():
    assert to_seconds(duration_pb2.Duration()) == 0.0
    assert to_seconds(timestamp_pb2.Timestamp()) == 0.0
