-- PostgreSQL gathers planner statistics itself (autovacuum ANALYZE); nothing to seed.
SELECT 1;
