"""PhotoWCT / WCT: VGG-19 encoders and their inverting decoders for closed-form style transfer
(`gantrans stylize`, `gantrans.stylizer`). One network `G`; not a translator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantrans.families.base import Converter, Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    from gantrans.engine.convert import ConvertOptions, ConvertResult


def convert(sources: list[Path], opts: "ConvertOptions") -> "ConvertResult":
    from gantrans.engine.convert_wct import convert_photowct
    from gantrans.errors import UsageError

    if len(sources) != 1:
        raise UsageError("--from photowct takes one photo_wct.pth file")
    return convert_photowct(sources[0], opts)


def _is_photowct(obj: Any) -> bool:
    return isinstance(obj, dict) and "e1.conv0.weight" in obj and "e1.conv1_1.weight" in obj


class WCTFamily(Family):
    name = "wct"
    title = "PhotoWCT/WCT"
    archs = ("photowct", "wct")
    model_modules = ("gantrans.models.wct",)
    role = "stylizer"
    commands = frozenset({"stylize"})
    recipes = {"wct-decoder": "gantrans.train.wct:WCTDecoder"}
    converters = {"photowct": Converter("photowct", "photo_wct.pth (PhotoWCT)", _is_photowct, convert, domains=0)}


register_family(WCTFamily())
