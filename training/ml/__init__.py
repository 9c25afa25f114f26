"""Fine-tuning and scoring of causal language models on plain data.

No Django here: these functions run inside Celery workers and tests alone.
"""
