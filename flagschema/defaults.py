"""Default values of the ``FLAGSCHEMA_*`` settings, in one place.

Read them through :func:`flagschema.conf.get_setting`, never from here directly.
"""

#: Seconds a resolved flag state is held in each process before the backend is asked again.
#: A flip reaches every process within this time plus the shared cache's invalidation.
FLAG_TTL = 1.0

#: Dotted path to a callable ``(flag_name: str) -> bool``; true means "read the new side".
FLAG_BACKEND = "flagschema.flags.waffle_switch_is_active"
