"""Set up the demo and run the web server beside a real Celery worker.

Safe to re-run: every step skips what is already there. Ctrl-C stops both
processes cleanly.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotation import services
from annotation.models import Membership, Message

DEMO_PROJECT = "Demo: does this question need context?"
DEMO_USERS = [
    # (username, password, role)
    ("annotator", "annotator-demo", Membership.ANNOTATOR),
    ("lead", "lead-demo", Membership.LEAD),
]
WORKER_QUEUES = "default,cpu,gpu-small,gpu-large"


def free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 50):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {preferred}..{preferred + 49}")


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web server exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the web server did not answer at {url} within {seconds:.0f} s")


class Command(BaseCommand):
    help = "Set up the demo (migrate, sample corpus, users) and run the server and a worker."

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=int(os.environ.get("DEMO_MESSAGES", 58000)))
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8000)))
        parser.add_argument(
            "--setup-only", action="store_true", help="prepare everything, start nothing"
        )
        parser.add_argument(
            "--no-loop", action="store_true", help="skip the ladder, simulated batches and runs"
        )

    def handle(self, *args, messages: int, seed: int, port: int, setup_only: bool, no_loop: bool, **options):
        self.say("migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        project = self.set_up_project(messages=messages, seed=seed)
        if setup_only:
            return
        self.run_processes(project_id=project.pk, port=free_port(port), loop=not no_loop)

    def say(self, text: str) -> None:
        self.stdout.write(self.style.HTTP_INFO(f"[demo] {text}"))
        self.stdout.flush()

    def set_up_project(self, *, messages: int, seed: int):
        project, created = services.project_get_or_create(name=DEMO_PROJECT)
        if created:
            # The demo ladder's models are tiny: they learn the task with the
            # options in a fixed order, not with a per-item permutation too.
            project.shuffle_options = False
            # Two folds instead of three: half the label check's training time,
            # the largest part of the demo's loop (each judge trains on half
            # the train split instead of two thirds).
            project.label_check_folds = 2
            project.save(update_fields=["shuffle_options", "label_check_folds"])
        for username, password, role in DEMO_USERS:
            user = services.user_get_or_create(username=username, password=password)
            services.membership_set(project=project, user=user, role=role)
        if not Message.objects.filter(corpus__project=project).exists():
            corpus_path = Path(settings.VAR_DIR) / "sample" / f"corpus-{messages}-{seed}.jsonl"
            self.say(f"generating a sample corpus of {messages} messages")
            call_command(
                "make_sample_corpus", messages=messages, seed=seed, output=str(corpus_path)
            )
            self.say("importing it")
            call_command("import_messages", str(corpus_path), project=DEMO_PROJECT)
        self.say("preprocessing messages into items")
        call_command("preprocess", project=DEMO_PROJECT)
        return project

    def run_processes(self, *, project_id: int, port: int, loop: bool) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", WORKER_QUEUES,
             "--concurrency", "1", "-l", "info", "--without-gossip", "--without-mingle",
             "--beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")],
            env=env,
        )
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=settings.BASE_DIR,
        )
        url = f"http://127.0.0.1:{port}/"
        stopping = False
        children = [web, worker]

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            wait_until_serving(url + "login/", web)
            self.say(f"ladderlab is running at {url}")
            for username, password, role in DEMO_USERS:
                self.say(f"  {role:<9} log in as {username} / {password}")
            self.say(f"  project page: {url}projects/{project_id}/")
            self.say("press Ctrl-C to stop the server and the worker")
            # The full loop runs beside them; the UI stays usable meanwhile.
            if loop:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "manage.py", "demo_loop", "--project", DEMO_PROJECT],
                        env=env,
                        cwd=settings.BASE_DIR,
                    )
                )
            while not stopping and web.poll() is None and worker.poll() is None:
                time.sleep(0.5)
        finally:
            for process in children:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in children:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            self.say("stopped the web server and the worker")
