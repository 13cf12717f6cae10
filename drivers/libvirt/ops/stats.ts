// Bulk domain statistics (virConnectGetAllDomainStats): typed parameters decoded into plain objects.

import {
  koffi,
  type Ptr,
  TYPED_PARAM_FIELD_LENGTH,
  TYPED_PARAM_SIZE,
  VirDomainStatsRecordT,
  virt,
} from '../bindings.ts';
import { checkRc } from './check.ts';
import { domainName, domainUuid } from './domain.ts';

export type TypedValue = number | string | boolean;

export interface DomainStatsRecord {
  uuid: string;
  name: string;
  /** libvirt's flat keys, e.g. "state.state", "cpu.time", "block.0.rd.bytes", "net.0.rx.bytes". */
  params: Record<string, TypedValue>;
}

/** virTypedParameterType */
enum ParamType {
  Int = 1,
  UInt = 2,
  LLong = 3,
  ULLong = 4,
  Double = 5,
  Boolean = 6,
  String = 7,
}

/** Decodes `n` consecutive virTypedParameter structs at address `p`. */
export function decodeTypedParams(p: Ptr, n: number): Record<string, TypedValue> {
  const out: Record<string, TypedValue> = {};
  if (!p || n <= 0) return out;
  const view = new DataView(koffi.view(p, n * TYPED_PARAM_SIZE));
  const bytes = new Uint8Array(view.buffer);
  for (let i = 0; i < n; i++) {
    const base = i * TYPED_PARAM_SIZE;
    let end = base;
    while (end < base + TYPED_PARAM_FIELD_LENGTH && bytes[end] !== 0) end++;
    const field = Buffer.from(bytes.subarray(base, end)).toString('utf8');
    const type = view.getInt32(base + TYPED_PARAM_FIELD_LENGTH, true);
    const v = base + 88;
    switch (type) {
      case ParamType.Int:
        out[field] = view.getInt32(v, true);
        break;
      case ParamType.UInt:
        out[field] = view.getUint32(v, true);
        break;
      case ParamType.LLong:
        out[field] = Number(view.getBigInt64(v, true));
        break;
      case ParamType.ULLong:
        out[field] = Number(view.getBigUint64(v, true));
        break;
      case ParamType.Double:
        out[field] = view.getFloat64(v, true);
        break;
      case ParamType.Boolean:
        out[field] = view.getInt8(v) !== 0;
        break;
      case ParamType.String: {
        const s = view.getBigUint64(v, true);
        out[field] = s ? (koffi.decode(s, 'char', -1) as string) : '';
        break;
      }
      default:
        break;
    }
  }
  return out;
}

export function allDomainStats(conn: Ptr, stats: number, flags: number): DomainStatsRecord[] {
  const out: (bigint | null)[] = [null];
  const n = checkRc('virConnectGetAllDomainStats', virt.virConnectGetAllDomainStats(conn, stats, out, flags));
  const list = out[0];
  if (!list) return [];
  try {
    const recPtrs = (n > 0 ? koffi.decode(list, 'void *', n) : []) as bigint[];
    return recPtrs.map((rp) => {
      const rec = koffi.decode(rp, VirDomainStatsRecordT) as { dom: bigint; params: bigint; nparams: number };
      return {
        uuid: domainUuid(rec.dom),
        name: domainName(rec.dom),
        params: decodeTypedParams(rec.params, rec.nparams),
      };
    });
  } finally {
    virt.virDomainStatsRecordListFree(list);
  }
}
