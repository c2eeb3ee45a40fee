"""Asking for a batch dossier, and checking a dossier file against the records."""

import re

from flask_wtf.file import FileField
from wtforms import StringField
from wtforms.validators import ValidationError

from . import BaseForm

SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class BatchRequestForm(BaseForm):
    """A button: make the batch dossier of the program's current data."""


class DossierVerifyForm(BaseForm):
    """A PDF to check, or, for a file too large to upload, its SHA-256."""

    file = FileField("PDF 文件", description="本系统生成的申报材料、批量申报材料或月度调度报告")
    sha256 = StringField(
        "或填写文件的 SHA-256",
        filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
        description="文件过大无法上传时使用,如 Windows 命令 certutil -hashfile 文件名 SHA256",
    )

    def content(self) -> bytes | None:
        """The uploaded file's bytes, read once."""
        if not hasattr(self, "_content"):
            upload = self.file.data
            self._content = upload.read() if upload and getattr(upload, "filename", "") else None
        return self._content

    def validate_file(self, field):
        content = self.content()
        if content is None:
            if not self.sha256.data:
                raise ValidationError("请选择要核验的 PDF 文件,或填写文件的 SHA-256")
            return
        if not content.startswith(b"%PDF-"):
            raise ValidationError("只能核验 PDF 文件")

    def validate_sha256(self, field):
        if field.data and not SHA256.fullmatch(field.data):
            raise ValidationError("SHA-256 应为 64 位十六进制字符")
