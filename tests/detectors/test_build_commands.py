"""Build-command rules over real-looking image histories (classic builder and BuildKit spellings)."""

from __future__ import annotations

import secrets
import string

from openhss.domain.enums import FindingKind
from openhss.scan.checks.base import CheckContext
from openhss.scan.checks.build_commands import BUILD_COMMAND_RULES, BuildCommandCheck

from .helpers import image_config

# Shaped like `docker history --no-trunc` of images built with BuildKit and with the classic builder.
RISKY = [
    ("/bin/sh -c #(nop) ADD file:9b0c1e0a3bd6d1f5 in / ", False),
    ('/bin/sh -c #(nop)  CMD ["bash"]', True),
    ("RUN /bin/sh -c apt-get update && apt-get -y dist-upgrade # buildkit", False),
    ("RUN /bin/sh -c curl -fsSL https://get.example.com/install.sh | bash # buildkit", False),
    ("RUN /bin/sh -c wget --no-check-certificate https://mirror.example.com/tool.tgz # buildkit", False),
    ("RUN /bin/sh -c chmod -R 777 /opt/app # buildkit", False),
    ("ADD https://example.com/releases/app.tar.gz /opt/ # buildkit", False),
    ("RUN /bin/sh -c sudo apt-get install -y nginx # buildkit", False),
    ("RUN /bin/sh -c apt-get install -y --allow-unauthenticated legacy-pkg # buildkit", False),
    ("LABEL run=docker run --privileged -v /var/run/docker.sock:/var/run/docker.sock acme/agent", True),
    ("COPY id_rsa /root/.ssh/id_rsa # buildkit", False),
    ("RUN /bin/sh -c curl -o /tmp/x http://downloads.example.com/x.bin # buildkit", False),
    ("USER app", True),
    ("USER root", True),
]

EXPECTED = {
    "build-package-upgrade": 3,
    "build-curl-pipe-shell": 4,
    "build-tls-verification-disabled": 5,
    "build-chmod-777": 6,
    "build-add-remote-url": 7,
    "build-sudo": 8,
    "build-package-signature-disabled": 9,
    "build-privileged-hint": 10,
    "build-private-key-copied": 11,
    "build-plain-http-download": 12,
    "build-user-root-last": 14,
}


def test_risky_history() -> None:
    cfg = image_config(
        RISKY, labels={"org.opencontainers.image.base.name": "docker.io/library/debian:latest"}
    )
    findings = BuildCommandCheck().run(CheckContext(cfg))
    got = {(f.rule_id, f.line) for f in findings}
    for rule, line in EXPECTED.items():
        assert (rule, line) in got, f"{rule} not reported at history entry {line}: {sorted(got)}"
    assert ("build-latest-base-tag", 0) in got
    assert all(f.kind is FindingKind.BUILD_COMMAND_RISK for f in findings)
    # Layer attribution: entry 4 (curl | bash) created the 3rd layer.
    curl = next(f for f in findings if f.rule_id == "build-curl-pipe-shell")
    assert curl.layer_digest == cfg.diff_ids[2]
    assert not {r for r, _ in got} - {r.id for r in BUILD_COMMAND_RULES}


def test_secrets_in_arg_env_and_commands_are_masked() -> None:
    pw = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    ghp = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    history = [
        (f"/bin/sh -c #(nop)  ENV DB_PASSWORD={pw}", True),
        (f"ARG NPM_TOKEN={pw}", True),
        (f"|1 NPM_TOKEN={pw} /bin/sh -c npm ci # buildkit", False),
        (f"RUN /bin/sh -c git clone https://{ghp}@github.com/acme/private.git # buildkit", False),
        ("/bin/sh -c #(nop)  ENV API_KEY_FILE=$HOME/key", True),
    ]
    findings = [
        f
        for f in BuildCommandCheck().run(CheckContext(image_config(history)))
        if f.rule_id == "build-secret-in-arg-env"
    ]
    assert sorted(f.line for f in findings) == [1, 2, 3, 4]
    for f in findings:
        assert pw not in f.evidence and ghp not in f.evidence


def test_clean_history_has_no_findings() -> None:
    history: list[str | tuple[str, bool]] = [
        "/bin/sh -c #(nop) ADD file:4e6b0d9ee3c8e3b9 in / ",
        ('/bin/sh -c #(nop)  CMD ["bash"]', True),
        "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates curl"
        " && rm -rf /var/lib/apt/lists/* # buildkit",
        "RUN /bin/sh -c curl -fsSLo /tmp/app.tgz https://example.com/app.tgz"
        " && echo 'abc  /tmp/app.tgz' | sha256sum -c - # buildkit",
        "COPY app/ /srv/app # buildkit",
        ("USER 10001", True),
        ('ENTRYPOINT ["/srv/app/run"]', True),
    ]
    cfg = image_config(history, labels={"org.opencontainers.image.base.name": "docker.io/library/debian:12"})
    assert BuildCommandCheck().run(CheckContext(cfg)) == []


def test_rule_id_selection() -> None:
    cfg = image_config(RISKY)
    only = BuildCommandCheck(frozenset({"build-sudo"})).run(CheckContext(cfg))
    assert {f.rule_id for f in only} == {"build-sudo"}


def test_rule_table_is_complete() -> None:
    ids = [r.id for r in BUILD_COMMAND_RULES]
    assert len(ids) == len(set(ids))
    assert {r.severity.value for r in BUILD_COMMAND_RULES} == {"Critical", "High", "Medium", "Low"}
    assert all(r.title and r.description and r.remediation for r in BUILD_COMMAND_RULES)
