FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY annotation annotation
COPY training training
COPY scaling scaling
COPY templates templates
COPY static static
COPY manage.py ./
RUN pip install . && python manage.py collectstatic --noinput
RUN useradd --create-home ladderlab && mkdir -p /data/media /models && chown ladderlab /data/media /models
USER ladderlab
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
