"""VEX statements, document parsing (OpenVEX, CycloneDX VEX, CSAF 2.0 VEX) and product matching.

Framework-free so that the service (stored statements applied at scan and re-match time) and the CLI
(`openhss scan --vex FILE`) decide "does this statement cover this finding" the same way.

Real VEX documents name products loosely: a purl with or without `distro`/`arch` qualifiers, a docker
image as `pkg:docker/library/nginx`, `pkg:oci/nginx?repository_url=docker.io/library/nginx` or plain
`nginx:1.25`, an epoch in the version or in a qualifier, percent-encoded `@` or `:`… Matching therefore
compares *normalised* identities (`normalize_purl`, `normalize_image`) and treats what one side leaves
out (version, namespace, qualifiers) as a wildcard; what both sides state must agree. The conformance
cases are listed in `tests/vex/test_purl.py`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from openhss.domain.vulnerability import VulnerabilityFinding


class VexStatus(StrEnum):
    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"


#: OpenVEX 0.2 justifications (also CSAF flag labels).
OPENVEX_JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
#: CycloneDX 1.6 `analysis.justification` values, mapped to the closest OpenVEX one.
CDX_TO_OPENVEX = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "requires_configuration": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_dependency": "component_not_present",
    "requires_environment": "vulnerable_code_cannot_be_controlled_by_adversary",
    "protected_by_compiler": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
}
OPENVEX_TO_CDX = {
    "component_not_present": "requires_dependency",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
JUSTIFICATIONS = OPENVEX_JUSTIFICATIONS | frozenset(CDX_TO_OPENVEX)
#: CycloneDX `analysis.state` → VEX status.
CDX_STATE = {
    "not_affected": VexStatus.NOT_AFFECTED,
    "false_positive": VexStatus.NOT_AFFECTED,
    "resolved": VexStatus.FIXED,
    "resolved_with_pedigree": VexStatus.FIXED,
    "exploitable": VexStatus.AFFECTED,
    "in_triage": VexStatus.UNDER_INVESTIGATION,
}
STATUS_TO_CDX = {
    VexStatus.NOT_AFFECTED: "not_affected",
    VexStatus.FIXED: "resolved",
    VexStatus.AFFECTED: "exploitable",
    VexStatus.UNDER_INVESTIGATION: "in_triage",
}
#: CSAF `product_status` groups → VEX status (the "first/last/recommended" groups say nothing new).
CSAF_STATUS = {
    "known_not_affected": VexStatus.NOT_AFFECTED,
    "fixed": VexStatus.FIXED,
    "first_fixed": VexStatus.FIXED,
    "known_affected": VexStatus.AFFECTED,
    "first_affected": VexStatus.AFFECTED,
    "last_affected": VexStatus.AFFECTED,
    "under_investigation": VexStatus.UNDER_INVESTIGATION,
}
#: Statuses that stop a finding from counting as open.
SUPPRESSING = frozenset({VexStatus.NOT_AFFECTED, VexStatus.FIXED})


class VexError(ValueError):
    """A document that is not VEX we can read; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Product:
    """What a statement is about: `id` (a purl, an image reference or an opaque IRI) and optionally the
    packages inside it the statement narrows to."""

    id: str
    subcomponents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    vul_id: str
    status: VexStatus
    products: tuple[Product, ...]
    aliases: tuple[str, ...] = ()
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    author: str = ""
    #: Epoch milliseconds; 0 when the document gives none.
    timestamp: int = 0
    #: Epoch milliseconds after which the statement no longer suppresses; 0 = never.
    expires: int = 0

    @property
    def reason(self) -> str:
        """What a suppressed finding shows as its reason: the impact statement, else the justification."""
        return self.impact_statement or self.justification or self.status.value

    def vul_ids(self) -> frozenset[str]:
        return frozenset(v.upper() for v in (self.vul_id, *self.aliases) if v)


@dataclass(frozen=True, slots=True)
class Document:
    format: str  # "openvex" | "cyclonedx" | "csaf"
    statements: tuple[Statement, ...]
    id: str = ""
    author: str = ""


# --- purl normalisation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Purl:
    type: str
    namespace: str
    name: str
    version: str
    qualifiers: Mapping[str, str] = field(default_factory=dict)


#: Types whose namespace and name compare case-insensitively (purl spec type notes + registry rules).
_CASELESS = frozenset(
    {"deb", "apk", "pypi", "npm", "docker", "oci", "github", "bitbucket", "composer", "alpm"}
)
_ARCH = {
    "x86_64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "armv8": "arm64",
    "i686": "386",
    "i386": "386",
}
_DOCKER_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")
_PURL_RE = re.compile(r"^pkg:/*(?P<rest>.+)$", re.IGNORECASE)


def parse_purl(text: str) -> Purl | None:
    """A lenient purl parse (None when `text` is not a purl): tolerates `pkg://`, upper case types,
    percent-encoding anywhere, an epoch given in the version or as a qualifier, and a subpath."""
    m = _PURL_RE.match(text.strip())
    if m is None:
        return None
    rest = m.group("rest").split("#", 1)[0]
    rest, _, query = rest.partition("?")
    qualifiers: dict[str, str] = {}
    for part in query.split("&") if query else ():
        k, _, v = part.partition("=")
        if k:
            qualifiers[unquote(k).lower()] = unquote(v)
    # The version separator is the last '@' after the type and name start (a scoped npm namespace
    # `@babel` may come percent-encoded or not).
    type_, _, path = rest.partition("/")
    if not path:
        return None
    name_part, version = path, ""
    at = path.rfind("@")
    if at > 0 and "/" not in path[at:]:
        name_part, version = path[:at], path[at + 1 :]
    segments = [unquote(s) for s in name_part.strip("/").split("/") if s]
    if not segments:
        return None
    type_ = type_.lower()
    namespace, name = "/".join(segments[:-1]), segments[-1]
    version = unquote(version)
    epoch = qualifiers.pop("epoch", "")
    if epoch and ":" not in version and version:
        version = f"{epoch}:{version}"
    return Purl(type_, namespace, name, version, qualifiers)


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_purl(p: Purl) -> Purl:
    """The comparable form: case folded where the ecosystem is case-insensitive, PEP 503 names, no zero
    epoch, Go `v` prefix dropped, arch aliases folded, docker/oci image purls reduced to repository."""
    namespace, name, version = p.namespace, p.name, p.version
    if p.type in _CASELESS:
        namespace, name = namespace.lower(), name.lower()
    if p.type == "pypi":
        name = _pep503(name)
    if version.startswith("0:"):
        version = version[2:]
    if p.type == "golang" and version.startswith("v"):
        version = version[1:]
    quals = {k: v.lower() for k, v in p.qualifiers.items()}
    if "arch" in quals:
        quals["arch"] = _ARCH.get(quals["arch"], quals["arch"])
    if p.type in ("docker", "oci"):
        repo = quals.get("repository_url", "")
        full = repo if repo else "/".join(x for x in (namespace, name) if x)
        return Purl("oci", "", normalize_image_repo(full), version.lower(), {})
    return Purl(p.type, namespace, name, version, quals)


def normalize_image_repo(repo: str) -> str:
    """`docker.io/library/nginx`, `index.docker.io/library/nginx`, `library/nginx` and `nginx` are one."""
    repo = unquote(repo.strip()).lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    for host in _DOCKER_HOSTS:
        if repo.startswith(host + "/"):
            repo = repo[len(host) + 1 :]
            break
    return repo.removeprefix("library/")


@dataclass(frozen=True, slots=True)
class ImageIdentity:
    """An image as VEX products name it: repository (normalised), tag and/or digest."""

    repo: str
    tag: str = ""
    digest: str = ""


@functools.lru_cache(maxsize=65536)
def parse_image(text: str) -> ImageIdentity | None:
    """An image product: an oci/docker purl (version = digest or tag) or a plain reference
    (`[registry/]repo[:tag][@sha256:…]`). Package purls and IRIs are not images (None)."""
    p = parse_purl(text)
    if p is not None:
        if p.type not in ("oci", "docker"):
            return None
        n = normalize_purl(p)
        tag = p.qualifiers.get("tag", "")
        if n.version.startswith("sha256:"):
            return ImageIdentity(n.name, tag, n.version)
        return ImageIdentity(n.name, n.version or tag, "")
    text = text.strip()
    if not text or "://" in text or " " in text or text.startswith(("urn:", "CVE-")):
        return None
    ref, _, digest = text.partition("@")
    if digest and not digest.startswith("sha256:"):
        return None
    tag = ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    if not re.fullmatch(r"[A-Za-z0-9._/:-]+", ref):
        return None
    return ImageIdentity(normalize_image_repo(ref), tag, digest.lower())


def image_matches(want: ImageIdentity, have: ImageIdentity) -> bool:
    """Repository must agree; a digest on both sides decides; otherwise a tag on both sides must agree."""
    if want.repo != have.repo:
        return False
    if want.digest and have.digest:
        return want.digest == have.digest
    if want.digest and not have.digest:
        return False
    return not (want.tag and have.tag and want.tag != have.tag)


def package_matches(want: Purl, have: Purl) -> bool:
    """`want` (from a statement) covers `have` (a finding's package) — both normalised."""
    if want.type != have.type or want.name != have.name:
        return False
    if want.namespace and have.namespace and want.namespace != have.namespace:
        return False
    if want.version and have.version and want.version != have.version:
        return False
    if want.version and not have.version:
        return False
    return all(have.qualifiers.get(k, v) == v for k, v in want.qualifiers.items() if k == "arch")


@dataclass(frozen=True, slots=True)
class Target:
    """One finding as matching sees it: the image and the package the vulnerability is in."""

    vul_id: str
    image: ImageIdentity | None
    package: Purl | None


@functools.lru_cache(maxsize=65536)
def _as_package(text: str) -> Purl | None:
    p = parse_purl(text)
    if p is None or p.type in ("oci", "docker"):
        return None
    return normalize_purl(p)


def covers(statement: Statement, target: Target) -> bool:
    """Whether the statement speaks about this finding: same vulnerability (id or alias), and a product
    that is the image (optionally narrowed to subcomponents containing the package) or the package."""
    if target.vul_id.upper() not in statement.vul_ids():
        return False
    for product in statement.products:
        img = parse_image(product.id)
        if img is not None:
            if target.image is None or not image_matches(img, target.image):
                continue
            if not product.subcomponents:
                return True
            if target.package is not None and any(
                (p := _as_package(s)) is not None and package_matches(p, target.package)
                for s in product.subcomponents
            ):
                return True
            continue
        pkg = _as_package(product.id)
        if pkg is not None and target.package is not None and package_matches(pkg, target.package):
            return True
    return False


def image_repos(statement: Statement) -> frozenset[str] | None:
    """The repositories of the images a statement can cover, for indexing; None when a product is not
    an image (a package product covers that package in any image)."""
    repos = set()
    for product in statement.products:
        img = parse_image(product.id)
        if img is None:
            if _as_package(product.id) is not None:
                return None
            continue  # an opaque IRI covers nothing we can identify
        repos.add(img.repo)
    return frozenset(repos)


def effective(statements: Iterable[Statement], target: Target, now_ms: int) -> Statement | None:
    """The statement that decides a finding: the newest unexpired one that covers it."""
    best: Statement | None = None
    for s in statements:
        if s.expires and s.expires <= now_ms:
            continue
        if covers(s, target) and (best is None or s.timestamp >= best.timestamp):
            best = s
    return best


# --- document parsing -----------------------------------------------------------------------------------


def _ms(value: object) -> int:
    if not isinstance(value, str) or not value:
        return 0
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _status(value: object, allowed: Mapping[str, VexStatus] | None = None) -> VexStatus | None:
    text = _str(value)
    if allowed is not None:
        return allowed.get(text)
    try:
        return VexStatus(text)
    except ValueError:
        return None


def _openvex_product(item: object) -> Product | None:
    if isinstance(item, str):
        return Product(item)
    d = _dict(item)
    ident = _dict(d.get("identifiers"))
    pid = _str(ident.get("purl")) or _str(d.get("@id"))
    if not pid:
        return None
    subs = []
    for sub in _list(d.get("subcomponents")):
        sd = _dict(sub)
        sid = _str(_dict(sd.get("identifiers")).get("purl")) or _str(sd.get("@id")) or _str(sub)
        if sid:
            subs.append(sid)
    return Product(pid, tuple(subs))


def parse_openvex(doc: Mapping[str, Any]) -> Document:
    author = _str(doc.get("author"))
    doc_ts = _ms(doc.get("timestamp"))
    out = []
    for i, raw in enumerate(_list(doc.get("statements"))):
        st = _dict(raw)
        vul = st.get("vulnerability")
        vd = _dict(vul)
        vul_id = _str(vd.get("name")) or _str(vd.get("@id")) or _str(vul)
        status = _status(st.get("status"))
        if not vul_id or status is None:
            raise VexError(f"OpenVEX statement {i}: needs a vulnerability name and a valid status")
        products = tuple(p for p in map(_openvex_product, _list(st.get("products"))) if p is not None)
        expires = _ms(st.get("expires") or st.get("x_openhss_expires"))
        out.append(
            Statement(
                vul_id=vul_id,
                status=status,
                products=products,
                aliases=tuple(_str(a) for a in _list(vd.get("aliases")) if _str(a)),
                justification=_str(st.get("justification")),
                impact_statement=_str(st.get("impact_statement")),
                action_statement=_str(st.get("action_statement")),
                author=author,
                timestamp=_ms(st.get("timestamp")) or doc_ts,
                expires=expires,
            )
        )
    return Document("openvex", tuple(out), _str(doc.get("@id")), author)


def _cdx_components(doc: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """bom-ref → purl (or name:version) of every component, nested ones and metadata included; and
    bom-ref → identity of the container image it is nested in."""
    refs: dict[str, str] = {}
    parents: dict[str, str] = {}

    def walk(items: Iterable[object], image: str) -> None:
        for c in items:
            cd = _dict(c)
            ref = _str(cd.get("bom-ref"))
            ident = _str(cd.get("purl")) or (
                f"{_str(cd.get('name'))}{':' + _str(cd.get('version')) if _str(cd.get('version')) else ''}"
            )
            if ref and ident:
                refs[ref] = ident
                if image:
                    parents[ref] = image
            is_image = _str(cd.get("type")) == "container" or parse_image(ident) is not None
            walk(_list(cd.get("components")), ident if is_image and ident else image)

    walk(_list(doc.get("components")), "")
    return refs, parents


def parse_cyclonedx(doc: Mapping[str, Any]) -> Document:
    meta = _dict(doc.get("metadata"))
    subject = _dict(meta.get("component"))
    refs, parents = _cdx_components({"components": [subject]} if subject else {})
    image = refs.get(_str(subject.get("bom-ref")), "") if subject else ""
    more, more_parents = _cdx_components(doc)
    refs.update(more)
    parents.update(more_parents)
    if image and parse_image(image) is None:
        image = ""
    authors = ", ".join(
        _str(_dict(a).get("name")) for a in _list(meta.get("authors")) if _dict(a).get("name")
    )
    doc_ts = _ms(meta.get("timestamp"))
    out = []
    for i, raw in enumerate(_list(doc.get("vulnerabilities"))):
        v = _dict(raw)
        analysis = _dict(v.get("analysis"))
        status = _status(analysis.get("state"), CDX_STATE)
        vul_id = _str(v.get("id"))
        if not vul_id:
            raise VexError(f"CycloneDX vulnerability {i}: has no id")
        if status is None:
            continue  # no analysis: a finding, not a VEX statement
        products_list: list[Product] = []
        for a in _list(v.get("affects")):
            ref = _str(_dict(a).get("ref"))
            ident = refs.get(ref) or refs.get(ref.rsplit("#", 1)[-1]) or ref
            # A package nested in an image (or in the document's subject image) is narrowed to it; a
            # document without an image speaks about the packages themselves.
            parent = parents.get(ref) or (image if ident != image else "")
            if ident:
                products_list.append(Product(parent, (ident,)) if parent else Product(ident))
        products = tuple(dict.fromkeys(products_list))
        j = _str(analysis.get("justification"))
        out.append(
            Statement(
                vul_id=vul_id,
                status=status,
                products=products,
                aliases=tuple(
                    _str(_dict(r).get("id")) for r in _list(v.get("references")) if _str(_dict(r).get("id"))
                ),
                justification=CDX_TO_OPENVEX.get(j, j),
                impact_statement=_str(analysis.get("detail")),
                action_statement=", ".join(_str(r) for r in _list(analysis.get("response"))),
                author=authors,
                timestamp=_ms(analysis.get("lastUpdated")) or _ms(analysis.get("firstIssued")) or doc_ts,
            )
        )
    return Document("cyclonedx", tuple(out), _str(doc.get("serialNumber")), authors)


def _csaf_products(doc: Mapping[str, Any]) -> dict[str, Product]:
    """product_id → Product: leaves of the branch tree by their purl (or name), relationships as the
    parent product narrowed to the component."""
    tree = _dict(doc.get("product_tree"))
    plain: dict[str, str] = {}

    def add(fpn: object) -> None:
        d = _dict(fpn)
        pid = _str(d.get("product_id"))
        helper = _dict(d.get("product_identification_helper"))
        ident = _str(helper.get("purl")) or _str(d.get("name"))
        if pid and ident:
            plain[pid] = ident

    def walk(branches: Iterable[object]) -> None:
        for b in branches:
            bd = _dict(b)
            if bd.get("product"):
                add(bd["product"])
            walk(_list(bd.get("branches")))

    walk(_list(tree.get("branches")))
    for fpn in _list(tree.get("full_product_names")):
        add(fpn)
    out = {pid: Product(ident) for pid, ident in plain.items()}
    for rel in _list(tree.get("relationships")):
        rd = _dict(rel)
        fpn = _dict(rd.get("full_product_name"))
        pid = _str(fpn.get("product_id"))
        comp = plain.get(_str(rd.get("product_reference")), "")
        parent = plain.get(_str(rd.get("relates_to_product_reference")), "")
        if pid and parent:
            out[pid] = Product(parent, (comp,) if comp else ())
        elif pid and comp:
            out[pid] = Product(comp)
    return out


def parse_csaf(doc: Mapping[str, Any]) -> Document:
    meta = _dict(doc.get("document"))
    if _str(meta.get("category")) not in ("csaf_vex", ""):
        raise VexError(f"CSAF document category {_str(meta.get('category'))!r} is not csaf_vex")
    products = _csaf_products(doc)
    tracking = _dict(meta.get("tracking"))
    author = _str(_dict(meta.get("publisher")).get("name"))
    doc_ts = _ms(tracking.get("current_release_date")) or _ms(tracking.get("initial_release_date"))
    out = []
    for raw in _list(doc.get("vulnerabilities")):
        v = _dict(raw)
        ids = [_str(v.get("cve"))] + [_str(_dict(x).get("text")) for x in _list(v.get("ids"))]
        ids = [x for x in ids if x]
        if not ids:
            continue
        justification: dict[str, str] = {}
        for flag in _list(v.get("flags")):
            fd = _dict(flag)
            for pid in _list(fd.get("product_ids")):
                justification[_str(pid)] = _str(fd.get("label"))
        impact: dict[str, str] = {}
        for threat in _list(v.get("threats")):
            td = _dict(threat)
            if _str(td.get("category")) == "impact":
                for pid in _list(td.get("product_ids")):
                    impact[_str(pid)] = _str(td.get("details"))
        action: dict[str, str] = {}
        for rem in _list(v.get("remediations")):
            rd = _dict(rem)
            for pid in _list(rd.get("product_ids")):
                action[_str(pid)] = _str(rd.get("details"))
        for group, status in CSAF_STATUS.items():
            for pid in _list(_dict(v.get("product_status")).get(group)):
                product = products.get(_str(pid))
                if product is None:
                    continue
                out.append(
                    Statement(
                        vul_id=ids[0],
                        status=status,
                        products=(product,),
                        aliases=tuple(ids[1:]),
                        justification=justification.get(_str(pid), ""),
                        impact_statement=impact.get(_str(pid), ""),
                        action_statement=action.get(_str(pid), ""),
                        author=author,
                        timestamp=doc_ts,
                    )
                )
    return Document("csaf", tuple(out), _str(tracking.get("id")), author)


def parse_document(raw: bytes | str) -> Document:
    """Detect the format and parse; every failure is a `VexError` with a one-line reason."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise VexError(f"not a JSON document: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict):
        raise VexError("not a VEX document: the top level is not a JSON object")
    context = _str(doc.get("@context"))
    if "openvex" in context or ("statements" in doc and "@id" in doc):
        return parse_openvex(doc)
    if _str(doc.get("bomFormat")) == "CycloneDX":
        return parse_cyclonedx(doc)
    if isinstance(doc.get("document"), dict) and "csaf_version" in _dict(doc["document"]):
        return parse_csaf(doc)
    raise VexError("not a VEX document: expected OpenVEX, CycloneDX (VEX) or CSAF 2.0")


# --- identities of our own findings -------------------------------------------------------------------

#: OSV ecosystem name (what findings store as `app_type`) → (purl type, namespace).
_ECOSYSTEM_PURL = {
    "Debian": ("deb", "debian"),
    "Ubuntu": ("deb", "ubuntu"),
    "Alpine": ("apk", "alpine"),
    "Wolfi": ("apk", "wolfi"),
    "Chainguard": ("apk", "chainguard"),
    "Red Hat": ("rpm", "redhat"),
    "Rocky Linux": ("rpm", "rocky"),
    "AlmaLinux": ("rpm", "almalinux"),
    "openEuler": ("rpm", "openeuler"),
    "SUSE": ("rpm", "suse"),
    "openSUSE": ("rpm", "opensuse"),
    "CentOS": ("rpm", "centos"),
    "Fedora": ("rpm", "fedora"),
    "Amazon Linux": ("rpm", "amzn"),
    "Oracle Linux": ("rpm", "oracle"),
    "EulerOS": ("rpm", "euleros"),
    "Huawei Cloud EulerOS": ("rpm", "hce"),
    "Kylin": ("rpm", "kylin"),
    "UOS": ("rpm", "uos"),
    "PyPI": ("pypi", ""),
    "npm": ("npm", ""),
    "Maven": ("maven", ""),
    "Go": ("golang", ""),
    "crates.io": ("cargo", ""),
    "RubyGems": ("gem", ""),
    "Packagist": ("composer", ""),
    "NuGet": ("nuget", ""),
}


def _enc(text: str, safe: str = "") -> str:
    from urllib.parse import quote

    return quote(text, safe=safe)


def package_purl(ecosystem: str, name: str, version: str) -> str:
    """The purl of a stored finding's package (findings keep ecosystem, name and version, not the purl)."""
    type_, namespace = _ECOSYSTEM_PURL.get(ecosystem, ("generic", ""))
    if type_ in ("maven", "golang", "npm", "composer") and ("/" in name or ":" in name):
        parts = name.replace(":", "/").split("/")
        namespace, name = "/".join(parts[:-1]), parts[-1]
    path = "/".join(_enc(x) for x in (*namespace.split("/"), name) if x)
    return f"pkg:{type_}/{path}" + (f"@{_enc(version, safe='')}" if version else "")


def image_purl(repo: str, digest: str = "", tag: str = "") -> str:
    """An OCI image purl: `pkg:oci/NAME@DIGEST?repository_url=REPO&tag=TAG` (purl spec oci type)."""
    full = repo.strip().rstrip("/")
    name = full.rsplit("/", 1)[-1].lower()
    quals = [f"repository_url={_enc(full, safe='/:')}"] if "/" in full else []
    if tag:
        quals.append(f"tag={_enc(tag)}")
    return (
        f"pkg:oci/{_enc(name)}"
        + (f"@{_enc(digest)}" if digest else "")
        + ("?" + "&".join(quals) if quals else "")
    )


def target_of(
    vul_id: str, image_name: str, image_version: str, image_digest: str, ecosystem: str, app: str, ver: str
) -> Target:
    """The matching view of one stored finding (image row + finding row)."""
    return Target(
        vul_id,
        ImageIdentity(normalize_image_repo(image_name), image_version, image_digest.lower()),
        _as_package(package_purl(ecosystem, app, ver)) if app else None,
    )


# --- a local scan report (`openhss scan --vex`) --------------------------------------------------------

_DAEMON_TRANSPORTS = ("docker://", "docker-daemon:", "containers-storage:", "podman:")


def report_images(ref: str, digest: str, repo_tags: Iterable[str]) -> list[ImageIdentity]:
    """The names a scanned image goes by: its registry/daemon reference and its tags, with its digest.
    A file transport (oci-archive:, dir:) names no repository; only its tags and purls can match."""
    names = list(repo_tags)
    for prefix in _DAEMON_TRANSPORTS:
        if ref.startswith(prefix):
            names.append(ref[len(prefix) :].lstrip("/"))
    out = []
    for name in names:
        ident = parse_image(name)
        if ident is not None:
            out.append(ImageIdentity(ident.repo, ident.tag, ident.digest or digest.lower()))
    return out


def split_report(
    images: Sequence[ImageIdentity],
    findings: Iterable[VulnerabilityFinding],
    statements: Sequence[Statement],
    now_ms: int,
) -> tuple[list[VulnerabilityFinding], list[tuple[VulnerabilityFinding, Statement]]]:
    """(kept findings, suppressed findings with the statement that suppresses each)."""
    kept: list[VulnerabilityFinding] = []
    suppressed: list[tuple[VulnerabilityFinding, Statement]] = []
    for v in findings:
        package = _as_package(package_purl(v.ecosystem.value, v.package_name, v.package_version))
        best: Statement | None = None
        candidates: Sequence[ImageIdentity | None] = images or [None]
        for image in candidates:
            st = effective(statements, Target(v.vul_id, image, package), now_ms)
            if st is not None and (best is None or st.timestamp >= best.timestamp):
                best = st
        if best is not None and best.status in SUPPRESSING:
            suppressed.append((v, best))
        else:
            kept.append(v)
    return kept, suppressed
