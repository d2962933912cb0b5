"""Variables in message texts: "Habari {{first_name|mzazi}}, ada ya {{term}} ni {{fee}}".

Syntax:
- `{{name}}` or `{{ name }}`: the recipient's value. Names are letters (any script), digits
  and underscores, matched case-insensitively: `{{Name}}` is `{{name}}`.
- `{{name|there}}`: the text after the pipe is used when the recipient has no value for
  `name` (absent, None, or only whitespace). It may hold spaces ("{{name|mzazi mpendwa}}"),
  is trimmed at both ends, and may be empty ("{{title|}}" makes a variable optional).
- A variable without a value and without a default raises MissingVariable: a recipient gets
  no message rather than "Hello {{name}}" or "Hello ,".
- Anything else with double braces (`{{}}`, `{{ first name }}`, a `{{` never closed, a `}}`
  never opened) is a TemplateSyntaxError when the text is compiled, naming the position.
  Single braces are ordinary characters (GSM 03.38 has them).

A bulk send renders one text for 10,000 recipients inside one request, so a text is parsed
once (compile_template is cached) into literal pieces and variable slots, and render() is a
loop of dictionary lookups and one join: no regular expression runs per recipient.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

# One pass over the text finds every `{{...}}` and every stray `{{` or `}}`: a tag is the
# shortest run from `{{` to the next `}}` that holds no other `{{`.
_TOKEN = re.compile(r"\{\{((?:(?!\{\{).)*?)\}\}|\{\{|\}\}", re.DOTALL)
_TAG = re.compile(r"\s*(\w+)\s*(?:\|(.*))?", re.DOTALL)
_KEY_SEPARATORS = re.compile(r"[\s\-]+")


class TemplateSyntaxError(ValueError):
    """The text cannot be compiled; `position` is the 0-based index of the offending `{{`."""

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


class MissingVariable(Exception):
    """A recipient has no value for `name` and the text gives no default."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No value for the variable {{{{{name}}}}}")
        self.name = name


@lru_cache(maxsize=4096)  # the same few keys, for every recipient of a send
def variable_key(key: str) -> str:
    """The name a template uses for a contact attribute or spreadsheet column: lower-cased,
    Unicode NFC, spaces and hyphens as underscores ("Fee Amount" -> "fee_amount")."""
    return _KEY_SEPARATORS.sub("_", unicodedata.normalize("NFC", str(key)).strip()).lower()


def _text_of(value: object) -> str:
    # Spreadsheets give 255712345678.0 and 5000.0 for whole numbers: send them as written.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Slot:
    name: str  # lower-cased, NFC
    default: str | None  # None: no default written
    source: str  # the tag as written, e.g. "{{ Name|there }}"
    start: int  # 0-based index of the tag's "{{" in the text
    name_end: int  # index just after the variable name (where a default would begin)


@dataclass(frozen=True)
class CompiledTemplate:
    """A parsed text: literal pieces around variable slots. Build with compile_template()."""

    text: str
    variables: frozenset[str]
    # literals[0] slot[0] literals[1] slot[1] ... literals[-1]; len(literals) == len(slots) + 1
    _literals: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _slots: tuple[_Slot, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._literals:  # built directly rather than by compile_template()
            literals, slots = _parse(self.text)
            object.__setattr__(self, "_literals", literals)
            object.__setattr__(self, "_slots", slots)

    @property
    def has_variables(self) -> bool:
        return bool(self._slots)

    @property
    def slots(self) -> tuple[_Slot, ...]:
        """Where each variable sits in `text` (for warnings that point into the text)."""
        return self._slots

    def render(self, context: Mapping[str, object]) -> str:
        """The text for one recipient. `context` keys are lower-cased variable names (as
        contact_context() makes them); values are stringified. Raises MissingVariable."""
        literals = self._literals
        if not self._slots:
            return literals[0]
        pieces = [literals[0]]
        append = pieces.append
        get = context.get
        for index, slot in enumerate(self._slots, 1):
            value = get(slot.name)
            text = "" if value is None else _text_of(value)
            if not text.strip():
                if slot.default is None:
                    raise MissingVariable(slot.name)
                text = slot.default
            append(text)
            append(literals[index])
        return "".join(pieces)

    def render_partial(self, context: Mapping[str, object]) -> tuple[str, list[str]]:
        """For previews: the text with each variable that has no value (and no default) left
        as written, and those variables' names, sorted. Never use this for sending."""
        pieces = [self._literals[0]]
        missing: set[str] = set()
        for index, slot in enumerate(self._slots, 1):
            value = context.get(slot.name)
            text = "" if value is None else _text_of(value)
            if not text.strip():
                if slot.default is None:
                    missing.add(slot.name)
                    text = slot.source
                else:
                    text = slot.default
            pieces.append(text)
            pieces.append(self._literals[index])
        return "".join(pieces), sorted(missing)


def _parse(text: str) -> tuple[tuple[str, ...], tuple[_Slot, ...]]:
    literals: list[str] = []
    slots: list[_Slot] = []
    last = 0
    for match in _TOKEN.finditer(text):
        start = match.start()
        if match.group(1) is None:
            token = match.group(0)
            if token == "}}":
                raise TemplateSyntaxError(
                    f"'}}}}' at position {start} has no '{{{{' before it.", position=start
                )
            raise TemplateSyntaxError(
                f"'{{{{' at position {start} is never closed with '}}}}'.", position=start
            )
        inner = match.group(1)
        tag = _TAG.fullmatch(inner)
        if tag is None:
            what = "is empty" if not inner.strip() else f"has no valid variable name: {inner!r}"
            raise TemplateSyntaxError(
                f"The variable at position {start} {what}. Variables are written {{{{name}}}} "
                "or {{name|default}}; names are letters, digits and underscores.",
                position=start,
            )
        default = tag.group(2)
        if default is not None:
            default = default.strip()  # "{{ name | there }}" reads as "there"
        if default is not None and ("{" in default or "}" in default):
            raise TemplateSyntaxError(
                f"The default of the variable at position {start} contains a brace.",
                position=start,
            )
        literals.append(text[last:start])
        slots.append(
            _Slot(
                name=unicodedata.normalize("NFC", tag.group(1)).lower(),
                default=default,
                source=match.group(0),
                start=start,
                name_end=start + 2 + tag.end(1),
            )
        )
        last = match.end()
    literals.append(text[last:])
    return tuple(literals), tuple(slots)


@lru_cache(maxsize=1024)
def compile_template(text: str) -> CompiledTemplate:
    """Parse `text` once; the same text compiles to the same (immutable) object. Raises
    TemplateSyntaxError."""
    literals, slots = _parse(text)
    return CompiledTemplate(
        text=text,
        variables=frozenset(slot.name for slot in slots),
        _literals=literals,
        _slots=slots,
    )


def spoken_name(name: str | None) -> str:
    """A name as `{{name}}` gives it: its words with single spaces between them."""
    return " ".join((name or "").split())


def contact_context(
    *,
    name: str = "",
    phone: str = "",
    email: str = "",
    attributes: Mapping[str, object] | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The variables of one recipient: name, first_name, last_name (the first word of the
    name and the rest), phone, email, each attribute, then `extra` (a spreadsheet row's
    columns, say). Keys go through variable_key(); a later source overrides an earlier one
    only with a non-blank value, so an empty attribute never hides the contact's name."""
    name = spoken_name(name)
    first, _, last = name.partition(" ")
    context: dict[str, object] = {
        "name": name,
        "first_name": first,
        "last_name": last,
        "phone": phone or "",
        "email": email or "",
    }
    for source in (attributes, extra):
        if not source:
            continue
        for key, value in source.items():
            key = variable_key(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                context.setdefault(key, value)
            else:
                context[key] = value
    return context
