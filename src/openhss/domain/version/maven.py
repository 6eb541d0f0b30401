"""Maven versions, ordered exactly as `org.apache.maven.artifact.versioning.ComparableVersion`.

Maven's order is defined by that class's item tree (numbers, qualifiers, `letter+digit`
combinations and `-` sub-lists) and by comparisons against a missing item ("null"), which is not
expressible as a flat tuple. The parsed tree is therefore wrapped in `MavenVersion`, whose rich
comparisons run the ported `compareTo`; parsing is cached so the hot path only compares.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final, Union

from openhss.domain.version.base import InvalidVersion, VersionScheme

MAX_VERSION_LENGTH: Final = 256

# Item kinds, as in ComparableVersion.Item.
NUM: Final = 0
STR: Final = 1
LIST: Final = 2
COMB: Final = 3

Item = Union["NumItem", "StrItem", "CombItem", "ListItem"]

_QUALIFIERS: Final = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE_QUALIFIERS: Final = frozenset({"ga", "final", "release"})
_RELEASE_INDEX: Final = "5"
_ALIASES: Final = {"cr": "rc"}
_SHORT: Final = {"a": "alpha", "b": "beta", "m": "milestone"}


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _str_cmp(a: str, b: str) -> int:
    return (a > b) - (a < b)


@lru_cache(maxsize=4096)
def comparable_qualifier(q: str) -> str:
    if q in _RELEASE_QUALIFIERS:
        return _RELEASE_INDEX
    try:
        return str(_QUALIFIERS.index(q))
    except ValueError:
        return f"{len(_QUALIFIERS)}-{q}"


class NumItem:
    __slots__ = ("value",)
    kind = NUM

    def __init__(self, value: int) -> None:
        self.value = value

    def is_null(self) -> bool:
        return self.value == 0

    def cmp(self, item: Item | None) -> int:
        if item is None:
            return 0 if self.value == 0 else 1
        if isinstance(item, NumItem):
            other = item.value
            return (self.value > other) - (self.value < other)
        return 1  # 1.1 > 1-sp, 1.1 > 1-1, 1.1 > 1.a

    def __repr__(self) -> str:
        return str(self.value)


class StrItem:
    __slots__ = ("cq", "value")
    kind = STR

    def __init__(self, value: str, followed_by_digit: bool) -> None:
        if followed_by_digit and len(value) == 1:
            value = _SHORT.get(value, value)
        self.value = _ALIASES.get(value, value)
        self.cq = comparable_qualifier(self.value)

    def is_null(self) -> bool:
        return not self.value

    def cmp(self, item: Item | None) -> int:
        if item is None:
            return _str_cmp(self.cq, _RELEASE_INDEX)
        kind = item.kind
        if kind == NUM:
            return -1
        if kind == STR:
            return _str_cmp(self.cq, item.cq)  # type: ignore[union-attr]
        if kind == COMB:
            assert isinstance(item, CombItem)
            result = self.cmp(item.string_part)
            if result == 0:
                if self.cmp(None) == 0:
                    return -item.digit_part.cmp(None)
                return -1
            return result
        return -item.cmp(self)

    def __repr__(self) -> str:
        return self.value


class CombItem:
    __slots__ = ("digit_part", "string_part")
    kind = COMB

    def __init__(self, value: str) -> None:
        index = 0
        for i, ch in enumerate(value):
            if ch.isdigit():
                index = i
                break
        self.string_part = StrItem(value[:index], True)
        digits = value[index:]
        if not digits.isdigit():
            raise InvalidVersion(f"malformed qualifier/number combination: {value!r}")
        self.digit_part = NumItem(int(digits))

    def is_null(self) -> bool:
        return False

    def cmp(self, item: Item | None) -> int:
        if item is None:
            result = self.string_part.cmp(None)
            return self.digit_part.cmp(None) if result == 0 else result
        kind = item.kind
        if kind == NUM:
            return -1
        if kind == STR:
            result = self.string_part.cmp(item)
            if result == 0:
                if self.string_part.cmp(None) == 0:
                    return self.digit_part.cmp(None)
                return 1  # X1 > X
            return result
        if kind == LIST:
            return -item.cmp(self)
        assert isinstance(item, CombItem)
        result = self.string_part.cmp(item.string_part)
        return self.digit_part.cmp(item.digit_part) if result == 0 else result

    def __repr__(self) -> str:
        return f"{self.string_part}{self.digit_part}"


class ListItem(list[Item]):
    kind = LIST

    def is_null(self) -> bool:
        return len(self) == 0

    def normalize(self) -> None:
        for i in range(len(self) - 1, -1, -1):
            if self[i].is_null():
                if i == len(self) - 1 or self[i + 1].kind == STR:
                    del self[i]
                elif self[i + 1].kind == LIST:
                    nxt = self[i + 1]
                    assert isinstance(nxt, ListItem)
                    if nxt and nxt[0].kind in (COMB, STR):
                        del self[i]
        if len(self) == 1 and isinstance(self[0], ListItem):
            inner = self[0]
            self.clear()
            self.extend(inner)

    def cmp(self, item: Item | None) -> int:
        if item is None:
            for it in self:
                result = it.cmp(None)
                if result != 0:
                    return result
            return 0
        kind = item.kind
        if kind == NUM:
            return -1  # 1-1 < 1.0.x
        if kind in (STR, COMB):
            result = -item.cmp(None) if not self else self[0].cmp(item)
            i = 1
            while result == 0 and i < len(self):
                result = self[i].cmp(None)
                i += 1
            return result
        assert isinstance(item, ListItem)
        n = max(len(self), len(item))
        for i in range(n):
            left = self[i] if i < len(self) else None
            right = item[i] if i < len(item) else None
            if left is not None:
                result = left.cmp(right)
            elif right is not None:
                result = -right.cmp(None)  # this list is shorter: compare the rest against nothing
            else:
                result = 0
            if result != 0:
                return result
        return 0

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(i) for i in self) + "]"


def _parse_item(is_combination: bool, is_digit: bool, buf: str) -> Item:
    if is_combination:
        return CombItem(buf.replace("-", ""))
    if is_digit:
        return NumItem(int(buf) if buf else 0)
    return StrItem(buf, False)


def parse_items(version: str) -> ListItem:
    """ComparableVersion.parseVersion, transcribed (including its `X-1` == `X1` rule)."""
    if len(version) > MAX_VERSION_LENGTH:
        raise InvalidVersion(f"Maven version longer than {MAX_VERSION_LENGTH} characters")
    items = ListItem()
    version = version.lower()
    lst = items
    stack: list[ListItem] = [lst]
    is_digit = False
    is_combination = False
    start = 0
    n = len(version)
    for i, c in enumerate(version):
        if c == ".":
            if i == start:
                lst.append(NumItem(0))
            else:
                lst.append(_parse_item(is_combination, is_digit, version[start:i]))
            is_combination = False
            start = i + 1
        elif c == "-":
            if i == start:
                lst.append(NumItem(0))
            else:
                if not is_digit and i != n - 1 and version[i + 1].isdigit():
                    is_combination = True  # X-1 is treated as X1
                    continue
                lst.append(_parse_item(is_combination, is_digit, version[start:i]))
            start = i + 1
            if lst:
                new = ListItem()
                lst.append(new)
                lst = new
                stack.append(lst)
            is_combination = False
        elif "0" <= c <= "9":
            if not is_digit and i > start:
                is_combination = True  # X1
                if lst:
                    new = ListItem()
                    lst.append(new)
                    lst = new
                    stack.append(lst)
            is_digit = True
        else:
            if is_digit and i > start:
                lst.append(_parse_item(is_combination, True, version[start:i]))
                start = i
                new = ListItem()
                lst.append(new)
                lst = new
                stack.append(lst)
                is_combination = False
            is_digit = False
    if n > start:
        if not is_digit and lst:  # 1.0.0.X1 < 1.0.0-X2: treat .X as -X
            new = ListItem()
            lst.append(new)
            lst = new
            stack.append(lst)
        lst.append(_parse_item(is_combination, is_digit, version[start:]))
    while stack:
        stack.pop().normalize()
    return items


class MavenVersion:
    """Sort key: compares like ComparableVersion.compareTo. Unhashable, because versions that
    compare equal (`1` and `1-ga`) have different trees."""

    __slots__ = ("items", "text")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, text: str) -> None:
        self.text = text
        self.items = parse_items(text)

    def cmp(self, other: MavenVersion) -> int:
        return _sign(self.items.cmp(other.items))

    def __lt__(self, other: MavenVersion) -> bool:
        return self.items.cmp(other.items) < 0

    def __le__(self, other: MavenVersion) -> bool:
        return self.items.cmp(other.items) <= 0

    def __gt__(self, other: MavenVersion) -> bool:
        return self.items.cmp(other.items) > 0

    def __ge__(self, other: MavenVersion) -> bool:
        return self.items.cmp(other.items) >= 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenVersion) and self.items.cmp(other.items) == 0

    def __repr__(self) -> str:
        return f"MavenVersion({self.text!r} -> {self.items!r})"


@lru_cache(maxsize=131072)
def maven_key(version: str) -> MavenVersion:
    if not version.strip():
        raise InvalidVersion("empty Maven version")
    return MavenVersion(version)


class MavenScheme(VersionScheme):
    """Maven Central artifacts (and other JVM coordinates in OSV's `Maven` ecosystem)."""

    name = "maven"

    def key(self, version: str) -> MavenVersion:
        return maven_key(version)

    def compare(self, a: str, b: str) -> int:
        return maven_key(a).cmp(maven_key(b))
