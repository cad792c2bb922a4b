# Stdlib modules every session imports before user code runs (see harness.py).
# Imported when the memory snapshot is made, and again (a no-op then) by the
# session setup, so unit counts never depend on whether a snapshot was used.
import _pydatetime, asyncio, functools, warnings, base64, builtins, datetime, hashlib, json, os, random, secrets, sys, tempfile, time, traceback, types, uuid  # noqa: E401,F401
