import type Database from 'better-sqlite3';

/**
 * The statements of a connection, each prepared on first use (a read-only
 * store never prepares the writing ones) and read with 64-bit integers as
 * bigint. Returns the function that gives the statement of a SQL text.
 */
export function statementsOf(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql).safeIntegers(true);
      statements.set(sql, statement);
    }
    return statement;
  };
}
