"""The check contract: image-wide rules that need the whole image, not one layer's files.

Analyzers see bytes layer by layer; checks run once per image after the fold, over the image config
(env, user, history...) and the folded inventory (packages, findings). They never read layer bytes, so
a cached layer analysis serves them as well as a fresh one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from openhss.domain.enums import ScanScope
from openhss.domain.models import Finding
from openhss.scan.applier import Inventory
from openhss.scan.image import HistoryEntry, ImageConfig


@dataclass(frozen=True, slots=True)
class CheckContext:
    config: ImageConfig
    inventory: Inventory = field(default_factory=Inventory)

    @property
    def history(self) -> tuple[HistoryEntry, ...]:
        return self.config.history

    def layer_of(self, history_index: int) -> str:
        """diff_id of the layer a history entry created ('' for metadata-only entries)."""
        layer = 0
        for i, entry in enumerate(self.config.history):
            if entry.empty_layer:
                if i == history_index:
                    return ""
                continue
            if i == history_index:
                return self.config.diff_ids[layer] if layer < len(self.config.diff_ids) else ""
            layer += 1
        return ""


class Check(ABC):
    #: Stable identifier of the check (its findings carry their own rule ids).
    id: ClassVar[str]
    #: The `scan_scope` bits that enable this check.
    scope: ClassVar[ScanScope]

    @abstractmethod
    def run(self, ctx: CheckContext) -> list[Finding]:
        """Findings for one image; must not raise on odd but valid configs."""


def run_checks(checks: list[Check], ctx: CheckContext, scope: ScanScope = ScanScope.ALL) -> list[Finding]:
    out: list[Finding] = []
    for check in checks:
        if check.scope & scope:
            out.extend(check.run(ctx))
    return out
