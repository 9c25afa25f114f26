from django.apps import AppConfig


class ScalingConfig(AppConfig):
    name = "scaling"

    def ready(self) -> None:
        from scaling import receivers  # noqa: F401  (connects the signal receivers)
