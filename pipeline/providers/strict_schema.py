"""A response model's JSON Schema in the subset OpenAI's strict structured outputs accept.

OpenAI's rules for `"strict": true` (Structured Outputs guide, "Supported schemas"): the root
is an object; every object lists all its properties in `required` and sets
`additionalProperties: false`; an optional value is a union with null; `$defs`/`$ref` and
`anyOf` are allowed; only these keywords constrain values: `enum`/`const`, `pattern` and
`format` on strings, `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`/`multipleOf` on
numbers, `minItems`/`maxItems` on arrays. Anything else (`default`, `minLength`,
`maxLength`, ...) makes the API reject the schema, so it is dropped here: pydantic still
enforces it when the answer is validated, and a violation is re-asked as before.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

from pydantic import BaseModel

# Keywords strict mode accepts, besides the structural ones handled below.
ANNOTATIONS = frozenset({"title", "description"})
VALUE_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
STRUCTURE = frozenset({"properties", "required", "additionalProperties", "items", "anyOf", "$ref"})
STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
ALLOWED = ANNOTATIONS | VALUE_KEYWORDS | STRUCTURE | {"$defs"}

# The schema of a class never changes; weak keys, since the constrained strategy builds new
# classes per chunk and a cache holding them would grow with the number of articles.
_CACHE: weakref.WeakKeyDictionary[type[BaseModel], str] = weakref.WeakKeyDictionary()


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON Schema rewritten to OpenAI's strict subset (a fresh copy per call)."""
    text = _CACHE.get(model)
    if text is None:
        schema = model.model_json_schema()
        defs = schema.pop("$defs", {})
        strict = _node(schema, defs)
        if defs:
            strict["$defs"] = {name: _node(sub, defs) for name, sub in defs.items()}
        text = _CACHE[model] = json.dumps(strict)
    return json.loads(text)


def _node(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema and len(schema) > 1:
        # A $ref with sibling keywords (a field's description, say) is not accepted beside
        # the reference; the definition is inlined with the siblings instead.
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        return _node({**target, **siblings}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _node(sub, defs) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = _node(value, defs)
        elif key == "anyOf":
            out[key] = [_node(sub, defs) for sub in value]
        elif key == "const":
            out["enum"] = [value]  # the same constraint, in the keyword every version knows
        elif key == "format" and value not in STRING_FORMATS:
            continue
        elif key in ALLOWED and key not in ("required", "additionalProperties", "$defs"):
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        properties = out.setdefault("properties", {})
        # Every property is required. A field pydantic may omit keeps its own type: when it
        # admits null (an Optional field) the model answers null for "none"; otherwise (a list
        # or a value with a default) the model writes the value out, which validates the same.
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out
