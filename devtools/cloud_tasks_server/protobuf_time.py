"""Protobuf Timestamp and Duration fields as float seconds: the server's one conversion.

Timestamps are set to the microsecond (an epoch float holds no more), durations to the
nanosecond (so sub-second backoffs and deadlines survive; the service truncates backoffs
to seconds).
"""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2


def to_seconds(field: timestamp_pb2.Timestamp | duration_pb2.Duration) -> float:
    """A Timestamp as epoch seconds, or a Duration as seconds."""
    return float(field.seconds + field.nanos / 1e9)


def set_timestamp(field: timestamp_pb2.Timestamp, epoch_seconds: float) -> None:
    """Set a Timestamp from epoch seconds, rounded to the microsecond."""
    micros = round(epoch_seconds * 1_000_000)
    field.seconds, micros = divmod(micros, 1_000_000)
    field.nanos = micros * 1000


def set_duration(field: duration_pb2.Duration, seconds: float) -> None:
    """Set a Duration from seconds (not negative), rounded to the nanosecond."""
    field.seconds, field.nanos = divmod(round(seconds * 1e9), 1_000_000_000)
