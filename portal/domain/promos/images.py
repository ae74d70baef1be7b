"""A promotion's picture: JPEG, PNG or WebP only, no larger than the configured size,
and accepted only once Pillow has decoded the whole of it (a renamed file, a truncated
one or a decompression bomb is refused). It is served with the type found by decoding,
never with the one the browser claimed."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from portal.domain.errors import InvalidInput
from portal.domain.promos import promotions
from portal.domain.promos.promotions import NotEditable
from portal.models import Promotion, PromotionImage, PromotionState

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Larger than any banner needs; keeps decoding a crafted file cheap.
MAX_PIXELS = 4096 * 4096
CHANGED = "promotion.image_changed"
REMOVED = "promotion.image_removed"


class InvalidImage(InvalidInput):
    """The file is no picture we keep: `code` is "too_big", "type" or "broken"."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def inspect(data: bytes, max_bytes: int) -> tuple[str, int, int]:
    """(content type, width, height) of a picture we accept; InvalidImage otherwise."""
    if len(data) > max_bytes:
        raise InvalidImage("too_big")
    if not data:
        raise InvalidImage("broken")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(CONTENT_TYPES)) as image:
                kind = image.format
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InvalidImage("too_big")
                image.load()  # decode every pixel: a truncated file fails here
    except UnidentifiedImageError:
        raise InvalidImage("type") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage("too_big") from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidImage("broken") from None
    return CONTENT_TYPES[kind], width, height


def set_image(
    db: Session,
    promotion: Promotion,
    data: bytes,
    *,
    max_bytes: int,
    staff_id: int,
    address: str | None = None,
) -> PromotionImage:
    """Keep the draft's picture (replacing one it had)."""
    if promotion.state is not PromotionState.DRAFT:
        raise NotEditable(promotion.id)
    content_type, width, height = inspect(data, max_bytes)
    image = db.get(PromotionImage, promotion.id)
    before = _described(image)
    if image is None:
        image = PromotionImage(promotion_id=promotion.id)
        db.add(image)
    image.content_type, image.width, image.height, image.data = content_type, width, height, data
    promotion.has_image = True
    promotion.image_version += 1
    db.flush()
    promotions.record(
        db,
        CHANGED,
        promotion,
        staff_id=staff_id,
        address=address,
        content_type=content_type,
        size=len(data),
        width=width,
        height=height,
        before={"image": before},
        after={"image": _described(image)},
    )
    return image


def remove_image(
    db: Session, promotion: Promotion, *, staff_id: int, address: str | None = None
) -> None:
    if promotion.state is not PromotionState.DRAFT:
        raise NotEditable(promotion.id)
    image = db.get(PromotionImage, promotion.id)
    if image is None:
        return
    before = _described(image)
    db.delete(image)
    promotion.has_image = False
    promotion.image_version += 1
    db.flush()
    promotions.record(
        db,
        REMOVED,
        promotion,
        staff_id=staff_id,
        address=address,
        before={"image": before},
        after={"image": None},
    )


def _described(image: PromotionImage | None) -> dict | None:
    """A picture as the audit log tells it (never its bytes)."""
    if image is None:
        return None
    return {
        "content_type": image.content_type,
        "width": image.width,
        "height": image.height,
        "size": len(image.data),
    }


def image_of(db: Session, promotion: Promotion) -> PromotionImage | None:
    return db.get(PromotionImage, promotion.id)
