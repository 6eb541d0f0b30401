"""The console's export form maps to the registered export of the chosen images (no browser needed)."""

from __future__ import annotations

from openhss.console.views import REPORT_TYPES, export_query
from openhss.services import exports
from openhss.services.images import ImageFilter


def test_registry_choice_exports_registry_vulnerabilities() -> None:
    f = ImageFilter()
    chosen_to_report = {
        "": "local-vulnerability",
        "local": "local-vulnerability",
        "registry": "registry-vulnerability",
        "cicd": "cicd-vulnerability",
    }
    for chosen, report in chosen_to_report.items():
        q = export_query("local-vulnerability", chosen, f)
        assert isinstance(q, exports.VulExport) and q.report_type == report
    assert export_query("cicd-vulnerability", "", f).report_type == "cicd-vulnerability"


def test_security_reports_take_the_chosen_images() -> None:
    q = export_query("malwares", "registry", ImageFilter())
    assert isinstance(q, exports.ReportExport) and q.image_type == "registry"
    assert isinstance((d := export_query("apps", "", ImageFilter())), exports.ReportExport)
    assert d.image_type == "local"


def test_every_registered_report_is_offered() -> None:
    assert [name for name, _ in REPORT_TYPES] == list(exports.REPORT_TYPES)
