/* encrypted_column 0.3.0 -> 0.3.1: fixes from the second outside review */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit
