"""Word segmentation before sending, and every span mapped back to the caller's own text.

PhoBERT models are usually trained on word-segmented text (``chương_trình rất hay``). A model
directory may declare the segmenter it was trained with (model.json ``"segmenter": {"package":
"pyvi", "version": "0.1.1"}``); the server reports it in ``GetModelInfo.segmenter`` and the client
segments each text with that same package before sending it. Segmenters join the syllables of a
word with ``_`` and add or remove spaces (around punctuation, runs of whitespace, newlines), so
what the server answers is in offsets of the segmented text; ``Segmented.restore`` maps every
span back to the original text (code points and UTF-8 bytes) and replaces the span strings with
``original[begin:end]``.

The alignment is a walk over both texts that pairs every character that is neither whitespace nor
``_`` ("core" characters) one to one, in order. What the two segmenters were seen to change (on
generated comments, with noise, in NFD): they insert, delete or replace whitespace and ``_``; both
normalize to NFC (so the original is compared as NFC, each composed character standing for its
whole decomposed cluster); underthesea moves tone marks within a syllable (``hoà`` -> ``hòa``,
``qúa`` -> ``quá``: a pair with the same base letter is accepted). When the core characters
differ in anything else, the text is sent raw instead (``Segmented.segmented`` is None) and
counted in ``SegmenterStats.raw_fallbacks``. A span edge is never ``_`` or whitespace (the
decoder trims both off a span: docs/model-contract.md), so it always sits on a core character.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from eaos_client._stubs import eaos_pb2

# The packages the client knows how to run, and how: text in, segmented text out.
PACKAGES = ("pyvi", "underthesea")


class SegmenterUnavailable(RuntimeError):
    """The model's segmenter cannot run here (not installed, or unknown)."""


def pip_hint(package: str, version: str) -> str:
    return f"pip install {package}=={version}" if version else f"pip install {package}"


def _load(package: str) -> Callable[[str], str]:
    if package == "pyvi":
        from pyvi import ViTokenizer  # type: ignore[import-not-found]

        return ViTokenizer.tokenize
    if package == "underthesea":
        from underthesea import word_tokenize  # type: ignore[import-not-found]

        return lambda text: word_tokenize(text, format="text")
    raise AssertionError(package)


def _is_separator(ch: str) -> bool:
    """What a segmenter may insert, delete or put in place of a space: whitespace and '_'."""
    return ch == "_" or ch.isspace()


def _base(ch: str) -> str:
    """A letter without its diacritics: underthesea moves tone marks within a syllable
    (``qúa`` -> ``quá``, ``hoà`` -> ``hòa``), which changes letters but not their bases."""
    return unicodedata.normalize("NFD", ch)[0]


def _joins(cluster: str, ch: str) -> bool:
    """Whether NFC may merge ``ch`` into the cluster before it: a combining mark, or a starter
    that composes with it (Hangul jamo L + V -> a syllable). Nothing below U+0300 composes."""
    if unicodedata.combining(ch):
        return True
    if ord(ch) < 0x300:
        return False
    return unicodedata.normalize("NFC", cluster + ch) != unicodedata.normalize("NFC", cluster) + ch


def composed(original: str) -> list[tuple[str, int, int]]:
    """The original's characters as NFC gives them, each with the original range it came from.

    Both segmenters normalize their input to NFC (a decomposed ``a`` + U+0301 comes back as
    ``á``). Each starter and what NFC may merge into it (combining marks, Hangul jamo) are
    composed on their own; a character of the result maps to the whole range of that cluster,
    unless the cluster did not change.
    Separators (whitespace, '_') are left out.
    """
    out: list[tuple[str, int, int]] = []
    n, start = len(original), 0
    while start < n:
        end = start + 1
        while end < n and _joins(original[start:end], original[end]):
            end += 1
        cluster = original[start:end]
        nfc = unicodedata.normalize("NFC", cluster) if end - start > 1 else cluster
        if nfc == cluster:
            out.extend((ch, start + k, start + k + 1) for k, ch in enumerate(cluster))
        else:
            out.extend((ch, start, end) for ch in nfc)
        start = end
    return [entry for entry in out if not _is_separator(entry[0])]


def align(original: str, segmented: str) -> tuple[list[int], list[int]] | None:
    """For each code point of ``segmented``, the range ``[begins[i], ends[i])`` of
    ``original`` it stands for (-1, -1 for a separator: whitespace or '_'); None when the two
    texts differ in anything but separators, NFC composition and tone-mark placement."""
    begins, ends = [-1] * len(segmented), [-1] * len(segmented)
    core = composed(original)
    j = 0
    for i, ch in enumerate(segmented):
        if _is_separator(ch):
            continue
        if j >= len(core) or (core[j][0] != ch and _base(core[j][0]) != _base(ch)):
            return None
        begins[i], ends[i] = core[j][1], core[j][2]
        j += 1
    return (begins, ends) if j == len(core) else None


@dataclass
class Segmented:
    """One text as sent: ``segmented`` (None: sent raw) and how to map its spans back."""

    original: str
    segmented: str | None
    begins: list[int] | None = None
    ends: list[int] | None = None
    _byte_offsets: list[int] | None = field(default=None, repr=False)

    @property
    def sent(self) -> str:
        return self.original if self.segmented is None else self.segmented

    def _bytes_before(self, index: int) -> int:
        if self._byte_offsets is None:
            offsets = [0]
            for ch in self.original:
                offsets.append(offsets[-1] + len(ch.encode("utf-8", errors="surrogatepass")))
            self._byte_offsets = offsets
        return self._byte_offsets[index]

    def original_range(self, begin: int, end: int) -> tuple[int, int]:
        """[begin, end) of the segmented text (code points) -> [b, e) of the original."""
        assert self.begins is not None and self.ends is not None
        begins, ends, n = self.begins, self.ends, len(self.begins)
        begin, end = max(0, min(begin, n)), max(0, min(end, n))
        first = next((i for i in range(begin, end) if begins[i] >= 0), None)
        if first is None:  # only separators (the decoder trims them, so not seen in practice)
            after = next((begins[i] for i in range(begin, n) if begins[i] >= 0), None)
            at = len(self.original) if after is None else after
            return at, at
        last = next(i for i in range(end - 1, begin - 1, -1) if begins[i] >= 0)
        return begins[first], ends[last]

    def _restore_span(self, span: eaos_pb2.Span) -> str:
        b, e = self.original_range(span.begin, span.end)
        span.begin, span.end = b, e
        span.byte_begin, span.byte_end = self._bytes_before(b), self._bytes_before(e)
        return self.original[b:e]

    def restore(self, result: eaos_pb2.ItemResult) -> eaos_pb2.ItemResult:
        """``result`` (in place) with every span and span string in the original text."""
        if self.segmented is None:
            return result
        for tuple_ in result.tuples:
            if tuple_.HasField("entity_span"):
                tuple_.entity = self._restore_span(tuple_.entity_span)
            if tuple_.HasField("opinion_span"):
                tuple_.opinion = self._restore_span(tuple_.opinion_span)
        return result


@dataclass
class SegmenterStats:
    texts: int = 0  # texts segmented and sent segmented
    raw_fallbacks: int = 0  # texts sent raw: the segmenter changed more than separators


class Segmenter:
    """A loaded segmenter: ``prepare(text)`` gives what to send and how to map spans back.

    Thread-safe (calls into the package are serialized: pyvi's and underthesea's CRF taggers are
    shared objects).
    """

    def __init__(self, package: str, version: str = "") -> None:
        if package not in PACKAGES:
            raise SegmenterUnavailable(
                f"the model declares the word segmenter {package!r}, which eaos_client does not "
                f"know (known: {', '.join(PACKAGES)}); segment the texts yourself and pass "
                "segmenter='none'"
            )
        self.package, self.version = package, version
        try:
            self._fn = _load(package)
        except ImportError as error:
            raise SegmenterUnavailable(
                f"the model was trained on text segmented by {package} {version or ''}".rstrip()
                + f", which is not installed here ({error}): {pip_hint(package, version)}"
            ) from None
        self.installed_version = _installed_version(package)
        if version and self.installed_version and self.installed_version != version:
            warnings.warn(
                f"the model was trained with {package} {version} but {package} "
                f"{self.installed_version} is installed; segmentation may differ from training "
                f"({pip_hint(package, version)})",
                RuntimeWarning,
                stacklevel=2,
            )
        self._lock = threading.Lock()
        self.stats = SegmenterStats()

    def segment(self, text: str) -> str:
        with self._lock:
            return self._fn(text)

    def prepare(self, text: str) -> Segmented:
        """The text to send (segmented, or raw when the alignment fails) and its mapping."""
        if not text or not _encodable(text):
            return Segmented(text, None)  # nothing to segment / the server refuses the item
        segmented = self.segment(text)
        alignment = align(text, segmented) if isinstance(segmented, str) else None
        with self._lock:
            if alignment is None:
                self.stats.raw_fallbacks += 1
            else:
                self.stats.texts += 1
        if alignment is None:
            return Segmented(text, None)
        return Segmented(text, segmented, *alignment)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates
        return False


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


_loaded: dict[tuple[str, str], Segmenter] = {}
_loaded_lock = threading.Lock()


def _reset_locks_after_fork() -> None:
    # A lock held by another thread at fork() stays held in the child: PySpark forks workers.
    global _loaded_lock
    _loaded_lock = threading.Lock()
    for segmenter in _loaded.values():
        segmenter._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


def get_segmenter(package: str, version: str = "") -> Segmenter:
    """One Segmenter per process and (package, version): loading a CRF model takes a second."""
    with _loaded_lock:
        segmenter = _loaded.get((package, version))
        if segmenter is None:
            segmenter = _loaded[(package, version)] = Segmenter(package, version)
        return segmenter


def resolve(setting: str, info: Any | None) -> Segmenter | None:
    """The segmenter for a client's ``segmenter`` option and the server's ModelInfo.

    "auto": the one ModelInfo declares (None when it declares none); "none": never;
    "pyvi" / "underthesea": that package, whatever the model declares (its declared version
    when it declares the same package).
    """
    if setting == "none":
        return None
    declared = info.segmenter if info is not None and info.HasField("segmenter") else None
    if setting == "auto":
        if declared is None or not declared.package:
            return None
        return get_segmenter(declared.package, declared.version)
    version = declared.version if declared is not None and declared.package == setting else ""
    return get_segmenter(setting, version)


__all__ = [
    "PACKAGES",
    "Segmented",
    "Segmenter",
    "SegmenterStats",
    "SegmenterUnavailable",
    "align",
    "get_segmenter",
    "resolve",
]
