"""Networks (nn.Modules only) and the architecture registry."""

from gantrans.models.registry import (
    ARCHS,
    ArchSpec,
    build_network,
    config_to_dict,
    get_spec,
    list_archs,
    make_config,
)

__all__ = ["ARCHS", "ArchSpec", "build_network", "config_to_dict", "get_spec", "list_archs", "make_config"]
