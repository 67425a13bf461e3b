"""Tests of the catalogue app: products, forms, the demo catalogue, catalogue-as-code and its admin."""
