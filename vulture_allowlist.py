"""Names vulture reports as unused that are used where it cannot see (run by `make lint`).

Regenerate the body with `vulture --make-whitelist` after deleting real dead code; keep this header.
What is here, by kind:
- fields of HSS wire models (`api/schemas.py`, route response models), of ORM rows and of dataclasses
  that templates, JSON serialisation or the database read by name;
- enum members and media-type constants that document the full set of values the spec defines;
- context-manager / hook signatures whose parameters are fixed by the protocol;
- tested public API of the engine and services used by tests and benchmarks, not yet by the service
  (`head_revision`, `iter_layer`, `resolve_link`, `list_platforms`, `scan_paths`, `indexed_count`,
  `rpmvercmp`, `VersionScheme.valid`, `Pep440Scheme.satisfies`);
- names other work in flight will use (`AdminPrincipal`, `EMPTY_BODY_SHA256`, `PayloadTooLarge`).
A name used only by tests that is not a deliberate API is dead code: delete it instead of adding it.
"""

# ruff: noqa
# mypy: ignore-errors
app_from_environment  # unused function (src/openhss/api/asgi.py:13)
AdminPrincipal  # unused variable (src/openhss/api/deps.py:222)
os_type  # unused variable (src/openhss/api/routers/agent.py:41)
heartbeat_interval  # unused variable (src/openhss/api/routers/agent.py:51)
offline_after  # unused variable (src/openhss/api/routers/agent.py:52)
hosts_marked_offline  # unused variable (src/openhss/api/routers/agent.py:61)
accepted  # unused variable (src/openhss/api/routers/agent.py:189)
database  # unused variable (src/openhss/api/routers/health.py:20)
domain  # unused variable (src/openhss/api/routers/iam.py:38)
data_list  # unused variable (src/openhss/api/routers/registries.py:126)
fail_num  # unused variable (src/openhss/api/routers/registries.py:131)
scan_failed_code  # unused variable (src/openhss/api/routers/registries.py:149)
domain_name  # unused variable (src/openhss/api/routers/registries.py:157)
shared_status  # unused variable (src/openhss/api/routers/registries.py:158)
scannable  # unused variable (src/openhss/api/routers/registries.py:159)
is_multiple_arch  # unused variable (src/openhss/api/routers/registries.py:160)
instance_url  # unused variable (src/openhss/api/routers/registries.py:163)
association_images  # unused variable (src/openhss/api/routers/registries.py:165)
data_list  # unused variable (src/openhss/api/routers/registries.py:170)
scan_failed_code  # unused variable (src/openhss/api/routers/registries.py:186)
data_list  # unused variable (src/openhss/api/routers/registries.py:199)
data_list  # unused variable (src/openhss/api/routers/rematch.py:35)
data_list  # unused variable (src/openhss/api/schemas.py:46)
instance_url  # unused variable (src/openhss/api/schemas.py:140)
non_scan_reason  # unused variable (src/openhss/api/schemas.py:245)
data_list  # unused variable (src/openhss/api/schemas.py:250)
data_list  # unused variable (src/openhss/api/schemas.py:267)
data_list  # unused variable (src/openhss/api/schemas.py:285)
position  # unused variable (src/openhss/api/schemas.py:292)
solution  # unused variable (src/openhss/api/schemas.py:296)
data_list  # unused variable (src/openhss/api/schemas.py:302)
publish_time  # unused variable (src/openhss/api/schemas.py:308)
decription  # unused variable (src/openhss/api/schemas.py:316)
solution  # unused variable (src/openhss/api/schemas.py:318)
data_list  # unused variable (src/openhss/api/schemas.py:322)
data_list  # unused variable (src/openhss/api/schemas.py:327)
tag_id  # unused variable (src/openhss/api/schemas.py:331)
tag_count  # unused variable (src/openhss/api/schemas.py:343)
data_list  # unused variable (src/openhss/api/schemas.py:345)
data_list  # unused variable (src/openhss/api/schemas.py:350)
data_list  # unused variable (src/openhss/api/schemas.py:362)
data_list  # unused variable (src/openhss/api/schemas.py:373)
data_list  # unused variable (src/openhss/api/schemas.py:385)
position  # unused variable (src/openhss/api/schemas.py:393)
operate_accept  # unused variable (src/openhss/api/schemas.py:398)
data_list  # unused variable (src/openhss/api/schemas.py:403)
data_list  # unused variable (src/openhss/api/schemas.py:416)
risk_id  # unused variable (src/openhss/api/schemas.py:422)
data_list  # unused variable (src/openhss/api/schemas.py:432)
policy_id  # unused variable (src/openhss/api/schemas.py:448)
begin_time  # unused variable (src/openhss/api/schemas.py:450)
remain_min  # unused variable (src/openhss/api/schemas.py:452)
risky_num  # unused variable (src/openhss/api/schemas.py:462)
sync_task_type  # unused variable (src/openhss/api/schemas.py:463)
failed_images  # unused variable (src/openhss/api/schemas.py:465)
data_list  # unused variable (src/openhss/api/schemas.py:469)
RegistryFlavour  # unused variable (src/openhss/api/schemas.py:507)
data_list  # unused variable (src/openhss/api/schemas.py:576)
handle_time  # unused variable (src/openhss/api/schemas.py:595)
data_list  # unused variable (src/openhss/api/schemas.py:609)
cve_list  # unused variable (src/openhss/api/schemas.py:625)
data_list  # unused variable (src/openhss/api/schemas.py:636)
dotenv_settings  # unused variable (src/openhss/config.py:127)
day_ms  # unused variable (src/openhss/console/data.py:106)
vul_count  # unused variable (src/openhss/console/data.py:141)
image_count  # unused variable (src/openhss/console/data.py:142)
worst  # unused variable (src/openhss/console/data.py:143)
_.next_offset  # unused property (src/openhss/console/data.py:258)
_.prev_offset  # unused property (src/openhss/console/data.py:262)
vulnerable  # unused variable (src/openhss/console/data.py:288)
_.can_operate  # unused property (src/openhss/console/session.py:50)
head_revision  # unused function (src/openhss/db/migrate.py:41)
os_type  # unused variable (src/openhss/db/models.py:146)
updated_at  # unused variable (src/openhss/db/scheduling.py:53)
finished_at  # unused variable (src/openhss/db/scheduling.py:63)
changed_num  # unused variable (src/openhss/db/scheduling.py:65)
images_checked  # unused variable (src/openhss/db/scheduling.py:67)
images_rematched  # unused variable (src/openhss/db/scheduling.py:68)
images_newly_affected  # unused variable (src/openhss/db/scheduling.py:69)
_.fixed_versions  # unused property (src/openhss/domain/advisory.py:81)
WINDOWS  # unused variable (src/openhss/domain/enums.py:80)
WEB_CMS  # unused variable (src/openhss/domain/enums.py:81)
URGENT  # unused variable (src/openhss/domain/enums.py:82)
PayloadTooLarge  # unused class (src/openhss/domain/errors.py:46)
EMPTY_BODY_SHA256  # unused variable (src/openhss/domain/signing.py:20)
_.valid  # unused method (src/openhss/domain/version/apk.py:176)
_.valid  # unused method (src/openhss/domain/version/base.py:41)
_.satisfies  # unused method (src/openhss/domain/version/pep440.py:83)
rpmvercmp  # unused function (src/openhss/domain/version/rpm.py:49)
mtime  # unused variable (src/openhss/scan/analyzers/base.py:40)
ptr_size  # unused variable (src/openhss/scan/analyzers/lang/_binary.py:45)
scan_paths  # unused function (src/openhss/scan/analyzers/malware.py:425)
modularity_label  # unused variable (src/openhss/scan/analyzers/os/rpmdb/header.py:60)
MT_OCI_CONFIG  # unused variable (src/openhss/scan/image.py:21)
MT_OCI_LAYER  # unused variable (src/openhss/scan/image.py:22)
MT_OCI_LAYER_GZIP  # unused variable (src/openhss/scan/image.py:23)
MT_OCI_LAYER_ZSTD  # unused variable (src/openhss/scan/image.py:24)
MT_DOCKER_CONFIG  # unused variable (src/openhss/scan/image.py:27)
MT_DOCKER_LAYER_GZIP  # unused variable (src/openhss/scan/image.py:28)
uncompressed_size  # unused variable (src/openhss/scan/image.py:84)
comment  # unused variable (src/openhss/scan/image.py:91)
working_dir  # unused variable (src/openhss/scan/image.py:106)
manifest_media_type  # unused variable (src/openhss/scan/image.py:118)
resolve_link  # unused function (src/openhss/scan/layers.py:108)
iter_layer  # unused function (src/openhss/scan/layers.py:643)
exc_type  # unused variable (src/openhss/scan/sources/base.py:76)
tb  # unused variable (src/openhss/scan/sources/base.py:76)
_.mtime  # unused attribute (src/openhss/scan/sources/dir.py:59)
_.devmajor  # unused attribute (src/openhss/scan/sources/dir.py:79)
_.devminor  # unused attribute (src/openhss/scan/sources/dir.py:79)
list_platforms  # unused function (src/openhss/scan/sources/registry.py:38)
os_type  # unused variable (src/openhss/services/agents.py:49)
host_pks  # unused variable (src/openhss/services/image_sources.py:49)
_.finished_at  # unused attribute (src/openhss/services/rematch.py, create_rematch_run)
_.images_checked  # unused attribute (src/openhss/services/rematch.py, create_rematch_run)
_.images_rematched  # unused attribute (src/openhss/services/rematch.py, create_rematch_run)
_.images_newly_affected  # unused attribute (src/openhss/services/rematch.py, create_rematch_run)
indexed_count  # unused function (src/openhss/services/vulnerabilities.py:75)
ALL_IMAGES  # unused variable (src/openhss/services/whitelists.py:29)
modified  # unused variable (src/openhss/vulndb/osv.py:70)
related  # unused variable (src/openhss/vulndb/osv.py:74)
# Wire-model and ORM fields read by serialisation or templates (merge of issues 16-23).
delivered_num  # events subscription list (src/openhss/api/routers/events.py)
pending_num  # events subscription list (src/openhss/api/routers/events.py)
statement_num  # VEX import response (src/openhss/api/routers/vex.py)
applied_num  # VEX import response (src/openhss/api/routers/vex.py)
ignored_records  # coverage wire model (src/openhss/api/schemas.py)
unchecked_num  # image vulnerability list, additive (src/openhss/api/schemas.py)
delivered_at  # event_outbox column (src/openhss/db/models.py)
affected_images  # coverage overview rows read by the console template (src/openhss/services/coverage.py)
min_width  # rich Column attribute set on the table (src/openhss/cli_output.py)
MEDIA_TYPE  # media types of the VEX writers (src/openhss/exports/openvex.py, cdx_vex.py)
arg2  # sqlite3 authorizer callback signature (src/openhss/scan/analyzers/os/rpmdb/sqlite.py)
Delete  # named in the TypeVar bound string (src/openhss/db/tenancy.py)
Update  # named in the TypeVar bound string (src/openhss/db/tenancy.py)
# Lazy registries name their classes as "module:Class" strings, and `__getattr__` serves the old
# module attributes (`ANALYZERS`, `CHECKS`, `SOURCES`): vulture cannot follow either.
__getattr__
BaselineFileAnalyzer
FilesAnalyzer
DotnetAnalyzer
GoBinaryAnalyzer
JavaAnalyzer
NodeAnalyzer
PhpAnalyzer
PythonAnalyzer
RubyAnalyzer
RustAnalyzer
ApkAnalyzer
DpkgAnalyzer
OSReleaseAnalyzer
RpmAnalyzer
SecretAnalyzer
BuildCommandCheck
ComplianceCheck
ImageConfigCheck
ContainerdSource
DirSource
DistributionSource
DockerArchiveSource
DockerDaemonSource
OciLayoutSource
OciArchiveSource
host_ip  # a filter read by name through services.images.IMAGE_FILTERS (schemas.py, images.py)
_runtime_param  # Typer's per-parameter coercion slot, read by typer.core (cli_coercion.py sets it)
# Wire fields the image routers read from their rows by name (`api.rows.wire`, `from_attributes`).
component_num  # unused variable (src/openhss/api/schemas.py:279)
docker_name  # unused variable (src/openhss/api/schemas.py:301)
docker_type  # unused variable (src/openhss/api/schemas.py:302)
history_number  # unused variable (src/openhss/api/schemas.py:456)
undeal_number  # unused variable (src/openhss/api/schemas.py:457)
handled_time  # unused variable (src/openhss/services/vex.py:639)
fail_reason  # unused variable (src/openhss/api/routers/registries.py:121)
images_num  # unused variable (src/openhss/api/routers/registries.py:122)
cvss  # whitelist CVE wire field (api/schemas.py), filled by `api.rows.wire` / from_attributes
_confirm_selected  # py-amqp Channel state set by worker.app._Confirms (src/openhss/worker/app.py)
basic_publish  # py-amqp Channel method replaced per instance by worker.app._Confirms
multiple  # py-amqp basic_ack/basic_nack event callback signature (src/openhss/worker/app.py)
