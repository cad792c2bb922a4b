import type { Kernel, KernelResponse, TokenState } from '@os2/kernel'
import { ShellError } from './errors.ts'
import { isRecord } from './read-json.ts'

/**
 * A scenario file (docs/cli.md#scenarios):
 * `{ "description"?, "seed"?, "steps": [ { "name"?, "request", "expect"? } ] }`.
 * Requests are protocol requests passed to the kernel as they are, so a
 * scenario can also exercise rejections.
 */
export interface Scenario {
  description?: string
  seed?: string
  steps: ScenarioStep[]
}

export interface ScenarioStep {
  name?: string
  request: unknown
  expect?: StepExpectation
}

export interface StepExpectation {
  disposition?: KernelResponse['disposition']
  /** The response's error code, or for an accepted SubmitToken the token's error code once idle. */
  errorCode?: string
  tokenState?: TokenState
}

export interface StepReport {
  /** 1-based step number. */
  step: number
  name: string | null
  type: string
  disposition: KernelResponse['disposition']
  ledgerSeq: number
  errorCode: string | null
  tokenState: TokenState | null
  ok: boolean
  mismatches: string[]
}

export interface ScenarioReport {
  ok: boolean
  steps: StepReport[]
  ledger: { size: number, head: string, root: string }
  stateHash: string
}

const DISPOSITIONS = new Set(['accepted', 'rejected', 'queued'])
const TOKEN_STATES = new Set(['scheduled', 'running', 'completed', 'failed', 'cancelled'])
const STEP_KEYS = new Set(['name', 'request', 'expect'])
const EXPECT_KEYS = new Set(['disposition', 'errorCode', 'tokenState'])
const TOP_KEYS = new Set(['description', 'seed', 'steps'])

function invalid (where: string, message: string): ShellError {
  return new ShellError('SCENARIO_INVALID', `Invalid scenario at ${where}: ${message}`)
}

function checkKeys (value: Record<string, unknown>, allowed: Set<string>, where: string): void {
  for (const key of Object.keys(value)) if (!allowed.has(key)) throw invalid(where, `unknown field ${JSON.stringify(key)}`)
}

/**
 * Checks a parsed JSON value against the scenario format.
 *
 * @throws ShellError `SCENARIO_INVALID` naming the offending field
 */
export function parseScenario (value: unknown): Scenario {
  if (!isRecord(value)) throw invalid('$', 'expected an object with a "steps" array')
  checkKeys(value, TOP_KEYS, '$')
  const scenario: Scenario = { steps: [] }
  if (value.description !== undefined) {
    if (typeof value.description !== 'string') throw invalid('$.description', 'expected a string')
    scenario.description = value.description
  }
  if (value.seed !== undefined) {
    if (typeof value.seed === 'number' && Number.isSafeInteger(value.seed)) scenario.seed = String(value.seed)
    else if (typeof value.seed === 'string' && value.seed.length > 0 && value.seed.length <= 256) scenario.seed = value.seed
    else throw invalid('$.seed', 'expected a non-empty string or an integer')
  }
  if (!Array.isArray(value.steps)) throw invalid('$.steps', 'expected an array')
  value.steps.forEach((raw: unknown, i: number) => {
    const where = `$.steps[${i}]`
    if (!isRecord(raw)) throw invalid(where, 'expected an object')
    checkKeys(raw, STEP_KEYS, where)
    if (!('request' in raw)) throw invalid(where, 'missing "request"')
    const step: ScenarioStep = { request: raw.request }
    if (raw.name !== undefined) {
      if (typeof raw.name !== 'string') throw invalid(`${where}.name`, 'expected a string')
      step.name = raw.name
    }
    if (raw.expect !== undefined) {
      const e = raw.expect
      if (!isRecord(e)) throw invalid(`${where}.expect`, 'expected an object')
      checkKeys(e, EXPECT_KEYS, `${where}.expect`)
      const expect: StepExpectation = {}
      if (e.disposition !== undefined) {
        if (typeof e.disposition !== 'string' || !DISPOSITIONS.has(e.disposition)) throw invalid(`${where}.expect.disposition`, 'expected accepted, rejected or queued')
        expect.disposition = e.disposition as StepExpectation['disposition'] & string
      }
      if (e.errorCode !== undefined) {
        if (typeof e.errorCode !== 'string') throw invalid(`${where}.expect.errorCode`, 'expected a string')
        expect.errorCode = e.errorCode
      }
      if (e.tokenState !== undefined) {
        if (typeof e.tokenState !== 'string' || !TOKEN_STATES.has(e.tokenState)) throw invalid(`${where}.expect.tokenState`, 'expected scheduled, running, completed, failed or cancelled')
        expect.tokenState = e.tokenState as TokenState
      }
      step.expect = expect
    }
    scenario.steps.push(step)
  })
  return scenario
}

function submittedTokenId (request: unknown): string | undefined {
  if (!isRecord(request) || request.type !== 'SubmitToken' || !isRecord(request.token)) return undefined
  return typeof request.token.id === 'string' ? request.token.id : undefined
}

/**
 * Runs every step in order: hands the request to the kernel, runs the
 * scheduler until idle, then checks the step's expectations. Deterministic:
 * the result is a function of the genesis and the steps.
 */
export async function runScenario (kernel: Kernel, scenario: Scenario, onStep?: (done: number, total: number) => void): Promise<ScenarioReport> {
  const steps: StepReport[] = []
  for (const [i, step] of scenario.steps.entries()) {
    const response = await kernel.handle(step.request)
    await kernel.runUntilIdle()
    const tokenId = submittedTokenId(step.request)
    const status = tokenId !== undefined && response.disposition !== 'rejected' ? kernel.token(tokenId) : undefined
    const errorCode = response.error?.code ?? status?.error?.code ?? null
    const tokenState = status?.state ?? null
    const mismatches: string[] = []
    const expect = step.expect ?? {}
    if (expect.disposition !== undefined && expect.disposition !== response.disposition) {
      mismatches.push(`expected disposition ${expect.disposition}, got ${response.disposition}${response.error !== undefined ? ` (${response.error.code}: ${response.error.message})` : ''}`)
    }
    if (expect.errorCode !== undefined && expect.errorCode !== errorCode) {
      mismatches.push(`expected error code ${expect.errorCode}, got ${errorCode ?? 'none'}`)
    }
    if (expect.tokenState !== undefined && expect.tokenState !== tokenState) {
      mismatches.push(`expected token state ${expect.tokenState}, got ${tokenState ?? 'none'}${status?.error !== undefined ? ` (${status.error.code}: ${status.error.message})` : ''}`)
    }
    steps.push({
      step: i + 1,
      name: step.name ?? null,
      type: isRecord(step.request) && typeof step.request.type === 'string' ? step.request.type : '?',
      disposition: response.disposition,
      ledgerSeq: response.ledgerSeq,
      errorCode,
      tokenState,
      ok: mismatches.length === 0,
      mismatches
    })
    onStep?.(i + 1, scenario.steps.length)
  }
  return {
    ok: steps.every(s => s.ok),
    steps,
    ledger: { size: kernel.ledger.size, head: kernel.ledger.head, root: kernel.ledger.root() },
    stateHash: kernel.stateHash()
  }
}
