"""The REST API: FastAPI routers over the service layer, one router per resource.

Conventions every route follows:

- Under `/api/v1`; the OpenAPI document is `/openapi.json`, with `/docs` and `/redoc`.
- Who calls: a session cookie (`POST /api/v1/session`) for people, a bearer API
  token (`POST /api/v1/session/tokens`) for machines. `auth.current_actor` and
  `auth.optional_actor` are the dependencies; the permission table is enforced
  by the services themselves.
- Errors are `application/problem+json` (`problems.py`) with the rejection
  `code` and, where it is known, the `field`; validation errors list `errors`
  per field.
- Lists take `limit` (at most 500) and `offset` and answer `next_offset`; the
  journal pages by `cursor` (the last sequence number seen).
- Every mutation honours an `Idempotency-Key` header (`idempotency.py`).
- Routes only translate: request schema in, one service call, response schema
  out; they never open a write transaction themselves.
"""
