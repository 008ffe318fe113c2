from django.apps import AppConfig


class FlagschemaConfig(AppConfig):
    name = "flagschema"
    verbose_name = "Schema transitions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        from flagschema import checks  # noqa: F401  (registers the system checks)
        from flagschema.flags import install_statement_boundary

        connection_created.connect(install_statement_boundary)
        for connection in connections.all(initialized_only=True):
            install_statement_boundary(connection)
