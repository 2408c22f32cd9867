/* encrypted_column_migrate 0.3.1 -> 0.4.0 */

\echo Use "ALTER EXTENSION encrypted_column_migrate UPDATE" to load this file. \quit

-- The version follows encrypted_column's.  0.4.0 changes no object of this
-- extension (stored keys are encrypted_column's own); this script exists so
-- that ALTER EXTENSION encrypted_column_migrate UPDATE reaches 0.4.0.
