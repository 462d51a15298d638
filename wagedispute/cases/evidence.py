"""Evidence uploads: images and PDFs recognised by content, size-limited, metadata stripped."""

from __future__ import annotations

import hashlib
import io
import logging
import warnings

import filetype
from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from wagedispute.access.actors import Actor, get_case_for
from wagedispute.models import OPEN_STATUSES, CaseEvent, EventKind, Evidence
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import DomainError, InvalidInput, InvalidTransition

log = logging.getLogger(__name__)

ALLOWED_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "application/pdf": None,
}


class EvidenceTooLarge(DomainError):
    """The file is over the evidence size limit."""

    code = "evidence_too_large"
    message = "文件过大，请压缩后重新上传"
    status = 413


class EvidenceTypeUnsupported(DomainError):
    """Not a JPEG, PNG, WebP image or PDF, judged by its content."""

    code = "evidence_type_unsupported"
    message = "仅支持上传 JPG、PNG、WebP 图片或 PDF 文件"
    status = 415


def sniff_content_type(data: bytes) -> str | None:
    """The allowed MIME type the bytes really are, whatever the file was called."""
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        return None
    return kind.mime


class ImageTooLarge(DomainError):
    """More pixels than a phone photo: refused from the header, before anything is decoded."""

    code = "image_too_large"
    message = "图片尺寸过大（像素过多），请缩小后重新上传"
    status = 413


def strip_image_metadata(data: bytes, pil_format: str, max_pixels: int | None = None) -> bytes:
    """Re-encode the pixels only, so EXIF (GPS, device, time) and text chunks are dropped.

    ``Image.open`` reads only the header: the pixel count is checked there, so an image that
    would take hundreds of megabytes to decode is refused before a single row is decoded.
    """
    cap = max_pixels or int(current_app.config["IMAGE_MAX_PIXELS"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > cap:
                    raise ImageTooLarge(details={"max_pixels": cap})
                image.load()
                # Keep the photo upright once its orientation tag is gone.
                upright = ImageOps.exif_transpose(image)
                pixels = upright.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise EvidenceTypeUnsupported("图片文件已损坏，无法读取") from exc
    except Image.DecompressionBombWarning as exc:
        raise ImageTooLarge(details={"max_pixels": cap}) from exc
    out = io.BytesIO()
    if pil_format == "JPEG":
        if pixels.mode not in {"RGB", "L"}:
            pixels = pixels.convert("RGB")
        pixels.save(out, "JPEG", quality=88, optimize=True)
    elif pil_format == "WEBP":
        pixels.save(out, "WEBP", quality=85)
    else:
        pixels.save(out, "PNG", optimize=True)
    return out.getvalue()


def store_evidence(case_id: int, actor: Actor, data: bytes) -> Evidence:
    """Check, clean and attach one file to a case the actor may see; logs a CaseEvent; commits."""
    limit = int(current_app.config["EVIDENCE_MAX_BYTES"])
    if not data:
        raise InvalidInput("请选择要上传的文件", code="evidence_empty")
    if len(data) > limit:
        raise EvidenceTooLarge(details={"max_bytes": limit})
    content_type = sniff_content_type(data)
    if content_type is None:
        raise EvidenceTypeUnsupported()
    pil_format = ALLOWED_TYPES[content_type]
    clean = strip_image_metadata(data, pil_format) if pil_format else data
    with unit_of_work():
        case = get_case_for(actor, case_id, for_update=True)
        if case.status not in OPEN_STATUSES:
            raise InvalidTransition("案件已结束，不能再上传材料", code="case_closed")
        evidence = Evidence(
            case_id=case.id,
            content_type=content_type,
            size_bytes=len(clean),
            sha256=hashlib.sha256(clean).hexdigest(),
            data=clean,
            uploaded_by_role=actor.role,
            uploaded_by_id=actor.id,
            created_at=utcnow(),
        )
        db.session.add(evidence)
        db.session.flush()
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.EVIDENCE,
                actor_role=actor.role,
                actor_id=actor.id,
                data={
                    "message": "已补充证据材料",
                    "evidence_id": evidence.id,
                    "content_type": content_type,
                },
                worker_visible=True,
            )
        )
    log.info("evidence %s stored on case %s", evidence.id, case_id)
    return evidence
