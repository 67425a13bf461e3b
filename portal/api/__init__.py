"""The REST API (``/api/v1/``): thin DRF views over the same services and
selectors the browser uses, so both always agree."""
