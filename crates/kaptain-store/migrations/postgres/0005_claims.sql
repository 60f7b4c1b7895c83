-- The store's named, expiring holds are claims (a Kubernetes Lease is another thing):
-- the table follows the name. Keep in step with the other backend's file.
ALTER TABLE leases RENAME TO claims;
