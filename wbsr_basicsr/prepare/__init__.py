"""The preparation commands: DIV2K (or any HR folder) to LMDBs and statistics (:mod:`.div2k`,
``wbsr-prepare-div2k``) and the benchmark sets (:mod:`.benchmarks`, ``wbsr-prepare-benchmarks``);
``datasets_prep/`` holds the same commands as scripts. Shared helpers: :mod:`wbsr_basicsr.prepare.common`."""
