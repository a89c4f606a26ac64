DROP TABLE contact_list_members;
DROP TABLE contact_lists;
