/* encrypted_column_migrate 0.4.0 -> 0.5.0 */

\echo Use "ALTER EXTENSION encrypted_column_migrate UPDATE" to load this file. \quit

-- The version follows encrypted_column's.  0.5.0 changes no object of this
-- extension (the typed types and search terms are encrypted_column's own);
-- this script exists so that ALTER EXTENSION encrypted_column_migrate
-- UPDATE reaches 0.5.0.
