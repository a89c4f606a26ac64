DROP TABLE terms_acceptances;
DROP TABLE org_microsoft;
DROP TABLE microsoft_sign_ins;
DROP TABLE microsoft_identities;
