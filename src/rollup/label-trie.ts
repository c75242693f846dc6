/**
 * Label sets indexed by a trie of their values (one Map level per label), so a lookup walks the
 * record's label strings without building a key string: no allocation for a label set already held.
 */
export type LabelTrie = Map<string, LabelTrie | number>;

/** The slot of `values[0..n)`, or -1. */
export function trieLookup(root: LabelTrie, values: readonly string[], n: number): number {
  let node: LabelTrie = root;
  const last = n - 1;
  for (let i = 0; i < last; i++) {
    const next = node.get(values[i]);
    if (next === undefined) return -1;
    node = next as LabelTrie;
  }
  const slot = node.get(values[last]);
  return slot === undefined ? -1 : (slot as number);
}

/** Stores `slot` for `values[0..n)`, creating the inner levels it needs. */
export function trieInsert(root: LabelTrie, values: readonly string[], n: number, slot: number): void {
  let node: LabelTrie = root;
  const last = n - 1;
  for (let i = 0; i < last; i++) {
    let next = node.get(values[i]) as LabelTrie | undefined;
    if (next === undefined) {
      next = new Map();
      node.set(values[i], next);
    }
    node = next;
  }
  node.set(values[last], slot);
}
