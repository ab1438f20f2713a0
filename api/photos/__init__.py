"""Photos: import, upload, storage (metadata + GridFS files), small copies and serving.

What other domains call:

- `api.photos.ingest.ingest_photo` / `ingest_file`: validate, hash, dedupe and store a photo.
- `api.photos.signing.signed_photo_url`: the signed, expiring URL a survey task carries.
- `api.photos.store.find_photo` / `find_photos`: read photo records (plain dataclasses).
- `api.photos.files.read_file`: the bytes of a stored original or small copy (for small
  copies: an original is streamed, `files.OpenedFile.chunks`).

Outcomes of ingesting a photo are values, not exceptions (`Added | Duplicate | Rejected`);
unreadable images arrive from `inference` as `inference.ImageError`, and images too small
to be photos as the service's own subclass of it:

    inference.ImageError
    ├── UnsupportedImageFormat   not JPEG, PNG or WebP (judged by content, never by name)
    ├── ImageDecodeError         truncated or corrupt
    ├── ImageTooLargeError       more pixels (or JPEG scans or segments) than the cap,
    │                            refused before decoding
    └── api.photos.images.PhotoTooSmall   under 32 pixels on the shorter side
"""
