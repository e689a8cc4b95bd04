// The wire format is defined once in native/protocol/gilwatch_protocol.h; server/protocol.ts
// mirrors it. This proves the two agree, constant by constant and offset by offset, using
// the layout the native addon was compiled with. Likewise for the GIL's range names
// (gil_names.h) and the columns of the views' flat rows (native/protocol/view_layout.h,
// mirrored in server/shared/views.ts).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { decodeErrorCodes } from '../server/errors'
import * as gilNames from '../server/gil-names'
import * as protocol from '../server/protocol'
import { loadAddon } from '../server/store'
import * as views from '../server/shared/views'

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

// GW_FRAME_HELLO -> FrameType.HELLO, GW_MAX_DOMAINS -> MAX_DOMAINS, ...
const constantGroups: Array<[string, Record<string, number>]> = [
  ['GW_FRAME_', protocol.FrameType],
  ['GW_STRING_', protocol.StringKind],
  ['GW_RECORD_', protocol.RecordKind],
  ['GW_PAYLOAD_', protocol.PayloadType],
  ['GW_FLAG_', protocol.RecordFlag],
  ['GW_CAUSE_', protocol.CauseFlag],
  ['GW_STATUS_', protocol.StatusFlag],
  ['GW_OPEN_', protocol.OpenKind]
]
const plainConstants: Record<string, number> = {
  GW_PROTOCOL_MAGIC: protocol.MAGIC,
  GW_PROTOCOL_VERSION: protocol.VERSION,
  GW_MAX_FRAME_BODY: protocol.MAX_FRAME_BODY,
  GW_FRAME_ALIGN: protocol.FRAME_ALIGN,
  GW_MAX_DOMAINS: protocol.MAX_DOMAINS,
  GW_MAX_STRINGS: protocol.MAX_STRINGS,
  GW_MAX_THREADS: protocol.MAX_THREADS,
  GW_MAX_STRING_BYTES: protocol.MAX_STRING_BYTES,
  GW_DEFAULT_DOMAIN: protocol.DEFAULT_DOMAIN,
  GW_NO_MESSAGE: protocol.NO_MESSAGE,
  GW_MAX_TOKEN_BYTES: protocol.MAX_TOKEN_BYTES,
  GW_RETIRED_THREADS: protocol.RETIRED_THREADS,
  GW_GIL_SLOTS: protocol.GIL_SLOTS,
  GW_DURATION_BUCKETS: protocol.DURATION_BUCKETS,
  GW_STATE_GILS: protocol.STATE_GILS,
  GW_STATE_OPEN: protocol.STATE_OPEN,
  GW_CAUSE_SYSCALLS: protocol.CAUSE_SYSCALLS,
  GW_CAUSE_OTHERS: protocol.CAUSE_OTHERS,
  GW_CAUSE_FRAMES: protocol.CAUSE_FRAMES,
  GW_STACK_WALK_LIMIT: protocol.STACK_WALK_LIMIT,
  GW_SYSCALL_NONE: protocol.SYSCALL_NONE,
  GW_SYSCALL_UNKNOWN: protocol.SYSCALL_UNKNOWN,
  GW_SYSCALL_GIL_WAIT: protocol.SYSCALL_GIL_WAIT
}

test('server/protocol.ts agrees with gilwatch_protocol.h', () => {
  const native = loadAddon().protocolLayout()
  let checked = 0
  for (const [name, value] of Object.entries(native)) {
    if (['durationBucketsSeconds', 'gilNames', 'decodeErrors', 'nativeOnly'].includes(name)) continue // not numbers: checked below
    if (/^gw_\w+\.reserved\d*$/.test(name)) continue // no meaning: protocol.ts encodes zeros
    let mirrored: number | undefined
    if (name.startsWith('sizeof_gw_')) {
      mirrored = (protocol.layout as any)[camel(name.slice('sizeof_gw_'.length))]?.size
    } else if (name.startsWith('gw_')) {
      const [struct, field] = name.slice(3).split('.')
      mirrored = (protocol.layout as any)[camel(struct)]?.[camel(field)]
    } else if (name in plainConstants) {
      mirrored = plainConstants[name]
    } else {
      const group = constantGroups.find(([prefix]) => name.startsWith(prefix))
      assert.ok(group, `${name} has no TypeScript mirror`)
      mirrored = group[1][name.slice(group[0].length)]
    }
    assert.equal(mirrored, value, `${name}: C says ${value}, TypeScript says ${mirrored}`)
    checked++
  }
  assert.ok(checked > 60, `checked ${checked} items`)
  // And every TypeScript layout entry exists on the C side.
  for (const [struct, fields] of Object.entries(protocol.layout)) {
    for (const field of Object.keys(fields)) {
      const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
      const key = field === 'size' ? `sizeof_gw_${snake(struct)}` : `gw_${snake(struct)}.${snake(field)}`
      assert.ok(key in native, `${key} is in protocol.ts but not in the C header`)
    }
  }
})

test('every number of gilwatch_protocol.h is in one of its lists: none escapes the check above', () => {
  const native = loadAddon().protocolLayout() as unknown as Record<string, unknown> & { nativeOnly: string[] }
  const header = fs.readFileSync(path.join(__dirname, '..', '..', 'native', 'protocol', 'gilwatch_protocol.h'), 'utf8')
  // Object-like #defines whose value is a number or an expression, and enumerators X(NAME, value).
  const defined = [
    ...[...header.matchAll(/^#define (GW_[A-Z0-9_]+)[ \t]+[-(0-9G]/gm)].map((m) => m[1]),
    ...[...header.matchAll(/X\((GW_[A-Z0-9_]+), -?\d+\)/g)].map((m) => m[1])
  ]
  assert.deepEqual([...header.matchAll(/^\s*(GW_[A-Z0-9_]+) = /gm)].map((m) => m[1]), [], 'enumerators are written as X-macro lists')
  const enumerated = [...header.matchAll(/^enum \w+ \{ (GW_[A-Z_]+)\(GW_ENUMERATOR\) \};$/gm)].length
  assert.ok(defined.length > 50 && enumerated >= 8, `found ${defined.length} numbers and ${enumerated} enumerations`)
  const unlisted = defined.filter((name) => !(name in native) && !native.nativeOnly.includes(name))
  assert.deepEqual(unlisted, [], 'add each to GW_WIRE_NUMBERS (and server/protocol.ts) or GW_NATIVE_NUMBERS')
  for (const name of native.nativeOnly) assert.ok(defined.includes(name), `${name} is listed but not defined`)
  // Every enumeration of the header is a list the addon exports whole.
  const enums = [...header.matchAll(/^enum \w+ \{ (GW_[A-Z_]+)\(GW_ENUMERATOR\) \};$/gm)].map((m) => m[1])
  const wireEnums = /#define GW_WIRE_ENUMS\(X\)((?:.*\\\n)*.*)/.exec(header)![1]
  for (const list of enums.filter((e) => e !== 'GW_SHARED_STATES')) assert.ok(wireEnums.includes(`${list}(X)`), `${list} is not in GW_WIRE_ENUMS`)
})

test('server/gil-names.ts agrees with gil_names.h', () => {
  const native = (loadAddon().protocolLayout() as unknown as { gilNames: Record<string, string> }).gilNames
  const mirrored: Record<string, string> = Object.fromEntries(
    Object.entries(gilNames).map(([name, value]) => [`GW_${name}`, value as string]))
  assert.deepEqual(mirrored, native)
  assert.equal(Object.keys(native).length, 4)
  // The NVTX GIL patch is compiled inside CPython's tree, where it spells the names itself
  // (changing its text would rebuild every cached interpreter): it must spell them the same.
  const patchHeader = fs.readFileSync(path.join(__dirname, '..', '..', 'native', 'cpython', 'gil_nvtx.h'), 'utf8')
  const spelled = [...patchHeader.matchAll(/nvtxDomain(?:Create|RegisterString)A\((?:domain, )?"([^"]+)"\)/g)].map((m) => m[1])
  assert.deepEqual(spelled, [native.GW_GIL_DOMAIN, native.GW_GIL_WAITING, native.GW_GIL_HOLDING, native.GW_GIL_DROP_REQUEST])
})

test('decode error codes: server/errors.ts and docs/protocol.md agree with decode_errors.h', () => {
  const native = (loadAddon().protocolLayout() as unknown as { decodeErrors: string[] }).decodeErrors
  assert.deepEqual([...decodeErrorCodes], native)
  const docs = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'protocol.md'), 'utf8')
  const documented = [...docs.matchAll(/^\| `([a-z_]+)` +\|/gm)].map((m) => m[1]).filter((code) => native.includes(code))
  assert.deepEqual(documented, native, 'docs/protocol.md lists every code, in the header\'s order')
})

test('server/shared/views.ts column tables agree with view_layout.h', () => {
  const native = loadAddon().viewLayout()
  // Whole tables: a column added, removed, renamed or moved on either side fails here.
  assert.deepEqual({ ...views.TimelineItem }, native.timelineItem)
  assert.deepEqual({ ...views.LaneKind }, native.laneKind)
  assert.deepEqual({ ...views.SeriesColumn }, native.seriesColumn)
  assert.equal(views.TIMELINE_ITEM_FIELDS, native.timelineItemFields)
  assert.equal(views.SERIES_COLUMNS, native.seriesColumns)
  assert.equal(views.TIMELINE_KIND_MASK, native.timelineKindMask)
  assert.equal(views.TIMELINE_OPEN, native.timelineOpen)
  // Each table numbers its columns 0..n-1 and says how many there are.
  for (const [table, count] of [[native.timelineItem, native.timelineItemFields], [native.seriesColumn, native.seriesColumns]] as const) {
    assert.deepEqual(Object.values(table).sort((a, b) => a - b), [...Array(count).keys()])
  }
})
