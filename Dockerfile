# The petition platform's image: one image for every process (web, events, worker, migrations);
# compose.yaml and docs/DEPLOY.md say which command each runs.
#
#   docker build -t petitions .
#
# Stage 1 installs the pinned requirements into a virtual environment; stage 2 copies that and the
# code onto a clean base and runs as an unprivileged user. Every requirement comes as a wheel
# (psycopg[binary], gevent, cryptography), so no compiler is needed in either stage.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    FLASK_APP=app
RUN groupadd --system --gid 10001 petitions \
    && useradd --system --uid 10001 --gid petitions --home-dir /app --no-create-home --shell /usr/sbin/nologin petitions
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code belongs to root and is read-only to the app's user; only instance/ is the app's to write
# (development mail files; production reads its secrets from the environment).
COPY app.py gunicorn.conf.py babel.cfg ./
COPY petitions ./petitions
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# instance/uploads is UPLOAD_DIR (paper scans, petition pictures): compose mounts a volume on it, which
# takes this folder's owner when first created.
RUN mkdir -p instance/uploads && chown -R petitions:petitions instance
USER petitions:petitions
EXPOSE 8000 8001
CMD ["gunicorn", "app:app", "-c", "gunicorn.conf.py"]
