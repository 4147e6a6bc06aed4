import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `portolan_unchanged(unchanged, what)`: true when `unchanged` is, otherwise it raises a
 * serialization failure (SQLSTATE 40001) naming `what`. An optimistic write (the agent ingests
 * read without locks, decide, then write in one statement) checks with it, once it holds the
 * rows its decisions rest on, that they are still as it read them; when they are not, the
 * whole statement is undone and the caller decides again under the locks. Plain SQL has no way
 * to fail a statement on a condition.
 */
export class UnchangedCheck1765600000000 implements MigrationInterface {
  name = 'UnchangedCheck1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE FUNCTION portolan_unchanged(unchanged boolean, what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
       BEGIN
         IF unchanged IS NOT TRUE THEN
           RAISE EXCEPTION '% changed since it was read', what USING ERRCODE = 'serialization_failure';
         END IF;
         RETURN true;
       END $$`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION portolan_unchanged(boolean, text)`);
  }
}
