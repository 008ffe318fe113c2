"""The operations of the runbook, as pure functions returning results (no printing).

The ``flagschema`` management command and the admin call them.
"""
