"""Versioned prompt templates (pipeline/extraction/prompts/<name>.md) rendered into chat messages.

A template has a `=== system ===` and a `=== user ===` section; `$article` in the user section is
replaced by the article, which always sits between <article> delimiters as data, and `$task` by
the instruction of a constrained call. (Putting the task after the article lets llama.cpp reuse
the cached article prefix across a document's calls.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from schemas.errors import ConfigError

_SECTION = re.compile(r"^=== (system|user) ===$", re.MULTILINE)
_CLOSING_TAG = re.compile(r"</article\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template and the SHA-256 of its text (recorded in the manifest and cache key)."""

    name: str
    system: str
    user: str
    sha256: str

    def render(self, article: str, task: str = "") -> list[dict[str, str]]:
        """Chat messages for one article (or chunk of one); `task` fills $task, if any."""
        # An article that closes the delimiter itself could smuggle text out of the data block.
        fenced = _CLOSING_TAG.sub("&lt;/article&gt;", article)
        fields = {"article": fenced, "task": task}
        return [
            {"role": "system", "content": Template(self.system).safe_substitute(fields)},
            {"role": "user", "content": Template(self.user).safe_substitute(fields)},
        ]


def available_prompts() -> list[str]:
    """Names of the prompt templates shipped with dealx."""
    folder = resources.files("pipeline.extraction") / "prompts"
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))


def load_prompt(name: str) -> PromptTemplate:
    """Load template `name`; an unknown name is a ConfigError listing the known ones."""
    path = resources.files("pipeline.extraction") / "prompts" / f"{name}.md"
    if not path.is_file():
        raise ConfigError(
            f"prompt: unknown prompt {name!r}; known: {', '.join(available_prompts())}"
        )
    text = path.read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = dict(zip(parts[1::2], (part.strip() for part in parts[2::2]), strict=True))
    if set(sections) != {"system", "user"} or "$article" not in sections["user"]:
        raise ConfigError(
            f"{path}: a prompt needs '=== system ===' and '=== user ===' sections "
            "and $article in the user section"
        )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return PromptTemplate(name, sections["system"], sections["user"], digest)
