/* encrypted_column 0.2.0 -> 0.3.0 */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit
