"""Evaluate the few Terraform expressions the functions' settings use, to concrete values.

Inputs come from terraform.tfvars.example over the variables' defaults; attributes only
known after apply get stand-ins (an account's email from its account_id, a project number).
Anything else raises Unsupported: keep the expressions that feed the functions simple.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.terraform.tfcheck import TERRAFORM, Config, parse

PROJECT_NUMBER = "123456789012"


class Unsupported(ValueError):
    pass


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i].strip())
            start = i + len(sep)
            i += len(sep) - 1
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _interpolations(text: str) -> list[tuple[int, int, str]]:
    """(start, end, expression) of each ${...} in a template, braces balanced."""
    found, i = [], 0
    while (start := text.find("${", i)) != -1:
        depth, j = 0, start + 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        found.append((start, j + 1, text[start + 2 : j]))
        i = j + 1
    return found


class Evaluator:
    def __init__(self, config: Config, tfvars: dict[str, Any] | None = None) -> None:
        self.config = config
        self.scope: dict[str, Any] = {}  # the names a for expression binds
        self.vars = {
            name: self.value(body["default"])
            for name, body in config.variables.items()
            if "default" in body
        }
        self.vars.update(tfvars if tfvars is not None else example_tfvars())
        missing = set(config.variables) - set(self.vars)
        if missing:
            raise Unsupported(f"no value for variables {sorted(missing)}")

    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: self.value(v)
                for k, v in node.items()
                if not k.startswith("__") and k not in ("depends_on", "lifecycle")
            }
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, str) or "${" not in node:
            return node
        spans = _interpolations(node)
        if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(node):
            return self.expr(spans[0][2].strip())
        out, last = [], 0
        for start, end, inner in spans:
            out += [node[last:start], str(self.expr(inner.strip()))]
            last = end
        return "".join([*out, node[last:]])

    def expr(self, text: str) -> Any:  # noqa: C901 - one branch per supported form
        if text.startswith('"') and text.endswith('"'):
            return self.value(text[1:-1].replace('\\"', '"'))
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return float(text) if "." in text else int(text)
        if text in ("true", "false"):
            return text == "true"
        for op in (" + ", " * "):
            terms = _split_top(text, op)
            if len(terms) > 1:
                values = [self.expr(t) for t in terms]
                total = values[0]
                for v in values[1:]:
                    total = total + v if op == " + " else total * v
                return total
        if text.startswith("[") and text.endswith("]"):
            return [self.expr(t) for t in _split_top(text[1:-1], ",")]
        if text == "path.module":
            return str(TERRAFORM)
        if text in self.scope:
            return self.scope[text]
        if m := re.fullmatch(r"var\.(\w+)", text):
            return self.vars[m.group(1)]
        if m := re.fullmatch(r"local\.(\w+)", text):
            return self.value(self.config.locals[m.group(1)])
        if m := re.fullmatch(r"local\.(\w+)\.(\w+)", text):
            return self.value(self.config.locals[m.group(1)])[m.group(2)]
        if m := re.fullmatch(r"(\w+)\((.*)\)", text, re.S):
            return self.call(m.group(1), _split_top(m.group(2), ","))
        if m := re.fullmatch(
            r"\{\s*for (\w+), (\w+) in (local\.\w+)\s*:\s*\1 => (.+?)"
            r"(?:\s+if \2 != \"\")?\s*\}",
            text,
            re.S,
        ):
            return self.for_map(m.group(1), m.group(2), m.group(3), m.group(4), " if " in text)
        if text.startswith("{") and text.endswith("}"):
            pairs = _split_top(text[1:-1].replace("\n", ","), ",")
            return {
                k.strip(): self.expr(v.strip()) for k, v in (_split_top(p, "=")[:2] for p in pairs)
            }
        if m := re.fullmatch(r"(data\.)?(google_\w+)\.(\w+)(\[\"(\w+)\"\])?\.(\w+)", text):
            return self.attribute(bool(m.group(1)), m.group(2), m.group(3), m.group(5), m.group(6))
        raise Unsupported(f"cannot evaluate {text!r}")

    def for_map(self, k: str, v: str, source: str, body: str, skip_empty: bool) -> dict[str, Any]:
        out = {}
        for key, value in self.expr(source).items():
            if skip_empty and value == "":
                continue
            saved, self.scope = self.scope, {**self.scope, k: key, v: value}
            try:
                out[key] = self.expr(body.strip())
            finally:
                self.scope = saved
        return out

    def call(self, name: str, args: list[str]) -> Any:
        values = [self.expr(a) for a in args]
        if name == "join":
            return values[0].join(values[1])
        if name == "tostring":
            value = values[0]
            return (
                str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            )
        if name == "file":
            return Path(values[0]).read_text()
        if name == "trimspace":
            return values[0].strip()
        if name == "replace":
            return values[0].replace(values[1], values[2])
        if name == "merge":
            merged: dict[str, Any] = {}
            for v in values:
                merged.update(v)
            return merged
        raise Unsupported(f"function {name}()")

    def attribute(self, data: bool, type_: str, name: str, key: str | None, attr: str) -> Any:
        if data and type_ == "google_project" and attr == "number":
            return PROJECT_NUMBER
        body = (self.config.data if data else self.config.resources)[type_][name]
        if type_ == "google_service_account" and attr in ("email", "id"):
            account_id = self.value(body["account_id"])
            email = f"{account_id}@{self.vars['project_id']}.iam.gserviceaccount.com"
            return (
                email
                if attr == "email"
                else f"projects/{self.vars['project_id']}/serviceAccounts/{email}"
            )
        if key is None and attr in body:
            return self.value(body[attr])
        raise Unsupported(f"attribute {type_}.{name}.{attr} is known only after apply")


def example_tfvars() -> dict[str, Any]:
    doc = parse((TERRAFORM / "terraform.tfvars.example").read_text())
    return {k: v for k, v in doc.items() if not k.startswith("__")}
