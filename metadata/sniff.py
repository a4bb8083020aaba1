"""Recognise photo and video payloads by content type and by their first bytes."""

from __future__ import annotations

SNIFF_BYTES = 64  # enough for every signature below

# ISO base media file format ("ftyp" box) major brands -> MIME type; others are video/mp4.
_FTYP_BRANDS: dict[bytes, str] = {
    **dict.fromkeys([b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"], "image/heic"),
    **dict.fromkeys([b"mif1", b"msf1", b"mif2"], "image/heif"),
    **dict.fromkeys([b"avif", b"avis"], "image/avif"),
    b"crx ": "image/x-canon-cr3",
    b"qt  ": "video/quicktime",
    **dict.fromkeys([b"M4A ", b"M4B ", b"M4P "], "audio/mp4"),
}
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def sniff_media_type(head: bytes) -> str | None:
    """The MIME type of a photo / video from its first bytes, or None if it is not one."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"  # also TIFF-based raw formats (DNG, NEF, CR2, ARW...)
    if head[:4] in (b"IIRO", b"IIU\x00"):
        return "image/x-raw"  # Olympus ORF, Panasonic RW2
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "image/x-fuji-raf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "image/jxl"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3g2"):
            return "video/3gpp2"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        return _FTYP_BRANDS.get(brand, "video/mp4")
    if head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"  # QuickTime without an ftyp box
    return None


def mime_of(content_type: str | None) -> str:
    """``image/jpeg`` from ``Image/JPEG; charset=binary``; '' when missing."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_media_mime(mime: str) -> bool:
    """Photo and video types: what lifeboat hands to ExifTool (audio is left out)."""
    return mime.startswith(("image/", "video/"))


def media_type(content_type: str | None, head: bytes) -> str | None:
    """The media type of a payload: its declared photo/video type, else its sniffed one.

    A payload declared ``image/jpeg`` that is not one is still media (ExifTool then records
    why it is unreadable); an unlabelled or mislabelled photo or video (``text/plain``,
    ``application/octet-stream``) is found by its first bytes. None for everything else.
    """
    declared = mime_of(content_type)
    if is_media_mime(declared):
        return declared
    sniffed = sniff_media_type(head)
    return sniffed if sniffed and is_media_mime(sniffed) else None
