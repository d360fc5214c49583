"""The audit: every money and lifecycle invariant of the design, checked over the store.

`python -m shared.audit audit` (or `make audit`) reads Firestore (locally the emulator named
by FIRESTORE_EMULATOR_HOST) and exits non-zero on any violation. The checks themselves are
pure functions (`shared.audit.checks`); the fault-injection suites use the same ones.
"""

from shared.audit.checks import Auditor, AuditReport, Violation, audit

__all__ = ["AuditReport", "Auditor", "Violation", "audit"]
