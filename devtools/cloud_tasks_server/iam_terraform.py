"""Read who may do what on Cloud Tasks from the Terraform configuration itself.

`read_policy(Path("terraform"))` parses every `*.tf` file (python-hcl2) and keeps the grants
that carry Cloud Tasks permissions:

- `google_project_iam_member` / `_binding`: on the whole project (every queue, and ListQueues);
- `google_cloud_tasks_queue_iam_member` / `_binding`: on a queue;
- the role's permissions: a predefined role from `iam_roles.PREDEFINED_ROLES`, or a
  `google_project_iam_custom_role` of the configuration (its `permissions` list).

Members are evaluated to strings: `google_service_account.<n>.email` becomes
`<account_id>@{project}.iam.gserviceaccount.com`, `{project}` standing for the project of the
resource a call names (Terraform's `var.project_id`); other variables take their defaults.
Only the few expression forms the configuration uses are understood (variables, locals,
`each`, resource attributes, `replace`); anything else that feeds a Cloud Tasks grant raises
`UnsupportedTerraform`, so a grant is never silently ignored. IAM conditions, and
authoritative `_iam_policy` resources, are refused the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

from devtools.cloud_tasks_server.iam_roles import ALL_PERMISSIONS, role_permissions

PROJECT = "{project}"  # stands for var.project_id until a call names its project
TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=True)
_META = {"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"}
_PROJECT_GRANTS = ("google_project_iam_member", "google_project_iam_binding")
_QUEUE_GRANTS = ("google_cloud_tasks_queue_iam_member", "google_cloud_tasks_queue_iam_binding")
_REFUSED = ("google_project_iam_policy", "google_cloud_tasks_queue_iam_policy")
_WHOLE = re.compile(r"^\$\{(.*)\}$", re.DOTALL)
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.DOTALL)


class UnsupportedTerraform(ValueError):
    """A Cloud Tasks grant this reader cannot evaluate: say which, rather than ignore it."""


@dataclass(frozen=True)
class Grant:
    member: str  # e.g. "serviceAccount:creator-api@{project}.iam.gserviceaccount.com"
    role: str
    permissions: frozenset[str]  # its Cloud Tasks permissions
    queue: str | None  # the queue's name in Terraform; None: the whole project
    source: str  # the resource address, e.g. google_cloud_tasks_queue_iam_member.enqueuer["api"]

    def member_in(self, project: str) -> str:
        return self.member.replace(PROJECT, project)


@dataclass(frozen=True)
class Policy:
    grants: tuple[Grant, ...]
    source: str  # the directory it was read from

    def permissions(self, email: str, project: str, *, on_queue: bool) -> frozenset[str]:
        """What the service account `email` may do in `project`: on a queue (project and
        queue grants), or on the project itself (project grants only: ListQueues)."""
        member = f"serviceAccount:{email}"
        found: set[str] = set()
        for grant in self.grants:
            if grant.member_in(project) == member and (on_queue or grant.queue is None):
                found |= grant.permissions
        return frozenset(found)

    def members(self, project: str) -> frozenset[str]:
        return frozenset(grant.member_in(project) for grant in self.grants)


def _parse(directory: Path) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    files = sorted(directory.glob("*.tf"))
    if not files:
        raise UnsupportedTerraform(f"no *.tf file in {directory}")
    for path in files:
        doc = hcl2.loads(path.read_text(), serialization_options=_OPTIONS)
        for kind, blocks in doc.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


class _Config:
    def __init__(self, directory: Path) -> None:
        doc = _parse(directory)
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in doc.get("resource", []):
            for type_, named in entry.items():
                for name, body in named.items():
                    if name not in _META:
                        self.resources.setdefault(type_, {})[name] = body
        self.variables: dict[str, Any] = {}
        for entry in doc.get("variable", []):
            self.variables.update({k: v for k, v in entry.items() if k not in _META})
        self.locals: dict[str, Any] = {}
        for entry in doc.get("locals", []):
            self.locals.update({k: v for k, v in entry.items() if k not in _META})

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        try:
            return self.resources[type_][name]
        except KeyError:
            raise UnsupportedTerraform(f"{type_}.{name} is not declared") from None

    # -- a small evaluator of the expressions IAM grants use -------------------------------

    def value(self, raw: Any, each: tuple[str, Any] | None = None) -> Any:
        if isinstance(raw, dict):
            return {k: self.value(v, each) for k, v in raw.items() if k not in _META}
        if isinstance(raw, list):
            return [self.value(v, each) for v in raw]
        if not isinstance(raw, str):
            return raw
        whole = _WHOLE.match(raw)
        if whole and "${" not in whole.group(1):
            return self.expression(whole.group(1).strip(), each)
        return re.sub(
            r"\$\{([^{}]*)\}", lambda m: str(self.expression(m.group(1).strip(), each)), raw
        )

    def expression(self, text: str, each: tuple[str, Any] | None) -> Any:
        if text.startswith('"') and text.endswith('"'):
            return self.value(text[1:-1], each)
        if call := _CALL.match(text):
            return self.call(call.group(1), call.group(2), each)
        parts = text.split(".")
        head = parts[0]
        if head == "var" and len(parts) == 2:
            return self.variable(parts[1])
        if head == "local" and len(parts) >= 2:
            if parts[1] not in self.locals:
                raise UnsupportedTerraform(f"local.{parts[1]} is not declared")
            found = self.value(self.locals[parts[1]])
            for key in parts[2:]:
                found = found[key]
            return found
        if head == "each" and len(parts) == 2 and each is not None:
            return each[0] if parts[1] == "key" else each[1]
        if len(parts) == 3:
            return self.attribute(*parts)
        raise UnsupportedTerraform(f"cannot evaluate ${{{text}}}")

    def call(self, name: str, args: str, each: tuple[str, Any] | None) -> Any:
        values = [self.expression(a.strip(), each) for a in _split_args(args)]
        if name == "replace" and len(values) == 3:
            return str(values[0]).replace(str(values[1]), str(values[2]))
        raise UnsupportedTerraform(f"cannot evaluate {name}(...)")

    def variable(self, name: str) -> Any:
        if name == "project_id":
            return PROJECT
        body = self.variables.get(name)
        if body is None or "default" not in body:
            raise UnsupportedTerraform(f"var.{name} has no default")
        return body["default"]

    def attribute(self, type_: str, name: str, attribute: str) -> str:
        body = self.resource(type_, name)
        if type_ == "google_service_account":
            account_id = self.value(body["account_id"])
            if attribute == "email":
                return f"{account_id}@{PROJECT}.iam.gserviceaccount.com"
            if attribute == "account_id":
                return str(account_id)
        if type_ == "google_project_iam_custom_role" and attribute in ("name", "id"):
            return f"projects/{PROJECT}/roles/{self.value(body['role_id'])}"
        if type_ == "google_cloud_tasks_queue" and attribute == "name":
            return str(self.value(body["name"]))
        raise UnsupportedTerraform(f"cannot evaluate {type_}.{name}.{attribute}")

    # -- roles and grants ------------------------------------------------------------------

    def custom_roles(self) -> dict[str, frozenset[str]]:
        return {
            self.attribute("google_project_iam_custom_role", name, "name"): frozenset(
                self.value(body.get("permissions", []))
            )
            for name, body in self.resources.get("google_project_iam_custom_role", {}).items()
        }


def _split_args(text: str) -> list[str]:
    """Split call arguments on top-level commas (outside quotes and brackets)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _instances(
    config: _Config, body: dict[str, Any]
) -> list[tuple[str | None, tuple[str, Any] | None]]:
    """(key, each) of each instance of a resource: one, or one per for_each entry."""
    if "count" in body:
        raise UnsupportedTerraform("count on an IAM grant")
    if "for_each" not in body:
        return [(None, None)]
    items = config.value(body["for_each"])
    if isinstance(items, list):
        items = {str(v): v for v in items}
    if not isinstance(items, dict):
        raise UnsupportedTerraform(f"for_each of {body['for_each']!r}")
    return [(str(k), (str(k), v)) for k, v in items.items()]


def _role(
    config: _Config, raw: Any, each: Any, custom: dict[str, frozenset[str]], where: str
) -> tuple[str, frozenset[str]]:
    role = str(config.value(raw, each))
    if role in custom:
        return role, custom[role] & ALL_PERMISSIONS
    permissions = role_permissions(role)
    if permissions is None:
        raise UnsupportedTerraform(f"{where}: the Cloud Tasks role {role} is not in iam_roles")
    return role, permissions


def read_policy(directory: Path) -> Policy:
    """Every grant of a Cloud Tasks permission that `directory`'s Terraform makes."""
    config = _Config(directory)
    for type_ in _REFUSED:
        if type_ in config.resources:
            raise UnsupportedTerraform(f"{type_} (authoritative policies) is not read")
    custom = config.custom_roles()
    grants: list[Grant] = []
    for type_ in (*_PROJECT_GRANTS, *_QUEUE_GRANTS):
        for name, body in config.resources.get(type_, {}).items():
            for key, each in _instances(config, body):
                where = f"{type_}.{name}" + (f'["{key}"]' if key is not None else "")
                role, permissions = _role(config, body["role"], each, custom, where)
                if not permissions:
                    continue  # no Cloud Tasks permission: nothing this server checks
                if "condition" in body:
                    raise UnsupportedTerraform(f"{where}: IAM conditions are not evaluated")
                queue = str(config.value(body["name"], each)) if type_ in _QUEUE_GRANTS else None
                raw_members = body["members"] if "members" in body else [body["member"]]
                for member in config.value(raw_members, each):
                    grants.append(Grant(str(member), role, permissions, queue, where))
    return Policy(tuple(grants), str(directory))


def service_account_email(directory: Path, name: str, project: str) -> str:
    """The email of `google_service_account.<name>` in `project`, as Terraform creates it."""
    config = _Config(directory)
    email = config.attribute("google_service_account", name, "email")
    return email.replace(PROJECT, project)


def tasks_identity(function: str, project: str, directory: Path = TERRAFORM) -> str:
    """The service account the function `function` (api, worker) runs as in production:
    `google_service_account.<function>` of the Terraform configuration."""
    return service_account_email(directory, function, project)
