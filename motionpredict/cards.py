"""Dataset cards: what the files of a public dataset do not say themselves.

A card is a TOML file in ``clinical_data/`` (shipped with the package) describing one public
dataset: frame period, pixel spacing or its absence, file layout, region-of-interest and split
conventions, licence, citation and where to download it. ``motionpredict datasets`` lists the cards,
``--dataset NAME`` applies one when loading.

Schema (keys of the top-level table; unknown keys are refused so that typos do not pass silently):

==========================  ========  ========================================================
key                         required  meaning
==========================  ========  ========================================================
``name``                    yes       identifier used by ``--dataset`` (file stem)
``title``                   yes       one-line human name
``kind``                    yes       ``cine-mri-2d``, ``ct4d-phases`` or ``external-markers-3d``
``layout``                  yes       how the files are organised
``licence``                 yes       licence or usage policy
``citation``                yes       what to cite
``download``                yes       where to get the data (URL or handle)
``frame_period_s``          no        time between frames in s, when fixed for the dataset
``frame_period_note``       no        where the period comes from / why it is absent
``spacing_mm``              no        pixel spacing in mm, array-axis order, when fixed
``spacing_convention_mm``   no        spacing the published results *assume* when the files
                                      store none (reported as a convention, never as measured)
``spacing_note``            no        where the spacing comes from / why it is absent
``sidecar_dataset``         no        values of ``sequence.json``'s ``dataset`` field that
                                      select this card automatically
``roi_convention``          no        how regions of interest are given
``split_convention``        no        published train / validation / test splits
``units_note``              no        units of stored values (markers: mm, ms)
==========================  ========  ========================================================
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionpredict.errors import ConfigurationError

__all__ = ["KINDS", "DatasetCard", "available_cards", "cards_dir", "find_card", "load_card"]

#: Kinds of data a card may describe.
KINDS = ("cine-mri-2d", "ct4d-phases", "external-markers-3d")

_REQUIRED_STR = ("name", "title", "kind", "layout", "licence", "citation", "download")
_OPTIONAL_STR = (
    "frame_period_note",
    "spacing_note",
    "roi_convention",
    "split_convention",
    "units_note",
)
_ALLOWED = {
    *_REQUIRED_STR,
    *_OPTIONAL_STR,
    "frame_period_s",
    "spacing_mm",
    "spacing_convention_mm",
    "sidecar_dataset",
}

#: Environment variable naming an extra folder of cards (searched first).
CARDS_ENV = "MOTIONPREDICT_CARDS_DIR"


@dataclass(frozen=True)
class DatasetCard:
    """A validated dataset card.

    Attributes
    ----------
    name, title, kind, layout, licence, citation, download
        See the module schema.
    frame_period_s
        Fixed frame period in s, or ``None`` when the dataset has none (per-sequence files).
    spacing_mm
        Fixed pixel spacing in mm (array-axis order), or ``None``.
    spacing_convention_mm
        Spacing in mm per axis assumed by the published results when the files store none.
    sidecar_dataset
        ``sequence.json`` ``dataset`` values that select this card.
    notes
        The optional text fields (``frame_period_note``, ``spacing_note``...).
    path
        The TOML file the card was read from.
    """

    name: str
    title: str
    kind: str
    layout: str
    licence: str
    citation: str
    download: str
    frame_period_s: float | None = None
    spacing_mm: tuple[float, ...] | None = None
    spacing_convention_mm: float | None = None
    sidecar_dataset: tuple[str, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the card as plain JSON-serialisable data."""
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "layout": self.layout,
            "licence": self.licence,
            "citation": self.citation,
            "download": self.download,
            "frame_period_s": self.frame_period_s,
            "spacing_mm": list(self.spacing_mm) if self.spacing_mm else None,
            "spacing_convention_mm": self.spacing_convention_mm,
            "sidecar_dataset": list(self.sidecar_dataset),
            **self.notes,
        }


def _positive(value: Any, key: str, where: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{where}: '{key}' must be a positive number, got {value!r}")
    if value != value or value == float("inf"):
        raise ConfigurationError(f"{where}: '{key}' must be finite, got {value!r}")
    return float(value)


def validate_card(data: dict[str, Any], where: Path) -> DatasetCard:
    """Check a parsed TOML table against the schema and build a :class:`DatasetCard`.

    Parameters
    ----------
    data
        The parsed TOML document.
    where
        Its file (for error messages).

    Raises
    ------
    ConfigurationError
        Unknown or missing keys, wrong types, non-positive numbers.
    """
    unknown = sorted(set(data) - _ALLOWED)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown card keys {unknown} (allowed: {sorted(_ALLOWED)})"
        )
    missing = [k for k in _REQUIRED_STR if k not in data]
    if missing:
        raise ConfigurationError(f"{where}: missing card keys {missing}")
    for key in (*_REQUIRED_STR, *_OPTIONAL_STR):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise ConfigurationError(f"{where}: '{key}' must be a non-empty string")
    if data["kind"] not in KINDS:
        raise ConfigurationError(f"{where}: kind {data['kind']!r} is not one of {KINDS}")
    if data["name"] != where.stem:
        raise ConfigurationError(f"{where}: name {data['name']!r} differs from the file name")
    period = data.get("frame_period_s")
    period = None if period is None else _positive(period, "frame_period_s", where)
    spacing = data.get("spacing_mm")
    if spacing is not None:
        if not isinstance(spacing, list) or len(spacing) not in (2, 3):
            raise ConfigurationError(f"{where}: 'spacing_mm' must be a list of 2 or 3 numbers")
        spacing = tuple(_positive(s, "spacing_mm", where) for s in spacing)
    conv = data.get("spacing_convention_mm")
    conv = None if conv is None else _positive(conv, "spacing_convention_mm", where)
    aliases = data.get("sidecar_dataset", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ConfigurationError(f"{where}: 'sidecar_dataset' must be a list of strings")
    return DatasetCard(
        name=data["name"],
        title=data["title"],
        kind=data["kind"],
        layout=data["layout"],
        licence=data["licence"],
        citation=data["citation"],
        download=data["download"],
        frame_period_s=period,
        spacing_mm=spacing,
        spacing_convention_mm=conv,
        sidecar_dataset=tuple(aliases),
        notes={k: data[k] for k in _OPTIONAL_STR if k in data},
        path=where,
    )


def cards_dir() -> list[Path]:
    """Folders searched for cards, in order.

    1. ``$MOTIONPREDICT_CARDS_DIR`` when set;
    2. ``clinical_data/`` of the source tree (editable install, checkout);
    3. ``<prefix>/share/motionpredict/clinical_data`` (wheel install, shipped as data files).
    """
    found: list[Path] = []
    env = os.environ.get(CARDS_ENV)
    if env:
        found.append(Path(env))
    source_tree = Path(__file__).resolve().parents[1] / "clinical_data"  # beside motionpredict/
    if source_tree.is_dir():
        found.append(source_tree)
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        candidate = Path(prefix) / "share" / "motionpredict" / "clinical_data"
        if candidate.is_dir():
            found.append(candidate)
    return found


def load_card(path: str | Path) -> DatasetCard:
    """Read and validate one card file.

    Raises
    ------
    ConfigurationError
        Unreadable TOML or a schema violation (the message names the file).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the dataset card ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML ({exc})") from exc
    return validate_card(data, path)


def available_cards() -> dict[str, DatasetCard]:
    """Return every card found, by name (earlier folders in :func:`cards_dir` win)."""
    cards: dict[str, DatasetCard] = {}
    for folder in cards_dir():
        for file in sorted(folder.glob("*.toml")):
            if file.stem not in cards:
                cards[file.stem] = load_card(file)
    return cards


def find_card(name: str) -> DatasetCard:
    """Return the card called ``name``.

    Raises
    ------
    ConfigurationError
        No such card; the message lists the available ones.
    """
    cards = available_cards()
    if name not in cards:
        raise ConfigurationError(
            f"unknown dataset {name!r}; available: {', '.join(sorted(cards)) or 'none found'}"
            " (see 'motionpredict datasets')"
        )
    return cards[name]


def card_for_sidecar_dataset(value: str) -> DatasetCard | None:
    """Return the card whose ``sidecar_dataset`` lists ``value`` (case-insensitive), if any."""
    for card in available_cards().values():
        if value.lower() in (a.lower() for a in card.sidecar_dataset):
            return card
    return None
