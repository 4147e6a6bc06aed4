import { DataSource } from 'typeorm';
import { createDataSource, migrate } from '../data-source.factory';
import { createTestDatabase } from './test-database';

/** A throwaway database on the real Postgres for one test file, migrated, with a data source open on it; `close()` closes that and drops the database. */
export async function createMigratedTestDatabase(prefix: string): Promise<{ url: string; dataSource: DataSource; close: () => Promise<void> }> {
  const db = await createTestDatabase(prefix);
  const dataSource = createDataSource({ url: db.url, dataDir: 'unused' });
  try {
    await dataSource.initialize();
    await migrate(dataSource);
  } catch (error) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await db.drop();
    throw error;
  }
  return {
    url: db.url,
    dataSource,
    close: async () => {
      await dataSource.destroy();
      await db.drop();
    },
  };
}
