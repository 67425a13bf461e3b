"""Tests of the catalogue: catalogue-as-code import and export, form patterns."""
