DROP TABLE join_requests;
DROP TABLE invitations;
