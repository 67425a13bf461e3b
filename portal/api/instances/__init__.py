"""The REST face of service instances: thin DRF views and serializers over
the instance domain (``portal.instances``)."""
