"""Accounts: who may do what.

`users` (people, passwords, sign-ins and their throttles), `permissions` (the one place the
roles are decided: role, group, township, four eyes) and `audit` (the append-only log of
every write, refusal and failed sign-in) and `replays` (the first answer to a write sent
with an Idempotency-Key). The service's own database role is `app_role`.
"""
