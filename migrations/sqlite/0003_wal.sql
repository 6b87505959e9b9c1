-- no-transaction
-- Write-ahead logging: readers never wait for a writer nor a writer for readers, and a commit
-- appends to the log instead of rewriting pages. The mode is kept in the database file, so one
-- run sets it for every later connection (Spin opens one per component instance). Idempotent:
-- `spin up --sqlite @...` runs it at every start. (host-runner also sets it on every connection.)
PRAGMA journal_mode = WAL;
