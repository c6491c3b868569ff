"""``motionpredict datasets``: list the dataset cards (``clinical_data/*.toml``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from motionpredict.cards import available_cards


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``datasets``."""
    p = subparsers.add_parser(
        "datasets",
        help="list the public datasets motionpredict has cards for",
        description="List the dataset cards usable with --dataset NAME: frame period, spacing, "
        "licence, citation and where to download.",
    )
    p.add_argument("name", nargs="?", help="show one card in full")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print the cards."""
    cards = available_cards()
    if args.name:
        from motionpredict.cards import find_card

        cards = {args.name: find_card(args.name)}
    if args.json:
        print(json.dumps({n: c.as_dict() for n, c in cards.items()}, indent=2))
        return 0
    for name, c in cards.items():
        period = f"{c.frame_period_s:g} s" if c.frame_period_s else "per sequence / from files"
        if c.kind == "external-markers-3d":
            sp = "n/a (3D positions in mm)"
        elif c.spacing_mm:
            sp = " x ".join(f"{s:g}" for s in c.spacing_mm) + " mm"
        elif c.spacing_convention_mm:
            sp = f"not stored; convention {c.spacing_convention_mm:g} mm per px"
        else:
            sp = "from files / --spacing"
        print(f"{name}  [{c.kind}]  {c.title}")
        print(f"    frame period: {period}; spacing: {sp}")
        print(f"    licence: {c.licence}")
        print(f"    download: {c.download}")
        if args.name:
            print(f"    layout: {c.layout}")
            print(f"    cite: {c.citation}")
            for k, v in c.notes.items():
                print(f"    {k.replace('_', ' ')}: {v}")
    return 0
