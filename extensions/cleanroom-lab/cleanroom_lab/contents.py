"""A contents manager that will not hand out binary files or take uploads.

Through the contents API a browser can read any file as base64 (that is how JupyterLab shows
images) and upload any file as base64. In the clean room a small picture may still be shown,
but a large binary read is a download by another name, and material comes in through an
administrator. Notebooks and text files are unaffected: showing them is the display channel,
which stays open by design (bounded and logged outside the container).
"""

from __future__ import annotations

import os

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado.web import HTTPError
from traitlets import Bool, Int

READ_REFUSED = (
    "{path} is {size} bytes: files over {limit} bytes cannot be opened as binary in the clean "
    'room. To take it out, use "Request release…".'
)
UPLOAD_REFUSED = (
    "Uploads are switched off in the clean room: material comes in through an administrator "
    "for now."
)


class GuardedContentsManager(AsyncLargeFileManager):
    max_base64_read_bytes = Int(
        2 * 1024 * 1024,
        help="""Largest non-notebook file the contents API returns base64-encoded (images
        shown in JupyterLab). Larger binary reads are refused with 403.""",
    ).tag(config=True)

    allow_uploads = Bool(
        False,
        help="""Accept base64 file saves (browser uploads). Off: material comes into the clean
        room through an administrator.""",
    ).tag(config=True)

    def _refuse_large_binary(self, path: str, size: int) -> None:
        if size > self.max_base64_read_bytes:
            raise HTTPError(
                403, READ_REFUSED.format(path=path, size=size, limit=self.max_base64_read_bytes)
            )

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        if content and type not in ("notebook", "directory") and format == "base64":
            os_path = self._get_os_path(path.strip("/"))
            if os.path.isfile(os_path):
                self._refuse_large_binary(path, os.stat(os_path).st_size)
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model.get("type") == "file" and model.get("format") == "base64":
            self._refuse_large_binary(path, os.stat(self._get_os_path(path.strip("/"))).st_size)
        return model

    async def save(self, model, path=""):
        if (
            not self.allow_uploads
            and model.get("type") == "file"
            and model.get("format") == "base64"
            and "content" in model
        ):
            raise HTTPError(403, UPLOAD_REFUSED)
        return await super().save(model, path)
