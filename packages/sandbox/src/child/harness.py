# The Python side of an OS2 sandbox session.
#
# Executed once per session by host.mjs, in a private namespace. `setup`
# returns the hooks the host calls: begin/exec_user/end for each run and
# harden (defence in depth before user code). make_meter and
# make_instrumenter come from meter.py, which the host loads into the same
# namespace first.
#
# Layout rule: nothing the script can reach (exec_user, sys.stdout, the os2
# module and their closures) may hold the meter's state: begin/end, which
# own it, are held by the host only.


def setup(config_json):
    import base64, builtins, datetime, hashlib, json, os, random, secrets, sys, tempfile, time, traceback, types, uuid  # noqa: E401,F401
    import _pydatetime
    import functools

    cfg = json.loads(config_json)
    seed = cfg['seed']
    epoch_ns = int(cfg['epochNs'])

    # ------------------------------------------------------------ bridge
    dev = os.open('/dev/os2', os.O_RDWR)
    _write, _read, _dumps, _loads = os.write, os.read, json.dumps, json.loads

    def channel_send(msg):
        data = (_dumps(msg, separators=(',', ':'), ensure_ascii=True) + '\n').encode()
        while data:
            data = data[_write(dev, data):]

    def channel_recv():
        buf = b''
        while not buf.endswith(b'\n'):
            part = _read(dev, 65536)
            if not part:
                raise RuntimeError('The OS2 syscall bridge is closed')
            buf += part
        return _loads(buf)

    def report(kind, detail):
        channel_send({'t': 'violation', 'kind': kind, 'detail': str(detail)[:500]})

    # ------------------------------------------------------------ os2 module
    class CapabilityError(Exception):
        """A kernel capability call was refused or failed."""

        def __init__(self, code, message):
            super().__init__(f'{code}: {message}')
            self.code = code
            self.message = message

    seq = [0]

    def invoke(capability, args=None):
        """Call a kernel capability; returns its JSON value or raises CapabilityError."""
        seq[0] += 1
        channel_send({'t': 'call', 'id': seq[0], 'capability': str(capability), 'args': {} if args is None else args})
        reply = channel_recv()
        if reply.get('ok'):
            return reply.get('value')
        err = reply.get('error') or {}
        raise CapabilityError(str(err.get('code', 'INTERNAL')), str(err.get('message', '')))

    def emit(type, payload=None):
        """Append a custom event to the running token."""
        return invoke('kernel.emit', {'type': str(type), 'payload': payload})

    class State:
        """Kernel key/value state, reached through kernel.state.* capabilities."""

        def get(self, key, default=None):
            value = invoke('kernel.state.get', {'key': str(key)})
            return default if value is None else value

        def put(self, key, value):
            invoke('kernel.state.put', {'key': str(key), 'value': value})

        def delete(self, key):
            invoke('kernel.state.delete', {'key': str(key)})

    class Memory:
        """Federated memories (key/value, episodic, vector) through the memory.* capabilities; the first argument is the namespace."""

        def put(self, namespace, key, value):
            return invoke('memory.kv.write', {'namespace': str(namespace), 'set': {str(key): value}})

        def get(self, namespace, key, default=None):
            found = invoke('memory.kv.get', {'namespace': str(namespace), 'key': str(key)})
            return found.get('value') if found.get('found') else default

        def keys(self, namespace):
            return invoke('memory.kv.get', {'namespace': str(namespace)}).get('keys', [])

        def delete(self, namespace, key):
            return invoke('memory.kv.write', {'namespace': str(namespace), 'delete': [str(key)]})

        def append(self, namespace, *events):
            return invoke('memory.episodic.write', {'namespace': str(namespace), 'events': list(events)})

        def events(self, namespace, start=0, limit=1000):
            return invoke('memory.episodic.list', {'namespace': str(namespace), 'from': int(start), 'limit': int(limit)}).get('events', [])

        def upsert(self, namespace, id, vector, metadata=None):
            entry = {'id': str(id), 'vector': [float(x) for x in vector]}
            if metadata is not None:
                entry['metadata'] = metadata
            return invoke('memory.vector.write', {'namespace': str(namespace), 'upsert': [entry]})

        def search(self, namespace, query, k=5):
            return invoke('memory.vector.search', {'namespace': str(namespace), 'query': [float(x) for x in query], 'k': int(k)}).get('hits', [])

    class FetchResponse:
        def __init__(self, value):
            self.status = int(value.get('status', 0))
            self.headers = dict(value.get('headers') or {})
            self.body = value.get('body', '')

        def text(self):
            return self.body

        def json(self):
            return _loads(self.body)

    def fetch(url, method='GET', headers=None, body=None):
        """HTTP through the kernel's net.fetch capability (host allow-list in the grant)."""
        return FetchResponse(invoke('net.fetch', {'url': str(url), 'method': str(method), 'headers': dict(headers or {}), 'body': body}))

    class _ModuleExport:
        def __init__(self, module, name):
            self._module = module
            self._name = name

        def __call__(self, *args):
            return invoke('module.call', {'module': self._module, 'export': self._name, 'args': [int(a) for a in args]})

    class _Module:
        def __init__(self, name):
            self._name = name

        def __getattr__(self, export):
            if export.startswith('__'):
                raise AttributeError(export)
            return _ModuleExport(self._name, export)

    class _Modules:
        """WASM sidecars mounted with `os2 module mount`, run under WASI outside the interpreter."""

        def __getattr__(self, name):
            if name.startswith('__'):
                raise AttributeError(name)
            return _Module(name)

    os2 = types.ModuleType('os2', 'The OS2 syscall bridge: every call goes to the kernel.')
    os2.modules = _Modules()
    os2.invoke = invoke
    os2.emit = emit
    os2.state = State()
    os2.memory = Memory()
    os2.fetch = fetch
    os2.CapabilityError = CapabilityError
    sys.modules['os2'] = os2

    # The session dir is the working dir and where temp files go; /tmp is
    # left out of the allowed roots so that host paths under /tmp are
    # reported rather than silently missed in the in-memory FS.
    os.makedirs('/session/.tmp', exist_ok=True)
    os.chdir('/session')
    os.environ['TMPDIR'] = '/session/.tmp'
    tempfile.tempdir = '/session/.tmp'

    # ------------------------------------------------------ determinism
    random.seed(f'os2-random:{seed}')

    ustate = {'n': 0, 'pool': b''}

    def urandom(size):
        """Seeded stand-in for os.urandom (a SHA-256 counter stream)."""
        size = int(size)
        if size < 0:
            raise ValueError('negative argument not allowed')
        out = ustate['pool']
        while len(out) < size:
            out += hashlib.sha256(f'os2-urandom:{seed}:{ustate["n"]}'.encode()).digest()
            ustate['n'] += 1
        ustate['pool'] = out[size:]
        return out[:size]

    os.urandom = urandom
    random._urandom = urandom

    # Virtual clock: starts at the tick the parent passed and advances 1 µs
    # per reading (and by the requested amount on sleep), so loops that wait
    # on the clock terminate and every run reads the same times.
    clock = [epoch_ns]

    def time_ns():
        clock[0] += 1000
        return clock[0]

    def time_s():
        return time_ns() / 1e9

    def monotonic_ns():
        return time_ns() - epoch_ns

    def monotonic():
        return monotonic_ns() / 1e9

    def sleep(secs):
        if secs < 0:
            raise ValueError('sleep length must be non-negative')
        clock[0] += int(secs * 1e9)

    _localtime, _gmtime, _ctime, _asctime, _strftime = time.localtime, time.gmtime, time.ctime, time.asctime, time.strftime

    def localtime(secs=None):
        return _localtime(time_s() if secs is None else secs)

    def gmtime(secs=None):
        return _gmtime(time_s() if secs is None else secs)

    def ctime(secs=None):
        return _ctime(time_s() if secs is None else secs)

    def asctime(t=None):
        return _asctime(localtime() if t is None else t)

    def strftime(fmt, t=None):
        return _strftime(fmt, localtime() if t is None else t)

    time.time, time.time_ns = time_s, time_ns
    time.monotonic, time.monotonic_ns = monotonic, monotonic_ns
    time.perf_counter, time.perf_counter_ns = monotonic, monotonic_ns
    time.process_time, time.process_time_ns = monotonic, monotonic_ns
    time.thread_time, time.thread_time_ns = monotonic, monotonic_ns
    time.sleep = sleep
    time.localtime, time.gmtime, time.ctime, time.asctime, time.strftime = localtime, gmtime, ctime, asctime, strftime
    # The C datetime reads the OS clock directly; the pure-Python one reads
    # time.time(), which is now virtual.
    for name in ('date', 'datetime', 'time', 'timedelta', 'timezone', 'tzinfo', 'UTC', 'MINYEAR', 'MAXYEAR'):
        setattr(datetime, name, getattr(_pydatetime, name))

    # Deep Python recursion is cheap for CPython 3.14 but tearing down a
    # deep (~8k frames) traceback overflows the JS stack and kills Pyodide: the
    # limit is clamped.
    MAX_RECURSION = 4_000
    _setrecursionlimit = sys.setrecursionlimit

    def setrecursionlimit(limit):
        _setrecursionlimit(min(int(limit), MAX_RECURSION))

    sys.setrecursionlimit = setrecursionlimit

    # asyncio: Pyodide's WebLoop schedules through JS timers, which never
    # fire here (the child's event loop does not turn) and which the
    # hardening cuts off. A loop with no I/O whose clock is the virtual
    # clock replaces it: asyncio.sleep(n) advances time instead of waiting.
    import asyncio
    import warnings

    class _NoIO:
        def select(self, timeout=None):
            if timeout:
                sleep(timeout)
            return []

        def close(self):
            pass

    class VirtualEventLoop(asyncio.BaseEventLoop):
        def __init__(self):
            super().__init__()
            self._selector = _NoIO()

        def _process_events(self, event_list):
            pass

        def _write_to_self(self):
            pass

    class VirtualEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self):
            return VirtualEventLoop()

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        asyncio.set_event_loop_policy(VirtualEventLoopPolicy())
    # pyodide.webloop replaces asyncio.run; put it back.
    asyncio.run = asyncio.runners.run
    # Pyodide marks its WebLoop as the running loop; there is none here.
    asyncio.events._set_running_loop(None)

    # ------------------------------------------------------------ metering
    class ResourceLimitExceeded(BaseException):
        """Raised on every metered tick once a run is over budget; catching it does not help."""

    tick, meter_begin, meter_end, output_flag, meter_stopping = make_meter(channel_send, ResourceLimitExceeded)  # noqa: F821 (meter.py)
    _exec = exec
    metered_compile, metered_exec, metered_eval, code_guard = make_instrumenter(tick, compile, exec, eval, sys._getframe)  # noqa: F821
    # Everything compiled from here on is metered: the script, exec/eval
    # strings, modules imported later (importlib and zipimport compile
    # through builtins.compile). No .pyc is written (it could not hold the
    # tick) and none is loaded (marshal.loads is refused once hardened).
    builtins.compile, builtins.exec, builtins.eval = metered_compile, metered_exec, metered_eval
    sys.dont_write_bytecode = True

    user_ns = {'__name__': '__main__', '__builtins__': builtins}

    def begin(budget, argv_json):
        out_cap['used'] = 0
        out_cap['cut'] = False
        sys.argv = ['<script>'] + _loads(argv_json)
        meter_begin(budget)

    # Compiled scripts by source: a warm session running the same snippet
    # again (pyx) skips the compiler. Held only by exec_user, which only the
    # host holds.
    compiled_cache = {}

    def exec_user(code):
        try:
            compiled = compiled_cache.get(code)
            if compiled is None:
                compiled = metered_compile(code, '<script>', 'exec')
                if len(compiled_cache) >= 64:
                    compiled_cache.clear()
                compiled_cache[code] = compiled
        except SyntaxError as e:
            return e.with_traceback(None)
        except BaseException as e:
            return e
        try:
            _exec(compiled, user_ns)
        except BaseException as e:
            return e
        return None

    # Output cap, enforced where the GIL is held (the JS writer cannot call
    # back into Python): past the cap the text is cut and the run stopped.
    out_cap = {'limit': int(cfg['outputLimitBytes']), 'used': 0, 'cut': False}
    import io

    class CappedStream(io.TextIOBase):
        def __init__(self, inner):
            self._inner = inner

        def write(self, s):
            if not isinstance(s, str):
                raise TypeError(f'write() argument must be str, not {type(s).__name__}')
            if out_cap['cut']:
                return len(s)
            data = s.encode('utf-8', 'surrogateescape')
            room = out_cap['limit'] - out_cap['used']
            if len(data) <= room:
                out_cap['used'] += len(data)
                self._inner.write(s)
                return len(s)
            if room > 0:
                self._inner.write(data[:room].decode('utf-8', 'ignore'))
            out_cap['used'] = out_cap['limit']
            out_cap['cut'] = True
            self._inner.flush()
            channel_send({'t': 'output_limit', 'limit': out_cap['limit']})
            output_flag.append(1)
            return len(s)

        def flush(self):
            self._inner.flush()

        def writable(self):
            return True

        def isatty(self):
            return False

        def fileno(self):
            return self._inner.fileno()

        @property
        def encoding(self):
            return self._inner.encoding

        @property
        def errors(self):
            return self._inner.errors

        @property
        def buffer(self):
            return self._inner.buffer

    sys.stdout = CappedStream(sys.stdout)
    sys.stderr = CappedStream(sys.stderr)

    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass

    def format_exc(exc):
        tb = exc.__traceback__
        # Drop the harness frame so the trace starts in the user's script.
        if tb is not None and tb.tb_frame.f_code is exec_user.__code__:
            tb = tb.tb_next
        return ''.join(traceback.format_exception(type(exc), exc, tb, limit=-64))

    def describe(exc):
        # Runs before the meter stops: a script's __str__, __eq__ or a
        # replaced sys.stderr called while reporting the error is charged to
        # the run (and stopped by its budget) instead of running free.
        if exc is None or meter_stopping() is not None:
            return None
        ptype = type(exc).__name__
        try:
            if isinstance(exc, SystemExit) and exc.code in (None, 0):
                return None
            if isinstance(exc, SystemExit):
                code, message = 'PYTHON_EXIT', f'The script exited with status {exc.code}'
            elif isinstance(exc, SyntaxError):
                code = 'PYTHON_SYNTAX_ERROR'
                message = f'{ptype}: {exc.msg} (line {exc.lineno})'
            else:
                code = 'PYTHON_EXCEPTION'
                message = ''.join(traceback.format_exception_only(type(exc), exc)).strip()
        except BaseException:
            code = 'PYTHON_EXIT' if isinstance(exc, SystemExit) else 'PYTHON_EXCEPTION'
            message = f'{ptype} (its message could not be formatted)'
        try:
            sys.stderr.write(format_exc(exc))
        except BaseException:
            pass
        return {'code': code, 'message': str(message)[:4000], 'pythonType': ptype}

    def end(exc):
        error = describe(exc)
        flush()
        used, reason = meter_end()
        result = {'status': 'ok', 'units': used}
        if reason == 'budget':
            result = {'status': 'budget_exceeded', 'units': used,
                      'error': {'code': 'BUDGET_EXCEEDED', 'message': f'Unit budget of {used} exhausted', 'pythonType': 'ResourceLimitExceeded'}}
        elif reason == 'output':
            result = {'status': 'budget_exceeded', 'units': used,
                      'error': {'code': 'OUTPUT_LIMIT_EXCEEDED', 'message': 'Output limit exceeded: the run was stopped', 'pythonType': 'ResourceLimitExceeded'}}
        elif error is not None:
            result = {'status': 'error', 'units': used, 'error': error}
        return _dumps(result)

    # --------------------------------------------------------- hardening
    BLOCKED = frozenset({'js', 'pyodide_js', 'pyodide', '_pyodide', '_pyodide_core', 'ctypes', '_ctypes',
                         'micropip', 'pyodide_http', '_testcapi', '_testinternalcapi', '_testlimitedcapi'})
    ROOTS = ('/session', '/home/pyodide', '/lib', '/dev/null', '/dev/urandom', '/dev/random',
             '/dev/zero', '/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/tty', '/dev/shm')
    PROCESS = frozenset({'os.system', 'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork', 'os.forkpty',
                         'subprocess.Popen', 'os.kill', 'os.killpg', 'pty.spawn', 'os.startfile'})
    NETWORK = frozenset({'socket.__new__', 'socket.connect', 'socket.bind', 'socket.sendto', 'socket.sendmsg',
                         'socket.getaddrinfo', 'socket.gethostbyname', 'socket.gethostbyaddr', 'socket.getnameinfo'})
    INTROSPECTION = frozenset({'gc.get_objects', 'gc.get_referrers', 'gc.get_referents', 'sys.monitoring.register_callback',
                               'sys._current_frames', 'sys.remote_exec'})
    PATHS1 = frozenset({'open', 'os.listdir', 'os.scandir', 'os.remove', 'os.mkdir', 'os.rmdir', 'os.chmod',
                        'os.chown', 'os.truncate', 'os.utime', 'os.chdir', 'os.chflags', 'os.setxattr', 'os.removexattr',
                        'shutil.rmtree', 'shutil.copyfile', 'shutil.copytree', 'shutil.move', 'os.mkfifo', 'os.mknod'})
    PATHS2 = frozenset({'os.rename', 'os.symlink', 'os.link'})
    CODE_MAKERS = frozenset({'compile', 'code.__new__', 'marshal.loads', 'marshal.load'})
    SETATTR = frozenset({'object.__setattr__', 'object.__delattr__'})
    WATCH = PROCESS | NETWORK | INTROSPECTION | PATHS1 | PATHS2 | CODE_MAKERS | SETATTR | {'import'} | {'ctypes.dlopen', 'ctypes.dlsym', 'ctypes.cdata'}
    _getframe = sys._getframe
    import _imp
    _frozen_names, _find_frozen, _sha256 = _imp._frozen_module_names, _imp.find_frozen, hashlib.sha256
    frozen_code = []  # SHA-256 of each frozen module's marshalled code, filled on first use

    def is_frozen_code(data):
        # Frozen stdlib modules (runpy, ...) are unmarshalled from data built
        # into the interpreter; anything else passed to marshal is refused.
        if not frozen_code:
            for name in _frozen_names():
                found = _find_frozen(name, withdata=True)
                if found is not None and found[0] is not None:
                    frozen_code.append(_sha256(bytes(found[0])).digest())
        try:
            return _sha256(bytes(data)).digest() in frozen_code
        except Exception:
            return False
    _normpath, _join, _getcwd, _fsdecode = os.path.normpath, os.path.join, os.getcwd, os.fsdecode

    def allowed_path(p):
        if isinstance(p, int):
            return True
        try:
            p = _fsdecode(p)
        except Exception:
            return False
        full = _normpath(_join(_getcwd(), p))
        return any(full == r or full.startswith(r + '/') for r in ROOTS)

    def audit(event, args):
        if event not in WATCH:
            return
        if event in CODE_MAKERS:
            # Code objects come only from the metering compiler; anything
            # else (the real compile reached through a closure, code.replace,
            # marshal, a rewired copy of the compiler) would run unmetered.
            if not (code_guard(event, _getframe(1)) or (event == 'marshal.loads' and args and is_frozen_code(args[0]))):
                report('metering_tamper', f'{event} outside the metering compiler')
                raise PermissionError(f'{event} is denied by the OS2 sandbox: code is compiled only through the metered compile()')
        elif event in SETATTR:
            if not code_guard(event, None, args):
                report('metering_tamper', f'{event} {str(args[1])[:50]} on the metering compiler')
                raise PermissionError(f'{event} on the metering compiler is denied by the OS2 sandbox')
        elif event == 'import':
            name = str(args[0])
            if name.split('.')[0] in BLOCKED:
                report('forbidden_import', name)
                raise ImportError(f"Module '{name}' is not available in the OS2 sandbox")
        elif event in PATHS1 or event in PATHS2:
            paths = args[:2] if event in PATHS2 else args[:1]
            for p in paths:
                if not allowed_path(p):
                    report('fs_outside_session', f'{event} {p!r}')
                    raise PermissionError(f'Access to {p!r} is denied by the OS2 sandbox: only /session is writable host storage')
        elif event in PROCESS:
            report('process_spawn', f'{event} {str(args)[:200]}')
            raise PermissionError(f'{event} is denied by the OS2 sandbox: processes cannot be spawned')
        elif event in NETWORK:
            report('network', f'{event} {str(args)[:200]}')
            raise PermissionError(f'{event} is denied by the OS2 sandbox: use os2.fetch')
        else:
            report('introspection', event)
            raise PermissionError(f'{event} is denied by the OS2 sandbox')

    def is_js_object(v):
        try:
            return not isinstance(v, type) and any(c.__name__ == 'JsProxy' for c in type(v).__mro__)
        except Exception:
            return False

    def harden():
        for name in list(sys.modules):
            if name.split('.')[0] in BLOCKED:
                module = sys.modules.pop(name)
                # Pyodide's own modules stay reachable through the class
                # graph (object.__subclasses__ -> a method's __globals__):
                # drop the live JS objects they hold (e.g. webloop's
                # scheduleCallback, the import hook's proxies).
                namespace = getattr(module, '__dict__', None)
                if isinstance(namespace, dict):
                    for key, value in list(namespace.items()):
                        if is_js_object(value):
                            namespace[key] = None
                        elif type(value).__name__ == 'JsFinder':
                            for attr in ('jsproxies', 'hooks'):
                                store = getattr(value, attr, None)
                                if isinstance(store, dict):
                                    store.clear()
        sys.meta_path[:] = [f for f in sys.meta_path
                            if str(getattr(type(f), '__module__', '')).split('.')[0] not in BLOCKED
                            and str(getattr(f, '__module__', '')).split('.')[0] not in BLOCKED]
        # Emscripten's subprocess refuses before the audit event fires; make
        # the attempt visible.
        import subprocess

        class DeniedPopen(subprocess.Popen):
            def __init__(self, args, *rest, **kwargs):
                report('process_spawn', f'subprocess.Popen {str(args)[:200]}')
                raise PermissionError('subprocess is denied by the OS2 sandbox: processes cannot be spawned')

        DeniedPopen.__name__ = DeniedPopen.__qualname__ = 'Popen'
        subprocess.Popen = DeniedPopen
        sys.addaudithook(audit)

    import_names = set(sys.modules)  # noqa: F841  (kept for debugging)
    return {
        'begin': begin,
        'exec_user': exec_user,
        'end': end,
        'harden': harden,
    }
