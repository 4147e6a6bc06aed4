import { PGlitePool } from 'typeorm-pglite/dist/pglite-pool';

type ConnectCallback = Parameters<PGlitePool['connect']>[0];

/**
 * PGlite is one database session. typeorm-pglite's pool hands that session to every caller at
 * once, so concurrent transactions would interleave inside one session: row locks would not
 * wait and one COMMIT would commit another's half-done work. This pool lends the session to one
 * holder at a time (first come, first served) until it is released, which is what a Postgres
 * pool of size one does. Code holding a transaction must not wait on a second query of its own.
 */
export class ExclusivePGlitePool extends PGlitePool {
  private readonly waiting: ConnectCallback[] = [];
  private busy = false;

  override async connect(callback: ConnectCallback): Promise<void> {
    this.waiting.push(callback);
    this.lendNext();
  }

  private lendNext(): void {
    if (this.busy) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.busy = true;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.busy = false;
      setImmediate(() => this.lendNext());
    };
    void super.connect((error, client) => {
      if (error) release();
      next(error, client, error ? () => undefined : release);
    });
  }
}
