//! Operating a running store: housekeeping inside the server (analytics views, retention),
//! and moving spaces between installations (export/import; the store's own part of it is
//! [`crate::store`]'s transfer queries).

pub(crate) mod maintenance;
pub mod transfer;
