"""The console's text filters: readable task names, full image names, descriptions cut at words."""

from __future__ import annotations

from datetime import UTC, datetime

from openhss.console.render import environment
from openhss.db.models import Image


def _render(source: str, **values: object) -> str:
    return environment().from_string(source).render(**values)


def test_generated_task_names_read_as_kind_and_time() -> None:
    ms = 1_796_516_808_621
    when = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert _render("{{ n|task_label }}", n=f"manual_scan_{ms}") == f"Manual scan, {when}"
    assert _render("{{ n|task_label }}", n=f"cycle_{ms}") == f"Cycle, {when}"
    # A name somebody chose is theirs: shown as it is.
    assert _render("{{ n|task_label }}", n="nightly registry sweep") == "nightly registry sweep"
    assert _render("{{ n|task_label }}", n="scan_12") == "scan_12"


def test_image_names_carry_their_namespace_once() -> None:
    bare = Image(image_name="api", organization="shop")
    assert _render("{{ i|full_name }}", i=bare) == "shop/api"
    qualified = Image(image_name="shop/api", organization="shop")
    assert _render("{{ i|full_name }}", i=qualified) == "shop/api"
    local = Image(image_name="nginx", organization="")
    assert _render("{{ i|full_name }}", i=local) == "nginx"


def test_descriptions_are_cut_between_words() -> None:
    text = "A crafted YAML document makes the full_load loader run arbitrary Python code during parsing."
    cut = _render("{{ t|words(40) }}", t=text)
    assert cut.endswith("…") and len(cut) <= 41
    prefix = cut[:-1]
    assert text.startswith(prefix) and text[len(prefix)] == " "
    assert _render("{{ t|words(200) }}", t=text) == text
    assert _render("{{ t|words(10) }}", t="x" * 30) == "x" * 10 + "…"
