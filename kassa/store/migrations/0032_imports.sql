-- `kassa import` (kassa/imports/): each imported row's key (an `external_id` column, or a
-- product's chosen `id`) and the object it made, so that importing the same file again
-- creates nothing twice, and a later file names an earlier file's objects by their keys
-- (`product_external_id` in a prices file). Written in the unit of work that creates the
-- object; an account reset clears it with the objects.
CREATE TABLE imported_objects (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind, external_id)
);
