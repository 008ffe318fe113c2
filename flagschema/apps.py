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
        from flagschema.runbook.flip import connect_waffle_signals

        connection_created.connect(install_statement_boundary)
        for connection in connections.all(initialized_only=True):
            install_statement_boundary(connection)
        # Flips made in waffle's admin or with waffle_switch are recorded too.
        connect_waffle_signals()
