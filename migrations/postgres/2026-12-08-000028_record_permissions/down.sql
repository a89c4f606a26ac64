-- The grants stay: a profile may have been given them on purpose since.
SELECT 1;
