"""Default values of the ``FLAGSCHEMA_*`` settings, in one place.

Read them through :func:`flagschema.conf.get_setting`, never from here directly.
"""

#: Seconds a resolved flag state is held in each process before the backend is asked again.
#: A flip reaches every process within this time plus the shared cache's invalidation.
FLAG_TTL = 1.0

#: Dotted path to a callable ``(flag_name: str) -> bool``; true means "read the new side".
FLAG_BACKEND = "flagschema.flags.waffle_switch_is_active"

#: Migrations ``flagschema lint`` accepts without a ``flagschema_accepted`` attribute in their
#: class, as ``"app_label.migration_name"``: the history from before lint ran in CI, or the
#: migrations of an app you cannot edit.
LINT_ACCEPTED: tuple[str, ...] = ()

#: Whether ``flagschema/admin.py`` registers the "Schema transitions" pages and the flip history
#: on ``admin.site`` when the admin autodiscovers it. Read once, at that import.
ADMIN = True

#: Shadow reads (``flagschema.shadow``): the waffle switch ``<flag><suffix>`` turns them on for a
#: transition whose flag says old.
SHADOW_SUFFIX = ".shadow"

#: The share of model querysets whose rows are compared with the new shape in shadow mode.
SHADOW_SAMPLE = 0.01

#: A flip to new is refused while the shadow mismatch rate (mismatches / reads compared since
#: the last flip) is above this, unless forced.
SHADOW_MAX_MISMATCH_RATE = 0.0

#: The cache alias holding the shadow counters (shared by every process); None: waffle's.
SHADOW_CACHE: str | None = None
