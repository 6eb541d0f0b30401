# ruff: noqa: E501 - one operation a line reads best
"""English descriptions of the HSS operations, applied to the OpenAPI document in one place.

Routers name each operation by its HSS API name (`summary="ListVulAffectImages"`); the descriptions
live here, keyed by that name, so they are written once (from the seed pages of Huawei's API reference,
translated) instead of in every router, and the names users search the HSS docs by stay the summaries.
"""

from __future__ import annotations

from typing import Any

_EP = (
    " `enterprise_project_id` narrows the request to one enterprise project (`0` is the default one; "
    "`all_granted_eps` means every enterprise project the caller may see)."
)
_EXPORT = (
    " The export runs in the background: poll `GET /v5/{project_id}/export-task/{task_id}` with the "
    "returned `task_id`, then download the file with `GET /v5/{project_id}/download/{file_id}`."
)

#: HSS operation name → description (Markdown). The five seed operations come first.
DESCRIPTIONS: dict[str, str] = {
    "BatchExportLocalVulTask": (
        "Export the vulnerabilities of local images (images found on hosts by agents) to a file, either "
        "for all of them or for a batch selected by the body's filters; `export_size` caps the number of "
        "rows." + _EXPORT + _EP
    ),
    "ExportImageSecurityReportTask": (
        "Create a task that exports one kind of image security report item for all images or a batch of "
        "them: malicious files (`malwares`), software (`apps`), files, sensitive information "
        "(`sensitive-info`), software compliance (`non-compliant-app`) or image build-command risks "
        "(`build-command-risks`), chosen by `export_type`." + _EXPORT + _EP
    ),
    "BatchScanLocalImage": (
        "Scan local images now: the images listed in `image_info_list` (by host and image id), or every "
        "local image matching the query when `operate_all` is true. The scans are queued; their progress "
        "shows in the local image list and the scan task list." + _EP
    ),
    "ListVulAffectImages": (
        "List the images affected by one vulnerability (`vul_id`), with the affected software and its "
        "version, for local, registry or CI/CD images (`image_type`). Filter by handling status, image "
        "name and more; page with `offset`/`limit`." + _EP
    ),
    "CreateManualImageScanTask": (
        "Create an image scan task. `scan_scope` is a bitmask of what to scan: `0x000f0000` "
        "vulnerabilities, `0x0000f000` baseline checks, `0x00000f00` malicious files, `0x000000f0` "
        "sensitive information, `0x0000000f` software compliance, `0x7fffffff` everything. `rate_limit` "
        "caps the scan rate in images per hour (0 to 1000, 0 for no limit). Scan every image with "
        "`is_all`, the images matching `query_info`, or those listed in `image_info`; `global_image_type` "
        "chooses local or registry images (default registry)." + _EP
    ),
    "ListVulRepoImage": "List the registry images affected by one vulnerability, grouped by image with their tags.",
    "ListGeneralImageVuls": "List vulnerabilities across images, one row per vulnerability with the number of affected images.",
    "ListGlobalVulnerabilities": "List every vulnerability found in the project's images, with severity and handling status.",
    "ListImageVulnerabilities": "List the vulnerabilities of one image: software, version, severity (repair urgency), layer and fix.",
    "HandleImageVulnerability": "Handle vulnerabilities of images: ignore, stop ignoring, mark as manually repaired, or add to the whitelist.",
    "ListGeneralImageVulOperations": "List the history of vulnerability handling operations.",
    "AddRegistry": "Register an image registry (address, credentials, sync settings) whose images are then synced and scanned.",
    "ListRegistry": "List the registered image registries and their connection status.",
    "UpdateRegistry": "Change a registered image registry.",
    "DeleteRegistry": "Delete a registered image registry and stop syncing it.",
    "BatchDeleteRegistry": "Delete several registered image registries.",
    "ListRegistryStatistics": "Count registries, repositories and images per registry.",
    "ListRegistryImages": "List the images synced from registries, with their last scan status and findings counts.",
    "CreateImageSynchronizeTask": "Sync the image lists of all or some registries now.",
    "ListCicdImages": "List CI/CD images: results that pipelines uploaded with `openhss scan --upload`.",
    "ListImageLocal": "List local images: images that agents report on hosts, with scan status and findings counts.",
    "ListLocalImageHosts": "List the hosts a local image is present on.",
    "ListLocalImageContainers": "List the containers running a local image.",
    "StopImageScanTask": "Stop a running image scan task; images not yet scanned are left unscanned.",
    "ListImageScanTask": "List image scan tasks with their progress and outcome.",
    "ListImageBuildCommandRisks": "List build-command risks found in images' build history (for example secrets in ENV or curl | sh).",
    "ChangeSensitiveInfo": "Handle sensitive-information findings: ignore or stop ignoring them.",
    "AddImageWhiteLists": "Add a whitelist rule: vulnerabilities it matches are not reported for the images it covers.",
    "ListImageWhiteLists": "List vulnerability whitelist rules.",
    "DeleteImageWhiteLists": "Delete vulnerability whitelist rules.",
    "ShowImageWhiteListDetail": "Show one vulnerability whitelist rule.",
    "ChangeImageWhiteList": "Change a vulnerability whitelist rule.",
    "ListImageApps": "List the software (packages and applications) found in one image.",
    "ListImageFiles": "List notable files found in one image.",
    "ListImageMalware": "List the malicious files found in one image.",
    "ListImageSensitive": "List the sensitive information (secrets, keys, passwords) found in one image, masked.",
    "ListImageNonCompliantApp": "List the software in one image that breaks the software compliance policy.",
    "ListQueryExportTask": "Show the status of an export task and, once finished, the file to download.",
    "ShowLatestExportTaskByType": "Show the latest export task of one export type.",
    "ListDownloadExportedFile": "Download the file an export task produced.",
}


def apply_descriptions(schema: dict[str, Any]) -> dict[str, Any]:
    """Fill each operation's `description` from `DESCRIPTIONS` by its summary (the HSS name); an
    operation that already describes itself in its docstring keeps that text, after ours."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            text = DESCRIPTIONS.get(str(operation.get("summary", "")))
            if text is None:
                continue
            own = operation.get("description")
            if own and own.startswith(text):
                continue  # applied already (the schema is cached and may be wrapped more than once)
            operation["description"] = f"{text}\n\n{own}" if own else text
    return schema
