// An index of hosts for placement: a segment tree over hosts in id order whose nodes keep the best score
// of their subtree. A host that cannot take the VMs the index is for holds no score (-Infinity), so the
// best host is found by descending from the root (about log(hosts) steps instead of a scan of every
// host), and a host's change (a VM charged to it) updates one path of the tree. Hosts refused by a
// per-VM check (exclusions) are skipped by a pruned search that keeps the same tie rule.

export interface IndexHit {
  /** Position of the host in the index (its rank in id order among the indexed hosts). */
  pos: number;
  score: number;
}

const NONE = Number.NEGATIVE_INFINITY;

export class HostIndex {
  private readonly size: number;
  private readonly score: Float64Array;

  constructor(readonly length: number) {
    let size = 1;
    while (size < length) size *= 2;
    this.size = size;
    this.score = new Float64Array(2 * size).fill(NONE);
  }

  /** Sets a host's score; -Infinity takes it out (it cannot take these VMs). */
  set(pos: number, score: number): void {
    const t = this.score;
    let i = pos + this.size;
    if (t[i] === score) return;
    t[i] = score;
    for (i >>= 1; i >= 1; i >>= 1) {
      const m = Math.max(t[2 * i]!, t[2 * i + 1]!);
      if (t[i] === m) break;
      t[i] = m;
    }
  }

  /**
   * The host with the highest score (ties: the lowest position) that `accept` takes, or undefined when
   * none does. Without `accept`, one descent from the root.
   */
  best(accept?: (pos: number) => boolean): IndexHit | undefined {
    const t = this.score;
    if (t[1] === NONE) return undefined;
    if (!accept) {
      let i = 1;
      while (i < this.size) i = t[2 * i]! >= t[2 * i + 1]! ? 2 * i : 2 * i + 1;
      return { pos: i - this.size, score: t[i]! };
    }
    let bestPos = -1;
    let bestScore = NONE;
    const stack: number[] = [1];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const s = t[node]!;
      if (s === NONE || s < bestScore) continue;
      if (node >= this.size) {
        const pos = node - this.size;
        if (s === bestScore && pos > bestPos) continue;
        if (accept(pos)) {
          bestPos = pos;
          bestScore = s;
        }
        continue;
      }
      // a subtree whose best equals the best found can only win on a lower position
      if (s === bestScore && this.firstPos(node) > bestPos) continue;
      const l = 2 * node;
      // the better child first (the left one on equal scores): pushed last, popped first
      if (t[l + 1]! > t[l]!) stack.push(l, l + 1);
      else stack.push(l + 1, l);
    }
    return bestPos < 0 ? undefined : { pos: bestPos, score: bestScore };
  }

  /** The first leaf position under a node. */
  private firstPos(node: number): number {
    let n = node;
    while (n < this.size) n *= 2;
    return n - this.size;
  }
}
