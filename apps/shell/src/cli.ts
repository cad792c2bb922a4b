import { resolve } from 'node:path'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import type { ShellBackend } from './backend.ts'
import type { CommandContext, ExitCode } from './command-context.ts'
import { describeError, exitCodeFor } from './errors.ts'
import { createOutput } from './output.ts'
import type { Output } from './output.ts'
import { NO_PROGRESS } from './progress.ts'
import type { ShellIO } from './shell-io.ts'
import { writeTranscript } from './transcript.ts'

/** The CLI's version, printed by `--version`. */
export const SHELL_VERSION = '0.1.0'

type Impl = (ctx: CommandContext, args: string[], opts: Record<string, unknown>) => Promise<ExitCode>
type Loader = () => Promise<Impl>

/** Parses a non-negative integer option or argument; commander turns the error into a usage error. */
export function parseCount (value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('Not a non-negative integer')
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('Integer is too large')
  return n
}

/** Collects a comma-separated and/or repeated option into a list. */
export function parseList (value: string, previous: string[] | undefined): string[] {
  const items = value.split(',').map(s => s.trim()).filter(s => s.length > 0)
  return [...(previous ?? []), ...items]
}

interface RunState { exitCode: ExitCode, command: string | undefined, args: string[], opts: Record<string, unknown> }

/**
 * Runs one `os2` invocation and resolves to its exit code. Never throws: every
 * error is printed as `error <CODE>: message` (or `{ "error": … }` with `--json`)
 * on stderr.
 */
export async function runCli (argv: readonly string[], io: ShellIO, loadBackend: () => Promise<ShellBackend>): Promise<number> {
  const started = io.now()
  const jsonFlag = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length).includes('--json')
  const out = createOutput(io, jsonFlag)
  const state: RunState = { exitCode: 0, command: undefined, args: [], opts: {} }
  let dataDir = resolve(io.cwd, io.envDataDir ?? '.os2')

  const program = new Command('os2')
  program
    .description('OS2 shell: an embedded deterministic kernel on a data dir')
    .version(SHELL_VERSION, '-V, --version')
    .addOption(new Option('--data-dir <dir>', 'data dir (env OS2_DATA_DIR, default ./.os2)'))
    .option('--json', 'print one machine-readable JSON document instead of tables')
    .option('--attach <multiaddr>', 'run the command on a node over libp2p (/os2/kernel/1.0.0) instead of the embedded kernel')
    .option('--key <file>', 'the shell key for --attach and whoami (default <data-dir>/shell.key, created on first use)')
    .addHelpText('after', '\nExit codes: 0 success, 1 the operation failed or a verification found a problem, 2 bad usage.\nErrors: one line on stderr, "error <CODE>: message". Reference: docs/cli.md')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => out.write(s),
      writeErr: (s) => out.error(s),
      outputError: () => {}
    })

  const define = (name: string, description: string, load: Loader): Command => {
    const cmd = program.command(name).description(description)
    cmd.action(async (...received: unknown[]) => {
      const self = received[received.length - 1] as Command
      const opts = self.optsWithGlobals<Record<string, unknown>>()
      if (typeof opts.dataDir === 'string') dataDir = resolve(io.cwd, opts.dataDir)
      state.command = name
      state.args = self.args
      state.opts = opts
      const backend = typeof opts.attach === 'string'
        ? (await import('./attach-backend.ts')).createAttachBackend({
            address: opts.attach,
            keyFile: (await import('./attach-backend.ts')).shellKeyPath(io.cwd, dataDir, opts.key),
            local: loadBackend
          })
        : await loadBackend()
      const ctx: CommandContext = {
        io,
        out,
        backend,
        dataDir,
        progress: async (label, total) => (io.stdout.isTTY && !out.json) ? await io.progress(label, total) : NO_PROGRESS
      }
      const impl = await load()
      state.exitCode = await impl(ctx, self.args, opts)
    })
    return cmd
  }

  define('init', 'create a data dir: node key, genesis, empty ledger', async () => (await import('./commands/init.ts')).initCommand)
    .option('--seed <seed>', 'genesis seed (different seeds give different ledgers)', '0')
    .option('--limits <file>', 'CapabilityLimits.toml to take defaults from')

  define('submit', 'submit a token (from flags or --json-request), run the scheduler until idle, print its outcome', async () => (await import('./commands/submit.ts')).submitCommand)
    .option('--id <id>', 'token id (default: a random id)')
    .option('--capability <id>', 'capability to invoke, e.g. kernel.state.put')
    .option('--args <json>', 'capability arguments as JSON', '{}')
    .option('--priority <n>', 'priority 0-1000 (higher runs first)', parseCount)
    .option('--after <ids>', 'token ids this one runs after (comma-separated, repeatable)', parseList)
    .option('--budget-tokens <n>', 'token budget', parseCount)
    .option('--budget-memory <n>', 'memory budget (bytes)', parseCount)
    .option('--budget-network <n>', 'network budget (bytes)', parseCount)
    .option('--budget-wall-ms <n>', 'wall-clock budget (ms)', parseCount)
    .option('--principal <id>', 'principal the token acts for (default: the operator)')
    .option('--tag <tag>', 'free-form tag')
    .option('--json-request <file>', 'a KernelToken or protocol request as JSON, from a file or - for stdin')
    .option('--no-run', 'submit only; do not run the scheduler')

  define('cancel', 'cancel a token', async () => (await import('./commands/submit.ts')).cancelCommand)
    .argument('<tokenId>', 'token to cancel')
    .option('--reason <text>', 'reason recorded in the ledger')

  define('token-show', 'show a token and its outcome', async () => (await import('./commands/submit.ts')).tokenShowCommand)
    .argument('<tokenId>', 'token id')

  define('cap-list', 'list capabilities with limits and usage', async () => (await import('./commands/cap.ts')).capListCommand)

  define('cap-show', 'show one capability, its argument JSON Schema and its grants', async () => (await import('./commands/cap.ts')).capShowCommand)
    .argument('<id>', 'capability id')

  define('cap-grant', 'grant a capability to a principal', async () => (await import('./commands/cap.ts')).capGrantCommand)
    .requiredOption('--principal <id>', 'principal receiving the grant')
    .requiredOption('--capability <id>', 'capability id')
    .option('--namespaces <list>', 'state/memory namespaces (comma-separated, * = all)', parseList)
    .option('--hosts <list>', 'host allow-list (comma-separated, exact or *.suffix)', parseList)
    .option('--path-prefix <prefix>', 'path prefix for file-like capabilities')
    .option('--valid-from <tick>', 'first tick the grant is valid', parseCount)
    .option('--valid-until <tick>', 'first tick the grant is no longer valid', parseCount)

  define('cap-revoke', 'revoke a grant', async () => (await import('./commands/cap.ts')).capRevokeCommand)
    .argument('<grantId>', 'grant id')
    .option('--reason <text>', 'reason recorded in the ledger')

  define('grant-list', 'list grants', async () => (await import('./commands/cap.ts')).grantListCommand)

  define('ledger-inspect', 'print ledger events', async () => (await import('./commands/ledger.ts')).ledgerInspectCommand)
    .option('--since <hash>', 'only events after the event with this hash')
    .option('--from <seq>', 'only events with seq >= this', parseCount)
    .option('--limit <n>', 'at most this many events', parseCount)
    .option('--table', 'print a table (the default without --json)')
    .option('--follow', 'keep printing new events as the ledger grows, until SIGINT')
    .option('--interval-ms <ms>', 'polling interval for --follow', parseCount, 200)

  define('ledger-verify', 'verify the hash chain of the ledger files without repairing them', async () => (await import('./commands/ledger.ts')).ledgerVerifyCommand)
    .option('--replay', 'also re-execute the ledger from genesis in a scratch kernel and compare every hash')

  define('ledger-proof', 'inclusion proof of one event, verified against the Merkle root', async () => (await import('./commands/ledger.ts')).ledgerProofCommand)
    .argument('<seq>', 'event sequence number', parseCount)
    .option('--size <n>', 'tree size to prove against (default: the whole ledger)', parseCount)

  define('ledger-consistency', 'consistency proof between two ledger sizes', async () => (await import('./commands/ledger.ts')).ledgerConsistencyCommand)
    .argument('<old>', 'older tree size', parseCount)
    .argument('[new]', 'newer tree size (default: the whole ledger)', parseCount)

  define('snapshot-create', 'take a snapshot of the kernel state', async () => (await import('./commands/snapshot.ts')).snapshotCreateCommand)
    .option('--label <label>', 'label', '')

  define('snapshot-list', 'list snapshots', async () => (await import('./commands/snapshot.ts')).snapshotListCommand)

  define('snapshot-show', 'show a snapshot and its state', async () => (await import('./commands/snapshot.ts')).snapshotShowCommand)
    .argument('<id>', 'snapshot id (or a unique prefix)')

  define('snapshot-diff', 'deterministic state delta between two snapshots', async () => (await import('./commands/snapshot.ts')).snapshotDiffCommand)
    .argument('<a>', 'from snapshot')
    .argument('<b>', 'to snapshot')

  define('snapshot-replay', 'replay the ledger from a snapshot and check every hash', async () => (await import('./commands/snapshot.ts')).snapshotReplayCommand)
    .argument('<id>', 'snapshot id (or a unique prefix)')

  define('snapshot-auth', 'mint a signed token binding snapshot content and ledger head', async () => (await import('./commands/snapshot.ts')).snapshotAuthCommand)
    .argument('<id>', 'snapshot id (or a unique prefix)')

  define('snapshot-verify', 'verify a snapshot-auth token offline with only the public key', async () => (await import('./commands/snapshot.ts')).snapshotVerifyCommand)
    .argument('<token>', 'the token (or - to read it from stdin)')
    .option('--public-key <key>', 'node public key, base64url or hex (default: the data dir key)')

  define('kernel-ready-flag', 'mark a snapshot ready (or list ready flags)', async () => (await import('./commands/snapshot.ts')).readyFlagCommand)
    .option('--set <id>', 'snapshot to flag ready')

  define('scenario-run', 'run a scenario file deterministically and print the ledger head', async () => (await import('./commands/scenario.ts')).scenarioRunCommand)
    .argument('<file>', 'scenario JSON file (see docs/cli.md#scenarios)')
    .option('--fresh', 'initialise the data dir from the scenario seed when none exists')

  // ---- Python (issue 3): docs/cli.md#python
  const pythonLimits = (cmd: Command): Command => cmd
    .option('--token-budget <n>', 'token budget of the run (Python units + kernel work; default 10000000)', parseCount)
    .option('--tag <tag>', 'free-form tag recorded on the token')
    .option('--memory-limit-mb <n>', 'memory limit of the session process (default 1024)', parseCount)
    .option('--wall-ms <n>', 'wall-clock limit of the run (default 60000)', parseCount)

  pythonLimits(define('python', 'run a Python script in the sandbox as one python.exec token (output streams live)', async () => (await import('./commands/python.ts')).pythonCommand)
    .argument('<script>', 'script file (- for stdin)')
    .argument('[args...]', 'sys.argv[1:] (put -- before arguments that start with -)'))

  pythonLimits(define('pyx', 'evaluate one Python expression and print its repr', async () => (await import('./commands/python.ts')).pyxCommand)
    .argument('<expr>', 'Python expression'))

  pythonLimits(define('pyvm', 'pyvm run <module>: run an installed module as python -m does', async () => (await import('./commands/python.ts')).pyvmCommand)
    .argument('<action>', 'run')
    .argument('<module>', 'module name, e.g. from an installed wheel')
    .argument('[args...]', 'sys.argv[1:]'))

  define('pip', 'pip install <wheel | URL | name>: install a pure-Python wheel (SHA-256 recorded)', async () => (await import('./commands/pip.ts')).pipCommand)
    .argument('<action>', 'install')
    .argument('<target>', 'wheel file, wheel URL, or project name')
    .option('--sha256 <hex>', 'expected SHA-256 of the wheel')
    .option('--find-links <dir>', 'local folder of wheels to look a project name up in')
    .option('--index-url <url>', 'PEP 503 simple index (its host must be granted to pip.install)')

  define('module', 'module mount <file.wasm> --as NAME: mount a WASM sidecar for os2.modules.NAME', async () => (await import('./commands/module.ts')).moduleCommand)
    .argument('<action>', 'mount')
    .argument('<file>', '.wasm file')
    .option('--as <name>', 'name Python sees (os2.modules.<name>)')
    .option('--sha256 <hex>', 'expected SHA-256 of the module')

  define('doctor', 'what isolation Python sessions get on this machine; Pyodide version; snapshot cache', async () => (await import('./commands/doctor.ts')).doctorCommand)

  // ---- memories and federation (issue 4): docs/cli.md#memory
  define('memory', 'kv get|put|delete, episodic append|list, vector upsert|search, log, show: one memory capability as one token', async () => (await import('./commands/memory.ts')).memoryCommand)
    .argument('<kind>', 'kv, episodic or vector (or log / show)')
    .argument('[action]', 'get|put|delete, append|list, upsert|search (for log / show: the memory kind)')
    .argument('[args...]', 'namespace, then key/value, event(s), id and vector, or query vector')
    .option('--principal <id>', 'principal the token acts for (default: the operator)')
    .option('--at <commit>', 'show: the memory right after this commit')
    .option('--metadata <json>', 'vector upsert: metadata JSON')
    .option('--k <n>', 'vector search: number of hits', parseCount)
    .option('--from <n>', 'episodic list: first index', parseCount)
    .option('--limit <n>', 'episodic list / log: at most this many', parseCount)

  define('federation', 'federation status|peers, or serve --listen <multiaddr> --peer <multiaddr>: run this node\'s federation until SIGTERM', async () => {
    const m = await import('./commands/federation.ts')
    return async (ctx, args, opts) => {
      const action = args[0]
      if (action === 'status') return await m.federationStatusCommand(ctx)
      if (action === 'peers') return await m.federationPeersCommand(ctx)
      if (action === 'serve') return await m.federationServeCommand(ctx, args.slice(1), opts)
      throw new InvalidArgumentError(`Unknown federation action ${JSON.stringify(action)}: expected status, peers or serve`)
    }
  })
    .argument('<action>', 'status, peers or serve')
    .option('--listen <multiaddr>', 'serve: listen address (repeatable; default /ip4/127.0.0.1/tcp/0)', parseList)
    .option('--peer <multiaddr>', 'serve: bootstrap peer with /p2p/<peer id> (repeatable)', parseList)
    .option('--interval-ms <ms>', 'serve: anti-entropy interval', parseCount)

  // ---- attach (issue 5): docs/attach.md
  define('whoami', 'print the shell key\'s principal id (its libp2p peer id) for an operator.attach grant', async () => (await import('./commands/whoami.ts')).whoamiCommand)

  // ---- NATS event fan-out (issue 5): docs/internals/nats.md
  define('events', 'StreamEvents over NATS: every node\'s ledger events from --since, chain re-verified (--follow keeps reading)', async () => (await import('./commands/events.ts')).eventsCommand)
    .requiredOption('--nats <url>', 'NATS server URL (repeatable or comma-separated)', parseList)
    .requiredOption('--cluster <name>', 'cluster name (os2.<cluster>.events.<node>)')
    .option('--node <name>', 'node to read (repeatable; default: every node with a stream)', parseList)
    .option('--since <seq>', 'first ledger seq (default 0)', parseCount)
    .option('--follow', 'keep reading new events until Ctrl-C')

  define('repl', 'read commands from stdin, one per line, and run them (attached with --attach); alias: shell', async () => (await import('./commands/repl.ts')).replCommand)
    .alias('shell')

  try {
    if (argv.length === 0) {
      out.error(program.helpInformation())
      throw new CommanderError(2, 'commander.missingCommand', 'No command given')
    }
    await program.parseAsync(argv as string[], { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        state.exitCode = 0
      } else {
        state.exitCode = 2
        reportError(out, 'USAGE', err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim())
      }
    } else {
      const { code, message } = describeError(err)
      state.exitCode = exitCodeFor(code)
      reportError(out, code, message)
    }
  }

  await writeTranscript(dataDir, {
    started,
    finished: io.now(),
    argv: [...argv],
    command: state.command,
    exitCode: state.exitCode,
    output: out.summary()
  }).catch(() => undefined)
  return state.exitCode
}

/** Prints `error <CODE>: message`, or `{ "error": { code, message } }` with `--json`, on stderr. */
export function reportError (out: Output, code: string, message: string): void {
  if (out.json) out.error(JSON.stringify({ error: { code, message } }) + '\n')
  else out.error(`error ${code}: ${message}\n`)
}
