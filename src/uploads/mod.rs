//! Uploads apart from HTTP: what a file may be (GLB models, media), counting a GLB's JSON
//! before it is parsed, where files are stored, and taking a checked upload in.

pub(crate) mod intake;
pub(crate) mod json_budget;
pub mod media;
pub mod models;
pub(crate) mod storage;
