"""What a user is told about a failed creation: one fixed sentence per error code.

Providers' raw messages can carry bucket names, `gs://` URIs or internal detail, so they go
to the log only (with the creation id); the creation stores its stable `errorCode` and the
sentence below, which is what the api returns as `errorMessage`.
"""

from __future__ import annotations

USER_MESSAGES = {
    "enqueue_failed": "The generation could not be queued. Your tokens were refunded.",
    "content_filtered": "The request was blocked by the safety filter. Your tokens were refunded.",
    "generation_failed": "The generation failed. Your tokens were refunded.",
    "generation_rejected": "The generator refused this request. Your tokens were refunded.",
    "generator_unavailable": "The generator was unavailable. Your tokens were refunded.",
    "generator_rate_limited": "The generator was too busy. Your tokens were refunded.",
    "generator_bad_response": "The generator gave no usable answer. Your tokens were refunded.",
    "generator_misconfigured": "The generator is not available. Your tokens were refunded.",
    "generator_error": "The generation failed. Your tokens were refunded.",
    "operation_not_found": "The generation was lost. Your tokens were refunded.",
    "deadline_exceeded": "The generation did not finish in time. Your tokens were refunded.",
    "capacity": (
        "Too many videos were waiting for the generator and yours could not start in time. "
        "Your tokens were refunded."
    ),
    "start_interrupted": "The generation could not be started. Your tokens were refunded.",
    "image_interrupted": "The image request did not finish. Your tokens were refunded.",
    "storage_failed": "The result could not be stored. Your tokens were refunded.",
    "unsupported_output": "The generator returned a result we cannot store. Tokens refunded.",
    "cancelled": "Cancelled. Your tokens were refunded.",
}
DEFAULT_MESSAGE = "The generation failed. Your tokens were refunded."


def user_message(code: str) -> str:
    """The sentence shown for an error code; a generic one for codes not listed."""
    return USER_MESSAGES.get(code, DEFAULT_MESSAGE)
