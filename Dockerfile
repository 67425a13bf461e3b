# Squadron's image: one image for the web (gunicorn), worker and beat
# processes; docker-compose.yml picks the command. Secrets are never baked in:
# they come at run time as files named by *_FILE variables (compose secrets).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8

# openssl and ssh: what runbooks call (certificates, reaching managed hosts).
# bubblewrap: the sandbox each playbook runs in (SQUADRON_RUN_ISOLATION).
# libpq5: PostgreSQL's own client library, which psycopg 3 loads (Debian's,
# kept up to date by the base image, not a copy bundled in a wheel).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends openssl openssh-client bubblewrap libpq5 \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user runs everything; /var/lib/squadron holds what must
# survive a restart (beat's schedule, playbook results) and is a volume.
RUN groupadd --system --gid 10001 squadron \
    && useradd --system --uid 10001 --gid squadron --create-home --home-dir /home/squadron \
        --shell /usr/sbin/nologin squadron \
    && install --directory --owner squadron --group squadron --mode 0750 /var/lib/squadron

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock changes. The
# lock pins and hashes every package, ansible-core and ansible-runner included.
# python-ldap (LDAP logins) is built here against Debian's OpenLDAP client
# library: the compiler and headers go once it is built; the libraries it
# links stay (purged without --auto-remove).
COPY requirements.lock ./
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev libldap-dev libsasl2-dev \
    && pip install --require-hashes --no-deps --requirement requirements.lock \
    && apt-get purge --yes gcc libc6-dev libldap-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*

COPY manage.py ./
COPY portal/ portal/
COPY squads/ squads/
COPY runbooks/ runbooks/
COPY catalogue/ catalogue/
COPY templates/ templates/

# Static files are collected at build time and served by whitenoise. The
# settings refuse to load with DEBUG off and no secrets, so this one command
# gets throw-away values; they are not in the image's environment.
RUN DEBUG=false \
    SECRET_KEY=build-time-only-not-a-secret-collectstatic-0000 \
    SQUADRON_CREDENTIAL_KEY=build-time-only-not-a-secret-collectstatic-0000 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput \
    && python -m compileall -q portal squads runbooks catalogue

ENV DEBUG=false \
    SQUADRON_VAR_DIR=/var/lib/squadron \
    HOME=/home/squadron

USER squadron:squadron
EXPOSE 8000

# gunicorn's config makes every one of its processes non-dumpable.
CMD ["gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
