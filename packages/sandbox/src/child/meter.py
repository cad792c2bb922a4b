# Deterministic metering for OS2 sandbox sessions (loaded by host.mjs into
# the harness module's namespace, before harness.py).
#
# Compile-time instrumentation: every code object compiled in a session
# gets an inline tick at function entry (after the docstring), at the top of
# every loop body, in every comprehension clause and in every lambda. A tick
# is `next(TICK)` with both `next` and TICK stored in the code's constants,
# so there is no name the script could rebind. TICK is a C-level iterator
# chain (itertools.chain over itertools.repeat chunks): a tick costs one C
# call, and only every CHUNK ticks does the chain call back into Python.
#
# The meter's state lives in closures that only the host holds (begin/end)
# and in an itertools.chain, which exposes nothing of its sources (no
# __reduce__ since 3.14, gc.get_referents refused by the audit hook). The
# only ways to make uninstrumented code objects, compile() and
# code.__new__/replace() and marshal.loads, are refused by the audit hook
# except from the trusted frames listed by make_instrumenter.


def make_meter(send, ResourceLimitExceeded):
    """Returns (tick, begin, end, output_flag, stopping): a deterministic unit counter.

    tick: the iterator every instrumented code object calls next() on.
    begin(budget) / end() -> (units, reason): bracket one run; reason is
    None, 'budget' or 'output'. stopping() is the reason so far.
    Between runs (a script's __del__ or __str__ called by the harness), at
    most IDLE units run, then every tick raises.
    output_flag: a list; appending to it stops the run at the next chunk
    boundary (the output cap's request: it can only stop a run, never
    extend one).
    """
    from collections import deque
    from itertools import chain, repeat
    from operator import length_hint

    CHUNK = 1024
    IDLE = 100_000
    idle_left = IDLE
    SENT = object()
    EMPTY = repeat(True, 0)
    left = 0           # units of the budget not yet handed to a chunk
    issued = 0         # units handed to chunks during this run
    budget = 0
    running = False
    exhausted = False  # the active iterator is over(): every tick raises
    stopped = False
    reason = None
    stop_units = 0
    cur = EMPTY
    output_flag = []

    def over():
        # The active iterator once the budget is gone: raises on every tick
        # (so `except BaseException` in a loop does not help) until the run
        # ends, then returns SENT, which retires this iterator.
        nonlocal stopped
        if exhausted:
            if reason == 'budget' and not stopped:
                stopped = True
                send({'t': 'stop', 'reason': 'budget', 'units': budget})
            raise ResourceLimitExceeded(f'Unit budget of {budget} exhausted' if reason == 'budget'
                                        else 'Output limit exceeded: the run was stopped')
        return SENT

    # The chain's source must never raise: a chain drops a source that
    # raises, and a Python source can (RecursionError when the tick that
    # needs a refill runs in the deepest allowed frame). So the source is a
    # C-level popleft on a queue that always holds what comes next, and the
    # Python refill is itself one of the chain's iterators: an exception
    # from it propagates from that tick and the refill is retried on the
    # next one.
    queue = deque()

    def idle_over():
        if not running:
            raise ResourceLimitExceeded(f'Work outside a run is limited to {IDLE} units')
        return SENT

    def refill():
        nonlocal left, issued, cur, exhausted, reason, stop_units, idle_left
        if not running:
            # Script code the harness triggers between runs: a small allowance.
            if idle_left > 0:
                n = CHUNK if idle_left > CHUNK else idle_left
                cur = repeat(True, n)
                queue.extend((cur, iter(refill, SENT)))
                idle_left -= n
                return SENT
            cur = EMPTY
            queue.extend((iter(idle_over, SENT), iter(refill, SENT)))
            return SENT
        if output_flag and reason is None:
            reason = 'output'
            stop_units = issued
            left = 0
        if left > 0:
            n = CHUNK if left > CHUNK else left
            cur = repeat(True, n)
            queue.extend((cur, iter(refill, SENT)))
            left -= n
            issued += n
            return SENT
        if reason is None:
            reason = 'budget'
        exhausted = True
        cur = EMPTY
        queue.extend((iter(over, SENT), iter(refill, SENT)))
        return SENT

    queue.append(iter(refill, SENT))
    tick = chain.from_iterable(iter(queue.popleft, None))

    def begin(units_budget):
        nonlocal left, issued, budget, running, exhausted, stopped, reason, stop_units
        budget = int(units_budget)
        exhausted = False
        stopped = False
        reason = None
        stop_units = 0
        output_flag.clear()
        # What is left of the current chunk is this run's first units,
        # unless it is more than the whole budget.
        k = length_hint(cur)
        if k > budget:
            deque(cur, maxlen=0)
            k = 0
        issued = k
        left = budget - k
        running = True

    def end():
        nonlocal running, exhausted, idle_left
        running = False
        exhausted = False
        idle_left = IDLE
        if reason == 'output':
            return stop_units, reason
        return issued - length_hint(cur), reason

    def stopping():
        return reason

    return tick, begin, end, output_flag, stopping


def make_instrumenter(tick, real_compile, real_exec, real_eval, getframe):
    """Compile, exec and eval that insert meter ticks into every code object.

    Returns (compile, exec, eval, guard). guard(event, frame, args) is for
    the audit hook only (keep it out of the script's reach): it is true when
    a 'compile' or 'code.__new__' event comes from this instrumenter's own
    frame, with its own closure, and no closure cell of its functions was
    changed since creation (cells are writable from Python, so the script
    could otherwise rewire the instrumenter it reaches via builtins.compile);
    for 'object.__setattr__'/'__delattr__' it is false when the target is
    one of its functions (__code__, __defaults__).
    """
    import ast
    import warnings

    NEXT_PH = '\x00os2:next'
    TICK_PH = '\x00os2:tick'
    ONLY_AST = ast.PyCF_ONLY_AST
    # An AST passed in is re-read by the C compiler into fresh nodes of the
    # exact ast types (the script's own objects or subclasses never reach
    # the transform).
    FRESH_AST = ast.PyCF_OPTIMIZED_AST
    CodeType = type(make_instrumenter.__code__)
    _next, _isinstance, _type, _tuple, _dict, _list, _len, _min = next, isinstance, type, tuple, dict, list, len, min
    _catch_warnings, _filterwarnings = warnings.catch_warnings, warnings.filterwarnings
    _getattr = getattr
    Call, Constant, Expr, BoolOp, And, AST, Lambda, ImportFrom, Module, If, Pass = (
        ast.Call, ast.Constant, ast.Expr, ast.BoolOp, ast.And, ast.AST, ast.Lambda, ast.ImportFrom, ast.Module, ast.If, ast.Pass)
    FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
    LOOPS = (ast.For, ast.AsyncFor, ast.While)
    COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    BODIES = (ast.Module, ast.Interactive)

    # Each node type's fields, captured now in a read-only mapping: ast.walk
    # and the types' own _fields are attributes the script could change.
    FIELDS = __import__('types').MappingProxyType(
        {c: c._fields for c in vars(ast).values() if _isinstance(c, type) and issubclass(c, AST)})

    def walk(tree):
        todo = [tree]
        out = []
        while todo:
            node = todo.pop()
            out.append(node)
            for name in FIELDS.get(_type(node), ()):
                v = _getattr(node, name, None)
                if _isinstance(v, AST):
                    todo.append(v)
                elif _type(v) is _list:
                    for x in v:
                        if _isinstance(x, AST):
                            todo.append(x)
        return out

    def located(node, at):
        node.lineno = node.end_lineno = at.lineno
        node.col_offset = node.end_col_offset = at.col_offset
        return node

    def tick_call(at):
        return located(Call(func=located(Constant(value=NEXT_PH), at), args=[located(Constant(value=TICK_PH), at)], keywords=[]), at)

    def tick_stmt(at):
        return located(Expr(value=tick_call(at)), at)

    def is_docstring(stmt):
        return _type(stmt) is Expr and _type(stmt.value) is Constant and _type(stmt.value.value) is str

    def transform(tree):
        for node in walk(tree):
            t = _type(node)
            if t in FUNCS:
                body = node.body
                at = 1 if is_docstring(body[0]) else 0
                body.insert(at, tick_stmt(body[_min(at, _len(body) - 1)]))
            elif t in LOOPS:
                node.body.insert(0, tick_stmt(node.body[0]))
            elif t in COMPS:
                for gen in node.generators:
                    gen.ifs.insert(0, tick_call(gen.iter))
            elif t is Lambda:
                node.body = located(BoolOp(op=And(), values=[tick_call(node.body), node.body]), node.body)
            elif t in BODIES and node.body:
                body = node.body
                at = 1 if t is Module and is_docstring(body[0]) else 0
                while at < _len(body) and _type(body[at]) is ImportFrom and body[at].module == '__future__':
                    at += 1
                at_node = body[_min(at, _len(body) - 1)]
                if t is Module:
                    body.insert(at, tick_stmt(at_node))
                else:
                    # 'single' mode prints the value of expression statements
                    body.insert(at, located(If(test=tick_call(at_node), body=[located(Pass(), at_node)], orelse=[]), at_node))
        return tree

    def patch(code):
        out = []
        changed = False
        for c in code.co_consts:
            tc = _type(c)
            if tc is str and c == NEXT_PH:
                c, changed = _next, True
            elif tc is str and c == TICK_PH:
                c, changed = tick, True
            elif tc is CodeType:
                c2 = patch(c)
                if c2 is not c:
                    c, changed = c2, True
            out.append(c)
        return code.replace(co_consts=_tuple(out)) if changed else code

    def compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, *, _feature_version=-1):
        if flags & ONLY_AST:
            return real_compile(source, filename, mode, flags, dont_inherit, optimize, _feature_version=_feature_version)
        extra = FRESH_AST if _isinstance(source, AST) else ONLY_AST
        tree = real_compile(source, filename, mode, flags | extra, dont_inherit, optimize, _feature_version=_feature_version)
        transform(tree)
        with _catch_warnings():
            # A tick calls a str placeholder until patch() swaps it.
            _filterwarnings('ignore', "'str' object is not callable", SyntaxWarning)
            code = real_compile(tree, filename, mode, flags, dont_inherit, optimize)
        return patch(code)

    def caller_namespaces(globals, locals):
        if globals is None:
            frame = getframe(2)
            globals = frame.f_globals
            if locals is None:
                locals = frame.f_locals
                if _type(locals) is not _dict:
                    locals = _dict(locals)  # a function's locals: a snapshot, as exec() takes
        return globals, locals

    def exec(source, globals=None, locals=None, /, *, closure=None):
        if _isinstance(source, (str, bytes, bytearray, AST)):
            source = compile(source, '<string>', 'exec')
        globals, locals = caller_namespaces(globals, locals)
        if closure is None:
            return real_exec(source, globals, locals)
        return real_exec(source, globals, locals, closure=closure)

    def eval(source, globals=None, locals=None, /):
        if _isinstance(source, str):
            source = source.lstrip(' \t')
        elif _isinstance(source, (bytes, bytearray)):
            source = source.lstrip(b' \t')
        if _isinstance(source, (str, bytes, bytearray, AST)):
            source = compile(source, '<string>', 'eval')
        globals, locals = caller_namespaces(globals, locals)
        return real_eval(source, globals, locals)

    helpers = (compile, transform, walk, patch, located, tick_call, tick_stmt, is_docstring)
    helper_ids = frozenset(id(fn) for fn in helpers)
    # Every closure cell of the helpers with its value now (the cell tuples
    # are read once: __closure__ cannot be reassigned, only cell contents).
    cells = _tuple((c, c.cell_contents) for fn in helpers for c in fn.__closure__ or ())
    framed = {}
    for event, fn in (('compile', compile), ('code.__new__', patch)):
        framed[event] = (fn.__code__, _tuple(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__))))

    def guard(event, frame, args=()):
        if event == 'object.__setattr__' or event == 'object.__delattr__':
            # __code__, __defaults__, ... of the helpers stay as they are.
            return not (args and id(args[0]) in helper_ids)
        entry = framed.get(event)
        if entry is None or frame.f_code is not entry[0]:
            return False
        fl = frame.f_locals
        for name, value in entry[1]:
            if fl[name] is not value:
                return False
        for c, value in cells:
            if c.cell_contents is not value:
                return False
        return True

    return compile, exec, eval, guard
