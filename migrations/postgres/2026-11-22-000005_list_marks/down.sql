DROP TABLE list_marks;
