"""Contact imports: every file people really have, read by content, imported in bulk.

sniff        what the file is (by content) and whether it is safe to open
read_*       one reader per format: CSV/TSV, XLSX/XLS/ODS, vCard, JSON -> numbered rows
mapping      which column is the phone, the name...: aliases in English, Swahili, French
normalise    a row of cells -> a clean contact, or the reason it is rejected
upsert       a chunk of clean rows -> contacts, tags, groups, guardians (bulk statements)
pipeline     the above put together; services.py runs it for requests and for jobs
"""
