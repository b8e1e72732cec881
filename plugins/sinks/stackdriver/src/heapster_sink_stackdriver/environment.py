"""Where Heapster found the project, zone and cluster when the URI does not say: environment and GCE metadata."""

from __future__ import annotations

import json
import os

import aiohttp

PROJECT_ENV = "GOOGLE_PROJECT_ID"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
METADATA_HOST_ENV = "GCE_METADATA_HOST"


def project_from_environment() -> str:
    """``$GOOGLE_PROJECT_ID``, else ``project_id`` of the ``$GOOGLE_APPLICATION_CREDENTIALS`` file, else ""."""
    if os.environ.get(PROJECT_ENV):
        return os.environ[PROJECT_ENV]
    path = os.environ.get(CREDENTIALS_ENV)
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return str(json.load(handle).get("project_id") or "")
        except (OSError, ValueError):
            return ""
    return ""


async def metadata(path: str, timeout: float = 3.0) -> str:
    """One value of the GCE metadata server (``project/project-id``, ``instance/zone``, ...); "" if unavailable."""
    host = os.environ.get(METADATA_HOST_ENV, "metadata.google.internal")
    url = f"http://{host}/computeMetadata/v1/{path}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(url, headers={"Metadata-Flavor": "Google"}) as resp:
            return (await resp.text()).strip() if resp.status == 200 else ""
    except (aiohttp.ClientError, OSError, TimeoutError):
        return ""


async def zone() -> str:
    """The instance's zone name (``projects/N/zones/us-central1-a`` -> ``us-central1-a``)."""
    return (await metadata("instance/zone")).rsplit("/", 1)[-1]
