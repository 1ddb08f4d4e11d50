"""Helpers shared by the WBSR components and the preparation scripts."""
