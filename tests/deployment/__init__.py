"""Tests of the deployment: docker-compose.yml, the Dockerfile and
deploy/compose_secrets.py hold together without a Docker engine, and no
process of the service gives a secret away. files.py reads the files as
Docker would; commands.py checks that a command line can run in the image."""
