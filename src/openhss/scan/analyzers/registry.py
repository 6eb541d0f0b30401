"""Every analyzer, in one list. Adding an analyzer is one module plus one line here."""

from __future__ import annotations

from openhss.scan.analyzers.base import Analyzer
from openhss.scan.analyzers.baseline_files import BaselineFileAnalyzer
from openhss.scan.analyzers.files import FilesAnalyzer
from openhss.scan.analyzers.lang.dotnet import DotnetAnalyzer
from openhss.scan.analyzers.lang.golang import GoBinaryAnalyzer
from openhss.scan.analyzers.lang.java import JavaAnalyzer
from openhss.scan.analyzers.lang.node import NodeAnalyzer
from openhss.scan.analyzers.lang.php import PhpAnalyzer
from openhss.scan.analyzers.lang.python import PythonAnalyzer
from openhss.scan.analyzers.lang.ruby import RubyAnalyzer
from openhss.scan.analyzers.lang.rust import RustAnalyzer
from openhss.scan.analyzers.malware import MalwareAnalyzer
from openhss.scan.analyzers.os.apk import ApkAnalyzer
from openhss.scan.analyzers.os.dpkg import DpkgAnalyzer
from openhss.scan.analyzers.os.release import OSReleaseAnalyzer
from openhss.scan.analyzers.os.rpm import RpmAnalyzer
from openhss.scan.analyzers.secrets import SecretAnalyzer

ANALYZERS: list[type[Analyzer]] = [
    OSReleaseAnalyzer,
    DpkgAnalyzer,
    ApkAnalyzer,
    RpmAnalyzer,
    FilesAnalyzer,
    PythonAnalyzer,
    NodeAnalyzer,
    JavaAnalyzer,
    GoBinaryAnalyzer,
    RustAnalyzer,
    RubyAnalyzer,
    PhpAnalyzer,
    DotnetAnalyzer,
    SecretAnalyzer,
    MalwareAnalyzer,
    BaselineFileAnalyzer,
]
