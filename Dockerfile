FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY annotation annotation
COPY training training
COPY scaling scaling
COPY api api
COPY templates templates
COPY static static
COPY manage.py ./
# collectstatic only reads files; the key it needs at build time is never used at run time,
# where settings refuse to start without SECRET_KEY from the environment.
RUN pip install . && SECRET_KEY=collectstatic-at-build-time python manage.py collectstatic --noinput
# /data/beat is created here, owned by the app's user, so the named volume mounted on it
# starts with that owner and beat can write its schedule file.
RUN groupadd --gid 10001 ladderlab \
    && useradd --uid 10001 --gid 10001 --create-home ladderlab \
    && mkdir -p /data/media /data/beat /models \
    && chown 10001:10001 /data/media /data/beat /models
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
