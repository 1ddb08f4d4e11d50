"""What runs the subnets, beneath everything that decides which subnet runs where (docs/development.md,
"Layout"):

- :mod:`.runner`: :class:`~.runner.Runner`, subnet ``k`` on whole images, tiles, windows or patch
  batches, and their predicted FLOPs and seconds;
- :mod:`.patches`: the paper's overlapping patches: chop an LR image, merge SR patches;
- :mod:`.pieces`: tiles and the pieces of a routing unit;
- :mod:`.timing`: time profiles, their measurement on a runner, the user's cache of them.
"""
