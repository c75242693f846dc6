/**
 * JSON state files in state_dir (NetFlow/IPFIX templates now, cloud poll checkpoints later).
 * Writes are atomic (temp file, fsync, rename, fsync of the folder) so a crash leaves the old file or
 * the new one; a file that does not parse is renamed aside and reported, never fatal. Temp files left
 * by a writer that was killed are removed at load.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface StateLoadResult<T> {
  data: T | undefined;
  /** Set when a corrupt file was moved aside: where it went and why. */
  corrupt?: { movedTo: string; reason: string };
}

export class StateFile<T> {
  readonly file: string;
  private readonly kind: string;
  private readonly version: number;

  constructor(dir: string, name: string, kind: string, version = 1) {
    this.file = path.join(dir, name);
    this.kind = kind;
    this.version = version;
  }

  async load(): Promise<StateLoadResult<T>> {
    await this.removeStaleTemps();
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { data: undefined };
      throw new Error(`cannot read state file ${this.file}: ${(err as Error).message}`);
    }
    try {
      const doc = JSON.parse(text) as { kind?: unknown; version?: unknown; data?: unknown };
      if (doc === null || typeof doc !== 'object' || doc.kind !== this.kind) throw new Error(`not a ${this.kind} state file`);
      if (doc.version !== this.version) throw new Error(`state version ${String(doc.version)}, expected ${this.version}`);
      return { data: doc.data as T };
    } catch (err) {
      const movedTo = `${this.file}.corrupt-${Date.now()}`;
      await rename(this.file, movedTo).catch(() => undefined);
      return { data: undefined, corrupt: { movedTo, reason: (err as Error).message } };
    }
  }

  async save(data: T): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify({ kind: this.kind, version: this.version, savedAt: new Date().toISOString(), data }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    // The rename is durable only once the folder entry is on disk.
    const dir = await open(path.dirname(this.file), 'r');
    try {
      await dir.sync();
    } catch {
      // Some filesystems refuse fsync on a folder; the rename still happened.
    } finally {
      await dir.close();
    }
  }

  /** Deletes `<file>.tmp-<pid>` files of writers that died before their rename. */
  private async removeStaleTemps(): Promise<void> {
    const base = `${path.basename(this.file)}.tmp-`;
    let names: string[];
    try {
      names = await readdir(path.dirname(this.file));
    } catch {
      return;
    }
    for (const n of names) {
      if (n.startsWith(base) && n !== `${base}${process.pid}`) await unlink(path.join(path.dirname(this.file), n)).catch(() => undefined);
    }
  }
}
