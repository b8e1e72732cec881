"""Google Cloud project, zone and cluster discovery shared by the Google sinks, the way Heapster did it:
the environment (`GOOGLE_PROJECT_ID`, the `GOOGLE_APPLICATION_CREDENTIALS` file) and the GCE metadata server."""

from __future__ import annotations

import asyncio
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


async def credentials_project() -> str:
    """The project of Google's application default credentials ("" without credentials or google-auth)."""
    try:
        import google.auth
    except ImportError:
        return ""
    try:
        _, project = await asyncio.to_thread(google.auth.default)
    except Exception:  # no credentials at all (DefaultCredentialsError) or a broken credentials file
        return ""
    return str(project or "")


async def find_project(explicit: str = "", *, lookups: bool = True) -> str:
    """``explicit``, else the environment, else (when ``lookups``) the credentials and the metadata server."""
    project = explicit or project_from_environment()
    if not project and lookups:
        project = await credentials_project() or await metadata("project/project-id")
    return project
