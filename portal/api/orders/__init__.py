"""The REST face of orders: thin DRF views and serializers over the order
domain (``portal.orders``). May import the domains and the API's shared
helpers (``portal.api.base``, ``portal.api.base_serializers``…); nothing in a
domain imports it."""
