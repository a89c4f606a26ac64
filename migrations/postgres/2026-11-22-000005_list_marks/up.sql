-- How many rows of an org each block of 2048 sequence numbers holds, split over 8 slots so that
-- concurrent inserts rarely update the same row. Kept in the write transaction of every insert
-- and delete; a list page at offset k sums these counts to find the block holding its first row
-- instead of stepping over k index entries, and an unfiltered count is their sum.
CREATE TABLE list_marks (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    tbl TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (org_id, tbl, bucket, slot)
);

INSERT INTO list_marks (org_id, tbl, bucket, slot, n)
SELECT org_id, 'users', seq >> 11, seq & 7, COUNT(*) FROM users GROUP BY org_id, seq >> 11, seq & 7;
INSERT INTO list_marks (org_id, tbl, bucket, slot, n)
SELECT org_id, 'groups', seq >> 11, seq & 7, COUNT(*) FROM groups GROUP BY org_id, seq >> 11, seq & 7;
