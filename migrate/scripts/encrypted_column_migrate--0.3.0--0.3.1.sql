/* encrypted_column_migrate 0.3.0 -> 0.3.1 */

\echo Use "ALTER EXTENSION encrypted_column_migrate UPDATE" to load this file. \quit

-- The version follows encrypted_column's.  0.3.1 changes no object of this
-- extension: its install scripts now name every built-in object with its
-- schema, which only matters while they run.  This script exists so that
-- ALTER EXTENSION encrypted_column_migrate UPDATE reaches 0.3.1.
