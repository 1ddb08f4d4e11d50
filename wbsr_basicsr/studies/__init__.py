"""Training studies: recipes trained and tested through BasicSR's pipelines (:mod:`.runs`) at the
sizes of a preset (:mod:`.presets`); driven by ``scripts/training_study.py`` and ``scripts/reproduce.py``."""
