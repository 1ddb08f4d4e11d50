"""Inference rows from options: each ``val.rows`` entry (or the inference command's flags) becomes
one or more routers (:mod:`wbsr_basicsr.routing`), found by ``mode`` in the router registry.

    rows:
      - {mode: target_flops, target: [0.5, 0.65]}   # a sweep: one row per target
      - {mode: fixed, subnet: all}                  # one row per subnet
      - {mode: whole, subnet: full}                 # the full network on the whole image

docs/routing.md lists every mode and its options.
"""
from typing import Dict, List, Sequence

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.routing import Router, RoutingData, router_class
from wbsr_basicsr.routing.calibration import Calibration

DEFAULT_ROWS = ({'mode': 'ceil'}, {'mode': 'fixed', 'subnet': 'full'})


def default_ladder(data: RoutingData) -> str:
    """The ladder of gradient-router rows that name none: the Pareto ladder when there is a
    calibration (measured better: docs/results.md), else the paper's."""
    return 'full' if data.get(Calibration) is None else 'pareto'


def parse_rows(specs: Sequence[Dict], net: SlimmableSupernet, ladder: str = 'full',
               where: str = 'val.rows[{index}]') -> List[Router]:
    """The rows of option entries such as ``[{mode: ceil}, {mode: fixed, subnet: all}]``; ``ladder``
    is the default of the gradient router's rows. ``ValueError`` naming the entry (``where``, formatted
    with its ``index``) if one is wrong, or if two rows would share a label."""
    rows: List[Router] = []
    for index, spec in enumerate(specs):
        spec = dict(spec)
        try:
            rows += router_class(spec.pop('mode', None)).from_options(spec, net, ladder)
        except (TypeError, ValueError) as error:
            raise ValueError(f'{where.format(index=index)}: {error}') from None
    labels = [row.label for row in rows]
    if len(set(labels)) != len(labels):
        raise ValueError(f'{where.format(index="")}: rows repeat: {labels}.')
    return rows
